//! Bad requests get a clear error with a stable code, and nothing is called or stored.

use serde_json::{Value, json};

use crate::harness::{
    Backend, Reply, TestDb, TestServer, WebhookServer, async_login, login_action, login_types,
    on_both_backends,
};

on_both_backends!(
    bad_graphql_requests_are_refused_before_anything_is_stored,
    oversized_handler_reply_is_a_failed_attempt,
    one_request_cannot_flood_the_store_through_batches_or_aliases,
    a_request_document_is_stored_once_however_many_events_it_creates,
);

async fn bad_graphql_requests_are_refused_before_anything_is_stored(backend: Backend) {
    let webhook = WebhookServer::login_ok().await;
    let db = TestDb::new(backend).await;
    let server = TestServer::start_with(&db, |config| {
        config.limits.max_body_bytes = 4096;
        config.limits.max_query_depth = 3;
        config.limits.max_query_complexity = 6;
    })
    .await;
    server.metadata_ok(login_types()).await;
    server
        .metadata_ok(login_action(&format!("{}/login", webhook.url), json!({})))
        .await;

    let wide: String = (0..4)
        .map(|i| {
            format!("a{i}: userLogin(username: \"a\", password: \"p\") {{ userId accessToken }} ")
        })
        .collect();
    let too_complex = format!("mutation {{ {wide}}}");
    let graphql_cases = [
        (too_complex.as_str(), "validation-failed"),
        (
            "mutation { userLogin(username: \"a\" password: ",
            "parse-failed",
        ),
        (
            "mutation { userLogin(username: 1, password: \"p\") { userId } }",
            "validation-failed",
        ),
        (
            "mutation { userLogin(username: \"a\") { userId } }",
            "validation-failed",
        ),
        (
            "mutation { userLogin(username: \"a\", password: \"p\") { nope } }",
            "validation-failed",
        ),
        ("mutation { noSuchAction { id } }", "validation-failed"),
        (
            "{ __schema { types { fields { type { fields { name } } } } } }",
            "validation-failed",
        ),
    ];
    for (query, code) in graphql_cases {
        let response = server.graphql(query, json!({})).await;
        assert_eq!(
            response["errors"][0]["extensions"]["code"], code,
            "{query}: {response}"
        );
        assert!(
            response.get("data").is_none_or(|data| data.is_null()),
            "{response}"
        );
    }
    let variables = server
        .graphql(
            "mutation($u: String!) { userLogin(username: $u, password: \"p\") { userId } }",
            json!({"u": 5}),
        )
        .await;
    assert_eq!(
        variables["errors"][0]["extensions"]["code"],
        "validation-failed"
    );

    let client = crate::harness::http_client();
    let post = |body: Vec<u8>| {
        client
            .post(format!("{}/v1/graphql", server.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let response = post(b"{not json".to_vec()).await.expect("request");
    assert_eq!(response.status().as_u16(), 400);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["errors"][0]["extensions"]["code"], "invalid-json");

    let huge = json!({"query": format!("{{ __typename }} #{}", "x".repeat(8192))});
    let response = post(huge.to_string().into_bytes()).await.expect("request");
    assert_eq!(response.status().as_u16(), 413);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["errors"][0]["extensions"]["code"], "request-too-large");

    assert!(
        webhook.requests().is_empty(),
        "no bad request may reach the handler"
    );
    assert!(db.events("userLogin").await.is_empty());
    server.stop().await;
}

async fn oversized_handler_reply_is_a_failed_attempt(backend: Backend) {
    let huge = json!({"accessToken": "x".repeat(8192), "userId": 1});
    let webhook = WebhookServer::start(move |_, _| Reply::json(200, huge.clone())).await;
    let db = TestDb::new(backend).await;
    let server =
        TestServer::start_with(&db, |config| config.limits.max_response_bytes = 4096).await;
    server.metadata_ok(login_types()).await;
    server
        .metadata_ok(login_action(&format!("{}/login", webhook.url), json!({})))
        .await;
    let response = server
        .graphql(crate::harness::LOGIN_MUTATION, json!({}))
        .await;
    let reason = response["errors"][0]["extensions"]["internal"]["reason"].as_str();
    assert!(
        reason.is_some_and(|r| r.contains("larger than 4096 bytes")),
        "{response}"
    );
    let events = db.events("userLogin").await;
    let attempts = db
        .store()
        .await
        .attempts(events[0].id)
        .await
        .expect("attempts");
    assert_eq!(attempts[0].outcome, hookwing::store::AttemptOutcome::Failed);
    server.stop().await;
}

/// A batch of many operations, or an operation of many aliases, of an asynchronous action
/// would store an event per call: the whole request's budget is checked before any of it
/// runs, and a refused request stores nothing.
async fn one_request_cannot_flood_the_store_through_batches_or_aliases(backend: Backend) {
    let webhook = WebhookServer::login_ok().await;
    let db = TestDb::new(backend).await;
    // Room for the whole attack in one body: the budget, not the body limit, must stop it.
    let server = TestServer::start_with(&db, |config| {
        config.limits.max_body_bytes = 4 << 20;
    })
    .await;
    server
        .metadata_ok(async_login(&format!("{}/login", webhook.url), json!({})))
        .await;
    let aliases = |n: usize| {
        let calls: Vec<String> = (0..n)
            .map(|i| format!("a{i}: asyncLogin(username: \"x\")"))
            .collect();
        json!({"query": format!("mutation {{ {} }}", calls.join(" "))})
    };
    let refused = |request: Value, code: &'static str| {
        let server = &server;
        async move {
            let (status, body) = server.graphql_raw(request, &[]).await;
            assert_eq!(status, 400, "{body}");
            assert_eq!(body["errors"][0]["extensions"]["code"], code, "{body}");
        }
    };
    // The campaign's request: 40 operations of 990 aliases each.
    refused(Value::Array(vec![aliases(990); 40]), "batch-too-large").await;
    refused(Value::Array(vec![aliases(990); 2]), "too-many-action-calls").await;
    refused(aliases(101), "too-many-action-calls").await;
    refused(Value::Array(vec![aliases(60); 2]), "too-many-action-calls").await;
    refused(Value::Array(vec![aliases(1); 21]), "batch-too-large").await;
    // Fragments that each spread the next twice: 2^30 calls, counted without expanding them.
    let mut doubling = String::from("mutation { ...F0 }");
    for i in 0..30 {
        doubling.push_str(&format!(
            " fragment F{i} on mutation_root {{ ...F{next} ...F{next} }}",
            next = i + 1
        ));
    }
    doubling.push_str(" fragment F30 on mutation_root { asyncLogin(username: \"x\") }");
    refused(json!({"query": doubling}), "too-many-action-calls").await;
    let wide = (0..300)
        .map(|i| format!("f{i}: __typename"))
        .collect::<Vec<_>>()
        .join(" ");
    let wide = json!({"query": format!("{{ {wide} }}")});
    refused(Value::Array(vec![wide; 4]), "validation-failed").await;
    assert!(
        db.events("asyncLogin").await.is_empty(),
        "a refused request stores nothing"
    );
    assert!(webhook.requests().is_empty());

    // Within the budget, everything runs.
    let (status, body) = server
        .graphql_raw(Value::Array(vec![aliases(50); 2]), &[])
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body[1]["data"]["a49"].is_string(), "{body}");
    assert_eq!(db.events("asyncLogin").await.len(), 100);
    server.stop().await;
}

/// Each event used to store the whole request document: one request of 100 calls stored it
/// 100 times (a 51 KB request, 41 MB). Now it is stored once, and named by every event, whose
/// handler still receives it whole.
async fn a_request_document_is_stored_once_however_many_events_it_creates(backend: Backend) {
    let webhook = WebhookServer::login_ok().await;
    let db = TestDb::new(backend).await;
    let server = TestServer::start_with(&db, |config| {
        config.limits.max_body_bytes = 1 << 20;
    })
    .await;
    server
        .metadata_ok(async_login(&format!("{}/login", webhook.url), json!({})))
        .await;
    let calls: Vec<String> = (0..100)
        .map(|i| format!("a{i}: asyncLogin(username: \"x\")"))
        .collect();
    // A comment makes the document about 50 KB, as in the attack.
    let padding = format!("# {}\n", "x".repeat(50_000));
    let query = format!("{padding}mutation {{ {} }}", calls.join(" "));
    let request = json!({"query": query});
    let request_bytes = i64::try_from(request.to_string().len()).expect("size");
    let (status, body) = server.graphql_raw(request.clone(), &[]).await;
    assert_eq!(status, 200, "{body}");
    // The same document again (clients send the same query each time): no new row.
    let (status, _) = server.graphql_raw(request, &[]).await;
    assert_eq!(status, 200);

    let events = db.events("asyncLogin").await;
    assert_eq!(events.len(), 200);
    assert!(
        events
            .iter()
            .all(|event| event.request_query.as_deref() == Some(query.as_str())),
        "every event names the whole document"
    );
    let stored = db
        .integer(
            "SELECT CAST(COALESCE(SUM(LENGTH(document)), 0) AS BIGINT) AS n FROM request_document",
        )
        .await
        + db.integer(
            "SELECT CAST(COALESCE(SUM(LENGTH(request_query)), 0) AS BIGINT) AS n \
                 FROM action_log",
        )
        .await;
    assert!(
        stored <= 2 * request_bytes,
        "{stored} bytes of documents stored for two requests of {request_bytes} bytes"
    );
    // The handlers got the document whole.
    let delivered = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            let requests = webhook.requests();
            if requests.len() >= 200 {
                return requests;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("all 200 delivered");
    assert!(
        delivered
            .iter()
            .all(|request| request.body["request_query"] == query.as_str())
    );
    // Once no event names it, a document goes with the events.
    let finished = || async {
        db.events("asyncLogin")
            .await
            .iter()
            .all(|event| event.status == hookwing::store::EventState::Completed)
    };
    for _ in 0..100 {
        if finished().await {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, body) = server
        .admin_request(reqwest::Method::DELETE, "/v1/events?action=asyncLogin")
        .await;
    assert_eq!(
        (status, body["deleted"].as_i64()),
        (200, Some(200)),
        "{body}"
    );
    assert_eq!(
        db.integer("SELECT COUNT(*) AS n FROM request_document")
            .await,
        0
    );
    server.stop().await;
}
