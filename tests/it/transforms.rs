//! Request and response transforms (Hasura's Kriti templates) against a real webhook and a
//! real component: each field of a transform changes what is sent, failures reject the
//! attempt without a retry, and metadata refuses what cannot work.

use hookwing::store::{AttemptOutcome, EventState};
use serde_json::{Value, json};

use crate::harness::{
    Backend, LOGIN_MUTATION, Reply, TestDb, TestServer, WebhookServer, async_login, login_action,
    login_types, on_both_backends,
};

on_both_backends!(
    every_request_field_changes_what_the_webhook_receives,
    form_bodies_get_requests_and_version_1_bodies,
    response_transforms_reshape_webhook_and_component_replies,
    a_failing_transform_rejects_the_attempt_once,
    metadata_refuses_transforms_that_cannot_work,
    test_webhook_transform_shows_the_request_without_sending_it,
);

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A server whose webhooks are signed, with the login types.
async fn server(db: &TestDb) -> TestServer {
    let server = TestServer::start_with(db, |config| {
        config.webhook_signing_secret = Some(SECRET.into());
    })
    .await;
    server.metadata_ok(login_types()).await;
    server
}

async fn every_request_field_changes_what_the_webhook_receives(backend: Backend) {
    let webhook =
        WebhookServer::start(|_, _| Reply::json(200, json!({"accessToken": "t", "userId": 1})))
            .await;
    let db = TestDb::new(backend).await;
    let server = server(&db).await;
    let transform = json!({
        "version": 2,
        "template_engine": "Kriti",
        "method": "PUT",
        "url": "{{$base_url}}/users/{{escapeUri($body.input.username)}}",
        "query_params": {
            "role": "{{$session_variables['x-hasura-role']}}",
            "optional": "{{$body.input?.missing}}"
        },
        "request_headers": {
            "add_headers": {"x-user": "{{$body.input.username}}", "content-type": "application/vnd.test+json"},
            "remove_headers": ["x-static"]
        },
        "body": {"action": "transform", "template": "{\"name\": {{$body.input.username}}, \"secret_length\": {{size($body.input.password)}}, \"action\": {{$body.action.name}}}"}
    });
    let extra = json!({
        "headers": [{"name": "x-static", "value": "removed"}, {"name": "x-kept", "value": "kept"}],
        "request_transform": transform
    });
    server
        .metadata_ok(login_action(&format!("{}/api", webhook.url), extra))
        .await;
    let response = server.graphql(LOGIN_MUTATION, json!({})).await;
    assert_eq!(
        response["data"]["userLogin"]["accessToken"], "t",
        "{response}"
    );

    let sent = &webhook.requests()[0];
    assert_eq!(sent.method, "PUT");
    // `$base_url` is the handler as configured; the query is the query_params' only.
    assert_eq!(sent.path, "/api/users/ada?role=admin");
    assert_eq!(sent.headers["x-user"], "ada");
    assert_eq!(sent.headers["x-kept"], "kept");
    assert!(!sent.headers.contains_key("x-static"));
    assert_eq!(sent.headers["content-type"], "application/vnd.test+json");
    assert_eq!(
        sent.body,
        json!({"name": "ada", "secret_length": 2, "action": "userLogin"})
    );
    // The signature covers the body as sent.
    let mut headers = http::HeaderMap::new();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        headers.insert(name, sent.headers[name].parse().expect("header value"));
    }
    let verifier = standardwebhooks::Webhook::new(SECRET).expect("secret");
    assert!(verifier.verify(&sent.raw, &headers).is_ok());
    server.stop().await;
}

async fn form_bodies_get_requests_and_version_1_bodies(backend: Backend) {
    let webhook =
        WebhookServer::start(|_, _| Reply::json(200, json!({"accessToken": "t", "userId": 1})))
            .await;
    let db = TestDb::new(backend).await;
    let server = server(&db).await;
    let form = json!({"request_transform": {
        "version": 2,
        "request_headers": {"remove_headers": ["content-type"],
                            "add_headers": {"content-type": "application/x-www-form-urlencoded"}},
        "body": {"action": "x_www_form_urlencoded",
                 "form_template": {"user": "{{$body.input.username}}", "note": "a b&c"}}
    }});
    server
        .metadata_ok(login_action(&format!("{}/form", webhook.url), form))
        .await;
    server.graphql(LOGIN_MUTATION, json!({})).await;
    let sent = &webhook.requests()[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(
        sent.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        String::from_utf8_lossy(&sent.raw),
        "note=a%20b%26c&user=ada"
    );

    let get = json!({"request_transform": {"version": 2, "method": "GET",
        "query_params": "user={{$body.input.username}}&flag", "body": {"action": "remove"}}});
    server
        .metadata_ok(json!({"type": "update_action", "args": login_action(&format!("{}/get", webhook.url), get)["args"]}))
        .await;
    server.graphql(LOGIN_MUTATION, json!({})).await;
    let sent = &webhook.requests()[1];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("GET", "/get?user=ada&flag")
    );
    assert!(sent.raw.is_empty());

    // Version 1: `body` is the template itself.
    let v1 = json!({"request_transform": {"body": "{{ $body.input }}"}});
    server
        .metadata_ok(json!({"type": "update_action", "args": login_action(&format!("{}/v1", webhook.url), v1)["args"]}))
        .await;
    server.graphql(LOGIN_MUTATION, json!({})).await;
    assert_eq!(
        webhook.requests()[2].body,
        json!({"username": "ada", "password": "pw"})
    );
    server.stop().await;
}

async fn response_transforms_reshape_webhook_and_component_replies(backend: Backend) {
    let webhook =
        WebhookServer::start(
            |request, _| match request.body["input"]["username"].as_str() {
                Some("ada") => Reply::json(200, json!({"data": {"token": "from-api", "id": "7"}})),
                _ => Reply::json(422, json!({"error": {"text": "unknown user"}})),
            },
        )
        .await;
    let db = TestDb::new(backend).await;
    let server = server(&db).await;
    let reshape = json!({"response_transform": {"version": 2, "body": {"action": "transform",
        "template": "{{ if $response.status == 200 }} {\"accessToken\": {{$body.data.token}}, \"userId\": 7} {{ else }} {\"message\": {{$body.error.text}}, \"extensions\": {\"code\": \"from-transform\", \"status\": {{$response.status}}}} {{ end }}"}}});
    server
        .metadata_ok(login_action(
            &format!("{}/login", webhook.url),
            reshape.clone(),
        ))
        .await;
    let ok = server.graphql(LOGIN_MUTATION, json!({})).await;
    assert_eq!(
        ok["data"]["userLogin"],
        json!({"accessToken": "from-api", "userId": 7})
    );
    let refused = server
        .graphql(
            "mutation { userLogin(username: \"bob\", password: \"pw\") { accessToken } }",
            json!({}),
        )
        .await;
    assert_eq!(refused["errors"][0]["message"], "unknown user", "{refused}");
    assert_eq!(
        refused["errors"][0]["extensions"],
        json!({"code": "from-transform", "status": 422})
    );

    // The same transform on a component: an output is a 200, a rejection a 400 whose body
    // is `{message, extensions}`.
    server
        .upload_guest("user-login", "user-login", json!({}))
        .await;
    let component = json!({"response_transform": {"version": 2, "body": {"action": "transform",
        "template": "{{ if $response.status == 200 }} {\"accessToken\": {{concat([\"wasm:\", $body.accessToken])}}, \"userId\": {{$body.userId}}} {{ else }} {\"message\": {{concat([\"wasm says: \", $body.message])}}} {{ end }}"}}});
    server
        .metadata_ok(json!({"type": "update_action", "args": login_action("wasm://user-login", component)["args"]}))
        .await;
    let ok = server
        .graphql(
            "mutation { userLogin(username: \"ada\", password: \"secret\") { accessToken userId } }",
            json!({}),
        )
        .await;
    assert_eq!(
        ok["data"]["userLogin"],
        json!({"accessToken": "wasm:token-for-ada", "userId": 4951})
    );
    let refused = server.graphql(LOGIN_MUTATION, json!({})).await;
    assert_eq!(
        refused["errors"][0]["message"], "wasm says: invalid credentials",
        "{refused}"
    );
    server.stop().await;
}

async fn a_failing_transform_rejects_the_attempt_once(backend: Backend) {
    let webhook =
        WebhookServer::start(|_, _| Reply::json(200, json!({"accessToken": "t", "userId": 1})))
            .await;
    let db = TestDb::new(backend).await;
    let server = server(&db).await;
    let failing = json!({
        "retry": {"max_attempts": 4, "initial_interval_ms": 1},
        "request_transform": {"version": 2, "body": {"action": "transform",
            "template": "{\n  \"user\": {{ $body.input.nobody }}\n}"}}
    });
    server
        .metadata_ok(async_login(&format!("{}/login", webhook.url), failing))
        .await;
    let accepted = server
        .graphql("mutation { asyncLogin(username: \"ada\") }", json!({}))
        .await;
    let id = accepted["data"]["asyncLogin"]
        .as_str()
        .expect("an id")
        .to_owned();
    let store = db.store().await;
    let event = loop {
        let events = db.events("asyncLogin").await;
        if let Some(done) = events
            .into_iter()
            .find(|e| matches!(e.status, EventState::Completed | EventState::Error))
        {
            break done;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(event.id.to_string(), id);
    let errors = event.errors.expect("errors");
    assert_eq!(errors[0]["message"], "Request Transformation Failed");
    assert_eq!(errors[0]["extensions"]["code"], "transform-failed");
    assert_eq!(
        errors[0]["extensions"]["internal"]["errors"][0]["error_code"],
        "Invalid Path"
    );
    let attempts = store.attempts(event.id).await.expect("attempts");
    assert_eq!(attempts.len(), 1, "a failed transform is never retried");
    assert_eq!(attempts[0].outcome, AttemptOutcome::Rejected);
    let detail = attempts[0].detail.clone().unwrap_or_default();
    assert!(
        detail.contains("'$body.input.nobody' is not defined (line 2, column 14)"),
        "{detail}"
    );
    assert!(webhook.requests().is_empty(), "nothing was sent");

    // The client of a synchronous call sees the same, and the internals only as an admin.
    let sync = json!({"response_transform": {"version": 2, "body": {"action": "transform",
        "template": "{\"accessToken\": {{ $body.missing }}, \"userId\": 1}"}}});
    server
        .metadata_ok(login_action(&format!("{}/login", webhook.url), sync))
        .await;
    let failed = server.graphql(LOGIN_MUTATION, json!({})).await;
    assert_eq!(
        failed["errors"][0]["message"], "Response Transformation Failed",
        "{failed}"
    );
    assert_eq!(
        failed["errors"][0]["extensions"]["code"],
        "transform-failed"
    );
    server.stop().await;
}

async fn metadata_refuses_transforms_that_cannot_work(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = server(&db).await;
    let refused = |extra: Value| {
        let server = &server;
        async move {
            let (status, body) = server
                .metadata(login_action("http://127.0.0.1:9/login", extra))
                .await;
            assert_eq!(status, 400, "{body}");
            assert_eq!(body["code"], "validation-failed", "{body}");
            body
        }
    };
    let body = refused(
        json!({"request_transform": {"version": 2, "body": {"action": "transform",
        "template": "{\n  \"a\": {{ $body.input }\n}"}}}),
    )
    .await;
    assert_eq!(body["path"], "$.definition.request_transform.body.template");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("request transform validation failed"),
        "{error}"
    );
    assert!(
        error.contains("Unexpected token '}'. (line 2, column 23)"),
        "{error}"
    );
    let body = refused(json!({"response_transform": {"version": 7}})).await;
    assert_eq!(body["path"], "$.definition.response_transform.version");
    let body = refused(json!({"request_transform": {"url": "{{ nosuch($body) }}"}})).await;
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("there is no function 'nosuch'")
    );

    server
        .upload_guest("user-login", "user-login", json!({}))
        .await;
    let (status, body) = server
        .metadata(login_action(
            "wasm://user-login",
            json!({"request_transform": {"method": "GET"}}),
        ))
        .await;
    assert_eq!(status, 400, "{body}");
    let path = body["path"].as_str().unwrap_or_default();
    assert!(path.ends_with("definition.request_transform"), "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("wasm://"),
        "{body}"
    );
    server.stop().await;
}

async fn test_webhook_transform_shows_the_request_without_sending_it(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = server(&db).await;
    // docs/TRANSFORMS.md's example, as it is written there.
    let answer = server
        .metadata_ok(json!({
        "type": "test_webhook_transform",
        "args": {
          "webhook_url": "{{API}}/users",
          "env": {"API": "https://api.test"},
          "session_variables": {"x-hasura-user-id": "42"},
          "body": {"input": {"name": "ada"}},
          "request_transform": {"version": 2, "method": "POST",
            "url": "{{$base_url}}/{{getSessionVariable(\"x-hasura-user-id\")}}",
            "body": {"action": "transform", "template": "{\"who\": {{$body.input.name}}}"}}
        }}))
        .await;
    assert_eq!(
        answer,
        json!({"webhook_url": "https://api.test/users/42", "method": "POST", "headers": [],
               "body": {"who": "ada"}})
    );
    // Headers given with the sample request are transformed like any other.
    let answer = server
        .metadata_ok(json!({"type": "test_webhook_transform", "args": {
            "webhook_url": {"from_env": "API"},
            "env": {"API": "http://api.test/x"},
            "body": {},
            "request_headers": [["X-Drop", "1"], ["x-keep", "2"]],
            "request_transform": {"request_headers": {"remove_headers": ["x-drop"],
                "add_headers": {"x-name": "{{$base_url}}"}}}
        }}))
        .await;
    assert_eq!(
        answer["headers"],
        json!([["x-keep", "2"], ["x-name", "http://api.test/x"]])
    );
    assert_eq!(answer["method"], "GET");
    server.stop().await;
}
