//! Browsers on other origins: CORS with Hasura's semantics on every endpoint a browser calls,
//! and the same origin check on the WebSocket upgrade, which CORS does not cover. (The real
//! browser's view is in `browser.rs`.)

use reqwest::Method;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::harness::{Backend, TestDb, TestServer};

const PATHS: [&str; 5] = [
    "/v1/graphql",
    "/v1/metadata",
    "/v1/handlers",
    "/v1/events",
    "/v1/query",
];

async fn preflight(server: &TestServer, path: &str, origin: &str) -> reqwest::Response {
    server
        .client
        .request(Method::OPTIONS, format!("{}{path}", server.url))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, authorization, x-hasura-role",
        )
        .send()
        .await
        .expect("preflight")
}

fn allow_origin(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("access-control-allow-origin")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_origin_is_allowed_by_default_with_credentials_on_every_endpoint() {
    let db = TestDb::new(Backend::Sqlite).await;
    let server = TestServer::start(&db).await;
    let origin = "http://app.example.test:5173";
    for path in PATHS {
        let response = preflight(&server, path, origin).await;
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        assert_eq!(allow_origin(&response).as_deref(), Some(origin), "{path}");
        assert_eq!(
            response.headers()["access-control-allow-credentials"],
            "true",
            "{path}"
        );
        let methods = response.headers()["access-control-allow-methods"]
            .to_str()
            .expect("methods")
            .to_owned();
        assert!(methods.contains("POST"), "{path}: {methods}");
    }
    // The actual request gets the header too, so the page may read the answer.
    let response = server
        .client
        .post(format!("{}/v1/graphql", server.url))
        .header("origin", origin)
        .json(&json!({"query": "{ __typename }"}))
        .send()
        .await
        .expect("request");
    assert_eq!(allow_origin(&response).as_deref(), Some(origin));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_policy_allows_exactly_its_origins_and_disabling_sends_nothing() {
    let db = TestDb::new(Backend::Sqlite).await;
    let server = TestServer::start_with(&db, |config| {
        config.cors_domain = "https://*.example.test, http://localhost:3000".into();
    })
    .await;
    for allowed in ["https://app.example.test", "http://localhost:3000"] {
        let response = preflight(&server, "/v1/graphql", allowed).await;
        assert_eq!(allow_origin(&response).as_deref(), Some(allowed));
    }
    for refused in [
        "https://example.test.evil",
        "http://localhost:3001",
        "https://example.test",
    ] {
        let response = preflight(&server, "/v1/graphql", refused).await;
        assert_eq!(allow_origin(&response), None, "{refused}");
    }
    server.stop().await;

    let server = TestServer::start_with(&db, |config| config.disable_cors = true).await;
    let response = preflight(&server, "/v1/graphql", "https://app.example.test").await;
    assert_eq!(allow_origin(&response), None);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_check_the_origin_too() {
    let db = TestDb::new(Backend::Sqlite).await;
    let server = TestServer::start_with(&db, |config| {
        config.cors_domain = "https://app.example.test".into();
    })
    .await;
    let url = format!("{}/v1/graphql", server.url.replacen("http", "ws", 1));
    let same = server.url.clone();
    for (origin, accepted) in [
        ("https://app.example.test", true),
        ("https://evil.example.test", false),
        (same.as_str(), true),
    ] {
        let mut request = url.as_str().into_client_request().expect("request");
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().expect("header"),
        );
        request
            .headers_mut()
            .insert("origin", origin.parse().expect("header"));
        let outcome = tokio_tungstenite::connect_async(request).await;
        match (outcome, accepted) {
            (Ok(_), true) => {}
            (Err(tokio_tungstenite::tungstenite::Error::Http(response)), false) => {
                assert_eq!(response.status().as_u16(), 403, "{origin}");
            }
            (outcome, _) => panic!(
                "{origin}: accepted {accepted}, got {:?}",
                outcome.map(|_| ())
            ),
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_form_posts_are_refused_even_in_dev_mode() {
    let db = TestDb::new(Backend::Sqlite).await;
    let server = TestServer::start(&db).await;
    let form = |path: &str, content_type: &'static str| {
        server
            .client
            .post(format!("{}{path}", server.url))
            .header("origin", "https://evil.example.test")
            .header("content-type", content_type)
            .body(r#"{"type": "clear_metadata", "args": {}}"#)
            .send()
    };
    for (path, content_type) in [
        ("/v1/metadata", "text/plain"),
        ("/v1/query", "application/x-www-form-urlencoded"),
        ("/v1/graphql", "text/plain;charset=UTF-8"),
        (
            "/v1/events/0190d5a4-0000-7000-8000-000000000000/redeliver",
            "multipart/form-data; boundary=x",
        ),
    ] {
        let response = form(path, content_type).await.expect("request");
        assert_eq!(response.status().as_u16(), 403, "{path}");
    }
    // The same body as JSON from that origin is an ordinary CORS request; from curl (no
    // Origin) any body type works as before.
    let json = server
        .client
        .post(format!("{}/v1/metadata", server.url))
        .header("origin", "https://evil.example.test")
        .json(&json!({"type": "export_metadata", "args": {}}))
        .send()
        .await
        .expect("json");
    assert_eq!(json.status().as_u16(), 200);
    let curl = server
        .client
        .post(format!("{}/v1/graphql", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(r#"{"query": "{ __typename }"}"#)
        .send()
        .await
        .expect("curl");
    assert_eq!(curl.status().as_u16(), 200);
    server.stop().await;
}
