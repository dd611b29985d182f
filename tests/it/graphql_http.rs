//! GraphQL over HTTP as clients use it beyond a JSON `POST`: queries over `GET` (urql's
//! default), mutations refused there, cross-site `GET`s refused before anything runs, and the
//! `application/graphql-response+json` media type when a client asks for it.

use serde_json::{Value, json};

use crate::harness::{
    Backend, LOGIN_MUTATION, TestDb, TestServer, WebhookServer, login_action, login_types,
    on_both_backends,
};

on_both_backends!(queries_run_over_get_and_mutations_do_not);

async fn server_with_a_query_action(backend: Backend) -> (TestDb, TestServer, WebhookServer) {
    let webhook = WebhookServer::login_ok().await;
    let db = TestDb::new(backend).await;
    let server = TestServer::start_with(&db, |config| {
        config.cors_domain = "https://app.example.test".into();
    })
    .await;
    server.metadata_ok(login_types()).await;
    server
        .metadata_ok(login_action(&format!("{}/login", webhook.url), json!({})))
        .await;
    server
        .metadata_ok(
            json!({"type": "create_action", "args": {"name": "whoAmI", "definition": {
            "type": "query", "output_type": "UserInfo",
            "handler": format!("{}/who", webhook.url)}}}),
        )
        .await;
    (db, server, webhook)
}

async fn get(server: &TestServer, query: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let url = format!(
        "{}/v1/graphql?query={}",
        server.url,
        hookwing::kriti::escape_uri(query)
    );
    let mut request = server.client.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("GET");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

async fn queries_run_over_get_and_mutations_do_not(backend: Backend) {
    let (db, server, webhook) = server_with_a_query_action(backend).await;
    let (status, body) = get(&server, "{ whoAmI { accessToken userId } }", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["whoAmI"],
        json!({"accessToken": "t", "userId": 1})
    );

    // A mutation over GET changes nothing.
    let (status, body) = get(&server, LOGIN_MUTATION, &[]).await;
    assert_eq!(status, 405, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "method-not-allowed"
    );
    assert!(db.events("userLogin").await.is_empty());

    // A page on another site cannot make a browser run one: not by a link or an image (no
    // Origin, but Sec-Fetch-Site), not by a fetch its origin is not allowed to make.
    let calls = webhook.requests().len();
    for headers in [
        &[
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "no-cors"),
        ][..],
        &[
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ][..],
    ] {
        let (status, body) = get(&server, "{ whoAmI { userId } }", headers).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "access-denied");
    }
    assert_eq!(webhook.requests().len(), calls, "nothing ran");
    // An origin the CORS policy allows may.
    let allowed = [
        ("origin", "https://app.example.test"),
        ("sec-fetch-site", "cross-site"),
    ];
    let (status, body) = get(&server, "{ whoAmI { userId } }", &allowed).await;
    assert_eq!(
        (status, &body["data"]["whoAmI"]["userId"]),
        (200, &json!(1)),
        "{body}"
    );

    // GraphQL over HTTP's media type, when asked for.
    let response = server
        .client
        .post(format!("{}/v1/graphql", server.url))
        .header(
            "accept",
            "application/graphql-response+json, application/json;q=0.9",
        )
        .json(&json!({"query": "{ whoAmI { userId } }"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(
        response.headers()["content-type"],
        "application/graphql-response+json"
    );
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["data"]["whoAmI"]["userId"], 1);
    server.stop().await;
}

/// urql, as an application uses it: its default sends the query as a `GET`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urql_queries_with_its_defaults() {
    let (_db, server, _webhook) = server_with_a_query_action(Backend::Sqlite).await;
    let url = format!("{}/v1/graphql", server.url);
    let query = "query Who { whoAmI { accessToken userId } }";
    let result = crate::harness::node_client("urql-get.mjs", &[&url, query]).await;
    assert_eq!(result["methods"], json!(["GET"]), "{result}");
    assert_eq!(
        result["data"]["whoAmI"],
        json!({"accessToken": "t", "userId": 1}),
        "{result}"
    );
    server.stop().await;
}
