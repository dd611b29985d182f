//! Every endpoint answers every bad request in its own envelope, with a stable code: the GraphQL
//! one (`{"errors": [{"message", "extensions": {"code"}}]}`) on `/v1/graphql`, Hasura's admin
//! one (`{"error", "path", "code"}`) everywhere else. Never actix's plain text, never the
//! other envelope.

use reqwest::Method;
use serde_json::Value;

use crate::harness::{Backend, TestDb, TestServer, on_both_backends};

on_both_backends!(every_endpoint_answers_bad_requests_in_its_own_envelope);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Envelope {
    Graphql,
    Admin,
}

/// One bad request and what it must get back.
struct Case {
    method: Method,
    path: &'static str,
    body: Option<Vec<u8>>,
    status: u16,
    envelope: Envelope,
    code: &'static str,
}

fn case(
    method: Method,
    path: &'static str,
    body: Option<&[u8]>,
    status: u16,
    envelope: Envelope,
    code: &'static str,
) -> Case {
    Case {
        method,
        path,
        body: body.map(<[u8]>::to_vec),
        status,
        envelope,
        code,
    }
}

/// The code in `body` if it is exactly in `envelope`'s shape.
fn code_in(envelope: Envelope, body: &Value) -> Option<&str> {
    match envelope {
        Envelope::Graphql => {
            let errors = body.get("errors")?.as_array()?;
            let [error] = errors.as_slice() else {
                return None;
            };
            error.get("message")?.as_str()?;
            if body.get("error").is_some() {
                return None;
            }
            error.get("extensions")?.get("code")?.as_str()
        }
        Envelope::Admin => {
            body.get("error")?.as_str()?;
            body.get("path")?.as_str()?;
            if body.get("errors").is_some() {
                return None;
            }
            body.get("code")?.as_str()
        }
    }
}

async fn every_endpoint_answers_bad_requests_in_its_own_envelope(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start_with(&db, |config| {
        config.limits.max_body_bytes = 1024;
        config.wasm.max_handler_bytes = 2048;
    })
    .await;
    let oversized = vec![b' '; 4096];
    let malformed: &[u8] = b"{\"type\": ";
    let event = "/v1/events/0190d5a4-0000-7000-8000-000000000000/redeliver";
    use Envelope::{Admin, Graphql};
    let cases = [
        // /v1/graphql
        case(
            Method::POST,
            "/v1/graphql",
            Some(malformed),
            400,
            Graphql,
            "invalid-json",
        ),
        case(
            Method::POST,
            "/v1/graphql",
            Some(&oversized),
            413,
            Graphql,
            "request-too-large",
        ),
        case(
            Method::PUT,
            "/v1/graphql",
            None,
            405,
            Graphql,
            "method-not-allowed",
        ),
        case(
            Method::DELETE,
            "/v1/graphql",
            None,
            405,
            Graphql,
            "method-not-allowed",
        ),
        case(
            Method::GET,
            "/v1/graphql",
            None,
            400,
            Graphql,
            "invalid-request",
        ),
        case(
            Method::GET,
            "/v1/graphql?query=mutation%20%7B%20x%20%7D",
            None,
            405,
            Graphql,
            "method-not-allowed",
        ),
        case(Method::POST, "/", None, 405, Graphql, "method-not-allowed"),
        // /v1/metadata
        case(
            Method::POST,
            "/v1/metadata",
            Some(malformed),
            400,
            Admin,
            "parse-failed",
        ),
        case(
            Method::POST,
            "/v1/metadata",
            Some(&oversized),
            413,
            Admin,
            "request-too-large",
        ),
        case(
            Method::GET,
            "/v1/metadata",
            None,
            405,
            Admin,
            "method-not-allowed",
        ),
        case(
            Method::POST,
            "/v1/metadata/extra",
            None,
            404,
            Admin,
            "not-found",
        ),
        // /v1/handlers
        case(
            Method::PUT,
            "/v1/handlers/big",
            Some(&oversized),
            413,
            Admin,
            "request-too-large",
        ),
        case(
            Method::PUT,
            "/v1/handlers/bad%20name",
            Some(b"x"),
            400,
            Admin,
            "invalid-name",
        ),
        case(
            Method::POST,
            "/v1/handlers",
            None,
            405,
            Admin,
            "method-not-allowed",
        ),
        case(
            Method::POST,
            "/v1/handlers/one",
            None,
            405,
            Admin,
            "method-not-allowed",
        ),
        case(
            Method::GET,
            "/v1/handlers/none",
            None,
            404,
            Admin,
            "not-exists",
        ),
        // /v1/events
        case(
            Method::GET,
            "/v1/events?foo=1",
            None,
            400,
            Admin,
            "invalid-request",
        ),
        case(
            Method::GET,
            "/v1/events?limit=many",
            None,
            400,
            Admin,
            "invalid-request",
        ),
        case(
            Method::GET,
            "/v1/events?status=lost",
            None,
            400,
            Admin,
            "invalid-request",
        ),
        case(
            Method::DELETE,
            "/v1/events?older_than_secs=x",
            None,
            400,
            Admin,
            "invalid-request",
        ),
        case(
            Method::PUT,
            "/v1/events",
            None,
            405,
            Admin,
            "method-not-allowed",
        ),
        case(
            Method::POST,
            "/v1/events/not-a-uuid/redeliver",
            None,
            400,
            Admin,
            "invalid-request",
        ),
        case(Method::GET, event, None, 405, Admin, "method-not-allowed"),
        case(Method::POST, event, None, 404, Admin, "not-exists"),
        // probes, and paths nothing is served on
        case(
            Method::POST,
            "/healthz",
            None,
            405,
            Admin,
            "method-not-allowed",
        ),
        case(
            Method::DELETE,
            "/readyz",
            None,
            405,
            Admin,
            "method-not-allowed",
        ),
        case(
            Method::POST,
            "/metrics",
            None,
            405,
            Admin,
            "method-not-allowed",
        ),
        case(Method::GET, "/v2/graphql", None, 404, Admin, "not-found"),
        case(Method::GET, "/v1/nothing", None, 404, Admin, "not-found"),
    ];
    let mut wrong = Vec::new();
    for case in &cases {
        let mut request = server
            .client
            .request(case.method.clone(), format!("{}{}", server.url, case.path));
        if let Some(body) = &case.body {
            request = request
                .header("content-type", "application/json")
                .body(body.clone());
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status != case.status || code_in(case.envelope, &body) != Some(case.code) {
            wrong.push(format!(
                "{} {}: got {status} {body}, want {} {:?} `{}`",
                case.method, case.path, case.status, case.envelope, case.code
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    server.stop().await;
}
