//! What a webhook receives: configured and forwarded headers, `{{ENV}}` URL templates, session
//! variables; and who may call the server at all.

use hookwing::config::Environment;
use serde_json::json;

use crate::harness::{
    Backend, LOGIN_MUTATION, Reply, TestDb, TestServer, WebhookServer, login_action, login_server,
    login_types, on_both_backends,
};

on_both_backends!(
    configured_forwarded_and_environment_headers_reach_the_webhook,
    handler_url_templates_read_the_server_environment,
    admin_secret_guards_graphql_and_metadata,
    a_sync_webhooks_cookies_reach_the_client,
);

fn ok_login() -> Reply {
    Reply::json(200, json!({"accessToken": "t", "userId": 1}))
}

async fn configured_forwarded_and_environment_headers_reach_the_webhook(backend: Backend) {
    let webhook = WebhookServer::start(|_, _| ok_login()).await;
    let db = TestDb::new(backend).await;
    let server = TestServer::start_with(&db, |config| {
        config.environment = Environment::default().with("LOGIN_API_KEY", "from-env");
    })
    .await;
    server.metadata_ok(login_types()).await;
    let extra = json!({
        "forward_client_headers": true,
        "headers": [
            {"name": "x-static", "value": "fixed"},
            {"name": "x-api-key", "value_from_env": "LOGIN_API_KEY"}
        ]
    });
    server
        .metadata_ok(login_action(&format!("{}/login", webhook.url), extra))
        .await;
    let grant = json!({"action": "userLogin", "role": "user"});
    server
        .metadata_ok(json!({"type": "create_action_permission", "args": grant}))
        .await;

    let body = json!({"query": LOGIN_MUTATION});
    let client_headers = [
        ("authorization", "Bearer user-token"),
        ("x-hasura-user-id", "42"),
        ("x-hasura-role", "user"),
        ("x-static", "client-cannot-override"),
    ];
    let (status, response) = server.graphql_raw(body, &client_headers).await;
    assert_eq!(status, 200, "{response}");
    assert_eq!(response["data"]["userLogin"]["accessToken"], "t");

    let received = &webhook.requests()[0];
    assert_eq!(received.headers["x-static"], "fixed");
    assert_eq!(received.headers["x-api-key"], "from-env");
    assert_eq!(received.headers["authorization"], "Bearer user-token");
    assert_eq!(received.headers["x-hasura-user-id"], "42");
    assert!(received.headers["user-agent"].starts_with("hookwing/"));
    assert_eq!(
        received.body["session_variables"],
        json!({"x-hasura-role": "user", "x-hasura-user-id": "42"})
    );

    let event = &db.events("userLogin").await[0];
    assert_eq!(event.request_headers["authorization"], "<redacted>");
    assert_eq!(event.request_headers["x-hasura-user-id"], "42");
    server.stop().await;
}

async fn handler_url_templates_read_the_server_environment(backend: Backend) {
    let webhook = WebhookServer::start(|_, _| ok_login()).await;
    let db = TestDb::new(backend).await;
    let base = webhook.url.clone();
    let server = TestServer::start_with(&db, move |config| {
        config.environment = Environment::default().with("ACTIONS_BASE_URL", base);
    })
    .await;
    server.metadata_ok(login_types()).await;
    server
        .metadata_ok(login_action("{{ACTIONS_BASE_URL}}/v2/login", json!({})))
        .await;

    let response = server.graphql(LOGIN_MUTATION, json!({})).await;
    assert_eq!(response["data"]["userLogin"]["userId"], 1);
    assert_eq!(webhook.requests()[0].path, "/v2/login");

    // A template naming a variable the server does not have is refused up front.
    let (status, error) = server
        .metadata(
            json!({"type": "update_action", "args": {"name": "userLogin", "definition": {
            "output_type": "UserInfo", "handler": "{{NOT_SET_ANYWHERE}}/x"}}}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(error["code"], "validation-failed");
    assert!(
        error["error"]
            .as_str()
            .expect("message")
            .contains("NOT_SET_ANYWHERE")
    );
    server.stop().await;
}

async fn admin_secret_guards_graphql_and_metadata(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start_with(&db, |config| {
        config.admin_secret = Some("open-sesame".into());
    })
    .await;
    let client = crate::harness::http_client();
    for path in ["/v1/graphql", "/v1/metadata"] {
        for secret in [None, Some("wrong")] {
            let mut request = client.post(format!("{}{path}", server.url));
            if let Some(secret) = secret {
                request = request.header("x-hasura-admin-secret", secret);
            }
            let response = request
                .json(&json!({"query": "{ __typename }", "type": "export_metadata", "args": {}}))
                .send()
                .await
                .expect("request");
            assert_eq!(response.status().as_u16(), 401, "{path} with {secret:?}");
            let body: serde_json::Value = response.json().await.expect("json");
            let code = body["code"]
                .as_str()
                .or(body["errors"][0]["extensions"]["code"].as_str());
            assert_eq!(code, Some("access-denied"), "{body}");
        }
    }
    // With the secret (harness sends it), both work.
    server
        .metadata_ok(json!({"type": "export_metadata", "args": {}}))
        .await;
    let response = server.graphql("{ __typename }", json!({})).await;
    assert_eq!(response["data"]["__typename"], "query_root");
    server.stop().await;
}

/// Hasura passes a synchronous webhook's `Set-Cookie` headers on to the GraphQL client.
async fn a_sync_webhooks_cookies_reach_the_client(backend: Backend) {
    let webhook = WebhookServer::start(|_, _| {
        ok_login()
            .with_header("set-cookie", "session=abc; HttpOnly; Path=/")
            .with_header("set-cookie", "theme=dark")
    })
    .await;
    let (_db, server) = login_server(backend, &webhook, json!({})).await;
    let response = server.graphql_http(json!({"query": LOGIN_MUTATION})).await;
    let cookies: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok().map(str::to_owned))
        .collect();
    assert_eq!(cookies, ["session=abc; HttpOnly; Path=/", "theme=dark"]);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["data"]["userLogin"]["accessToken"], "t");
    server.stop().await;
}
