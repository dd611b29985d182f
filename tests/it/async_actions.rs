//! Asynchronous actions: the mutation answers with an id at once; the result is delivered by
//! the worker, retried under the action's policy, and read back by query or pushed over a
//! WebSocket subscription (both protocols) — only to whoever made the call.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::harness::{
    Backend, Reply, TestDb, TestServer, WebhookServer, async_login, on_both_backends,
};
use hookwing::store::{AttemptOutcome, EventState};

on_both_backends!(
    async_action_returns_an_id_and_its_result_can_be_queried_and_subscribed,
    failed_deliveries_are_retried_until_the_handler_is_back,
    results_are_visible_only_to_the_session_that_made_the_call,
    graceful_shutdown_hands_events_back_and_the_next_server_delivers_them,
    failed_results_have_hasuras_errors_and_internal_details_only_for_admins,
    queries_and_mutations_run_over_websocket_without_subscriptions,
);

fn async_metadata(handler: &str, retry: Value) -> Value {
    async_login(handler, json!({"timeout": 5, "retry": retry}))
}

const CALL: &str = "mutation { asyncLogin(username: \"ada\") }";

fn result_query(id: &str) -> String {
    format!(
        "{{ asyncLogin(id: \"{id}\") {{ id created_at errors output {{ accessToken userId }} }} }}"
    )
}

async fn call_async(server: &TestServer) -> String {
    let response = server.graphql(CALL, json!({})).await;
    response["data"]["asyncLogin"]
        .as_str()
        .unwrap_or_else(|| panic!("an id: {response}"))
        .to_owned()
}

/// Polls the query field until the result is there.
async fn wait_for_result(server: &TestServer, id: &str) -> Value {
    for _ in 0..200 {
        let response = server.graphql(&result_query(id), json!({})).await;
        let result = &response["data"]["asyncLogin"];
        if !result["output"].is_null() || !result["errors"].is_null() {
            return result.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no result for {id}");
}

/// Subscribes over WebSocket with `protocol` (none: the server's default, the legacy one) and
/// returns every payload until completion.
async fn subscribe(server: &TestServer, protocol: Option<&str>, id: &str) -> Vec<Value> {
    subscribe_as(server, protocol, id, json!({})).await
}

/// [`subscribe`], authenticating with `headers` in `connection_init`.
async fn subscribe_as(
    server: &TestServer,
    protocol: Option<&str>,
    id: &str,
    headers: Value,
) -> Vec<Value> {
    let url = format!("{}/v1/graphql", server.url.replacen("http", "ws", 1));
    let mut request = url.into_client_request().expect("request");
    if let Some(protocol) = protocol {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocol.parse().expect("header"));
    }
    // tungstenite refuses an answer naming a protocol that was not asked for.
    let (mut socket, answer) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    assert_eq!(
        answer
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        protocol
    );
    let send = |value: Value| Message::Text(value.to_string().into());
    socket
        .send(send(
            json!({"type": "connection_init", "payload": {"headers": headers}}),
        ))
        .await
        .expect("init");
    let start = if protocol != Some("graphql-transport-ws") {
        "start"
    } else {
        "subscribe"
    };
    let query = format!(
        "subscription {{ asyncLogin(id: \"{id}\") {{ id errors output {{ accessToken userId }} }} }}"
    );
    socket
        .send(send(
            json!({"type": start, "id": "1", "payload": {"query": query}}),
        ))
        .await
        .expect("subscribe");
    let mut payloads = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline, socket.next()).await {
        let Ok(Message::Text(text)) = message else {
            continue;
        };
        let message: Value = serde_json::from_str(&text).expect("JSON message");
        match message["type"].as_str() {
            Some("data" | "next") => payloads.push(message["payload"].clone()),
            Some("complete") => return payloads,
            Some("error") => panic!("subscription error: {message}"),
            _ => {}
        }
    }
    panic!("the subscription did not complete; got {payloads:?}");
}

async fn async_action_returns_an_id_and_its_result_can_be_queried_and_subscribed(backend: Backend) {
    let webhook = WebhookServer::start(|_, _| {
        Reply::json(200, json!({"accessToken": "later", "userId": 5}))
            .after(Duration::from_millis(300))
    })
    .await;
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    server
        .metadata_ok(async_metadata(&format!("{}/login", webhook.url), json!({})))
        .await;

    for protocol in [Some("graphql-transport-ws"), Some("graphql-ws"), None] {
        let id = call_async(&server).await;
        let payloads = subscribe(&server, protocol, &id).await;
        let last = payloads.last().expect("a payload");
        assert_eq!(
            last["data"]["asyncLogin"]["output"],
            json!({"accessToken": "later", "userId": 5}),
            "{protocol:?}: {payloads:?}"
        );
        assert!(
            payloads.len() <= 2,
            "{protocol:?}: at most the pending state, then the result"
        );
        let result = wait_for_result(&server, &id).await;
        assert_eq!(result["id"], id.as_str());
        assert!(
            result["created_at"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z'))
        );
        assert_eq!(result["errors"], Value::Null);
    }

    let events = db.events("asyncLogin").await;
    assert_eq!(events.len(), 3);
    for event in &events {
        assert_eq!(
            (event.status, event.kind.as_str(), event.attempts),
            (EventState::Completed, "asynchronous", 1)
        );
        assert!(event.locked_by.is_none(), "the lease is released");
    }
    let payload = &webhook.requests()[0].body;
    assert_eq!(payload["request_query"], CALL);
    assert_eq!(payload["input"], json!({"username": "ada"}));
    server.stop().await;
}

async fn failed_deliveries_are_retried_until_the_handler_is_back(backend: Backend) {
    // A port with nothing listening on it: the handler is down.
    let port = crate::harness::free_port();
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let retry = json!({"max_attempts": 20, "initial_interval_ms": 100, "max_interval_ms": 200, "jitter": 0});
    server
        .metadata_ok(async_metadata(
            &format!("http://127.0.0.1:{port}/login"),
            retry,
        ))
        .await;
    let id = call_async(&server).await;

    // Let a few attempts fail, then bring the handler up — with a 503 first, then an answer.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let webhook = WebhookServer::start_on(port, |_, earlier| match earlier {
        0 => Reply::raw(503, "warming up"),
        _ => Reply::json(200, json!({"accessToken": "back", "userId": 1})),
    })
    .await;
    let result = wait_for_result(&server, &id).await;
    assert_eq!(
        result["output"],
        json!({"accessToken": "back", "userId": 1})
    );

    let event = &db.events("asyncLogin").await[0];
    let attempts = db.store().await.attempts(event.id).await.expect("attempts");
    assert!(attempts.len() >= 3, "{attempts:?}");
    let (last, failures) = attempts.split_last().expect("attempts");
    assert_eq!(last.outcome, AttemptOutcome::Success);
    assert!(failures.iter().all(|a| a.outcome == AttemptOutcome::Failed));
    assert!(
        failures[0]
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("cannot reach")),
        "{:?}",
        failures[0]
    );
    assert_eq!(webhook.requests().len(), 2, "one 503, one success");
    let numbers: Vec<i32> = attempts.iter().map(|a| a.attempt).collect();
    assert_eq!(
        numbers,
        (1..=i32::try_from(attempts.len()).expect("few")).collect::<Vec<_>>()
    );
    server.stop().await;
}

async fn results_are_visible_only_to_the_session_that_made_the_call(backend: Backend) {
    let webhook =
        WebhookServer::start(|_, _| Reply::json(200, json!({"accessToken": "mine", "userId": 1})))
            .await;
    let db = TestDb::new(backend).await;
    let server =
        TestServer::start_with(&db, |config| config.admin_secret = Some("s3cret".into())).await;
    server
        .metadata_ok(async_metadata(&format!("{}/login", webhook.url), json!({})))
        .await;
    server
        .metadata_ok(json!({"type": "create_action_permission", "args": {"action": "asyncLogin", "role": "user"}}))
        .await;
    let as_user = |id: &'static str| {
        [
            ("x-hasura-admin-secret", "s3cret"),
            ("x-hasura-role", "user"),
            ("x-hasura-user-id", id),
        ]
    };
    let (_, created) = server
        .graphql_raw(json!({"query": CALL}), &as_user("1"))
        .await;
    let id = created["data"]["asyncLogin"]
        .as_str()
        .expect("id")
        .to_owned();
    let result = wait_for_result(&server, &id).await;
    assert_eq!(result["output"]["accessToken"], "mine");

    let query = json!({"query": result_query(&id)});
    let (_, own) = server.graphql_raw(query.clone(), &as_user("1")).await;
    assert_eq!(
        own["data"]["asyncLogin"]["output"]["accessToken"], "mine",
        "{own}"
    );
    let (_, other) = server.graphql_raw(query.clone(), &as_user("2")).await;
    assert_eq!(
        other["data"]["asyncLogin"],
        Value::Null,
        "another user must not see it: {other}"
    );
    let (_, admin) = server
        .graphql_raw(query, &[("x-hasura-admin-secret", "s3cret")])
        .await;
    assert_eq!(
        admin["data"]["asyncLogin"]["output"]["accessToken"], "mine",
        "the admin sees all"
    );
    let (_, missing) = server
        .graphql_raw(
            json!({"query": result_query("0193a1b2-0000-7000-8000-000000000000")}),
            &as_user("1"),
        )
        .await;
    assert_eq!(missing["data"]["asyncLogin"], Value::Null);

    // Over WebSocket, with both protocols: another user's id and an unknown id answer `null`,
    // not an object of nulls.
    let user = |id: &str| json!({"x-hasura-admin-secret": "s3cret", "x-hasura-role": "user", "x-hasura-user-id": id});
    for protocol in [Some("graphql-transport-ws"), None] {
        let own = subscribe_as(&server, protocol, &id, user("1")).await;
        assert_eq!(
            own[0]["data"]["asyncLogin"]["output"]["accessToken"],
            "mine"
        );
        for (target, who) in [
            (id.as_str(), "2"),
            ("0193a1b2-0000-7000-8000-000000000000", "1"),
        ] {
            let payloads = subscribe_as(&server, protocol, target, user(who)).await;
            assert_eq!(
                payloads,
                vec![json!({"data": {"asyncLogin": null}})],
                "{protocol:?} {target} as {who}"
            );
        }
    }
    server.stop().await;
}

async fn graceful_shutdown_hands_events_back_and_the_next_server_delivers_them(backend: Backend) {
    let webhook = WebhookServer::start(|_, earlier| match earlier {
        0 => Reply::json(200, json!({"accessToken": "slow", "userId": 1}))
            .after(Duration::from_secs(10)),
        _ => Reply::json(200, json!({"accessToken": "next", "userId": 2})),
    })
    .await;
    let db = TestDb::new(backend).await;
    let quick_stop = |config: &mut hookwing::Config| config.delivery.shutdown_grace_secs = 0;
    let server = TestServer::start_with(&db, quick_stop).await;
    server
        .metadata_ok(async_metadata(&format!("{}/login", webhook.url), json!({})))
        .await;
    let id = call_async(&server).await;
    for _ in 0..100 {
        if !webhook.requests().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        db.events("asyncLogin").await[0].status,
        EventState::Processing
    );
    server.stop().await;
    let released = &db.events("asyncLogin").await[0];
    assert_eq!(
        (released.status, released.locked_by.as_deref()),
        (EventState::Created, None)
    );

    let server = TestServer::start(&db).await;
    let result = wait_for_result(&server, &id).await;
    assert_eq!(result["output"]["accessToken"], "next");
    server.stop().await;
}

/// A result delivered by one replica reaches a subscriber connected to another one at once:
/// announced over NOTIFY when it commits, not found later by the subscription's periodic
/// re-read (every 5 seconds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_on_another_replica_hear_results_at_once() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let webhook = WebhookServer::login_ok().await;
    let db = TestDb::new(backend).await;
    let api = TestServer::start_with(&db, |config| config.delivery.enabled = false).await;
    api.metadata_ok(async_metadata(&format!("{}/login", webhook.url), json!({})))
        .await;
    let id = call_async(&api).await;

    let started = std::time::Instant::now();
    let (payloads, worker) =
        tokio::join!(subscribe(&api, Some("graphql-transport-ws"), &id), async {
            // Subscribed (and told "not yet") before any replica can deliver.
            tokio::time::sleep(Duration::from_millis(300)).await;
            TestServer::start(&db).await
        });
    let last = payloads.last().expect("a payload");
    assert_eq!(
        last["data"]["asyncLogin"]["output"]["accessToken"], "t",
        "{payloads:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the result took {:?}: it was not announced",
        started.elapsed()
    );
    api.stop().await;
    worker.stop().await;
}

async fn failed_results_have_hasuras_errors_and_internal_details_only_for_admins(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server =
        TestServer::start_with(&db, |config| config.admin_secret = Some("s3cret".into())).await;
    // Nothing listens there: the one attempt fails, with the URL in the reason.
    let handler = "http://127.0.0.1:9/secret-path?api_key=k";
    server
        .metadata_ok(async_metadata(handler, json!({"max_attempts": 1})))
        .await;
    server
        .metadata_ok(json!({"type": "create_action_permission", "args": {"action": "asyncLogin", "role": "user"}}))
        .await;
    let as_user = [
        ("x-hasura-admin-secret", "s3cret"),
        ("x-hasura-role", "user"),
        ("x-hasura-user-id", "1"),
    ];
    let (_, created) = server.graphql_raw(json!({"query": CALL}), &as_user).await;
    let id = created["data"]["asyncLogin"]
        .as_str()
        .expect("id")
        .to_owned();
    let admin = wait_for_result(&server, &id).await;
    let errors = &admin["errors"];
    assert_eq!(errors["code"], "unexpected", "{admin}");
    assert_eq!(errors["path"], "$");
    assert_eq!(errors["error"], "the action handler failed");
    assert!(
        errors["internal"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("secret-path")),
        "admins see why: {admin}"
    );

    // The caller's own result (the subscription shows the same value): Hasura's shape, nothing
    // internal.
    let (_, own) = server
        .graphql_raw(json!({"query": result_query(&id)}), &as_user)
        .await;
    let errors = &own["data"]["asyncLogin"]["errors"];
    assert_eq!(errors["code"], "unexpected", "{own}");
    assert!(errors.get("internal").is_none(), "{own}");
    assert!(!own.to_string().contains("secret-path"), "{own}");
    server.stop().await;
}

/// Hasura clients send queries and mutations over the WebSocket too, often with no
/// subprotocol named: they run on a schema that has no subscriptions at all.
async fn queries_and_mutations_run_over_websocket_without_subscriptions(backend: Backend) {
    let webhook = WebhookServer::login_ok().await;
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    server.metadata_ok(crate::harness::login_types()).await;
    server
        .metadata_ok(crate::harness::login_action(
            &format!("{}/login", webhook.url),
            json!({}),
        ))
        .await;
    let url = format!("{}/v1/graphql", server.url.replacen("http", "ws", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let send = |value: Value| Message::Text(value.to_string().into());
    socket
        .send(send(json!({"type": "connection_init", "payload": {}})))
        .await
        .expect("init");
    socket
        .send(send(json!({"type": "start", "id": "1",
            "payload": {"query": crate::harness::LOGIN_MUTATION}})))
        .await
        .expect("start");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut data = None;
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline, socket.next()).await {
        let Ok(Message::Text(text)) = message else {
            continue;
        };
        let message: Value = serde_json::from_str(&text).expect("JSON message");
        match message["type"].as_str() {
            Some("data") => data = Some(message["payload"].clone()),
            Some("complete") => break,
            Some("error" | "connection_error") => panic!("error: {message}"),
            _ => {}
        }
    }
    let data = data.expect("a result");
    assert_eq!(
        data["data"]["userLogin"],
        json!({"accessToken": "t", "userId": 1}),
        "{data}"
    );

    // The request budget holds over the socket too: too many action calls in one operation.
    let calls: Vec<String> = (0..101)
        .map(|i| format!("a{i}: userLogin(username: \"u\", password: \"p\") {{ userId }}"))
        .collect();
    let flood = format!("mutation {{ {} }}", calls.join(" "));
    socket
        .send(send(
            json!({"type": "start", "id": "2", "payload": {"query": flood}}),
        ))
        .await
        .expect("start");
    let mut refusal = None;
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline, socket.next()).await {
        let Ok(Message::Text(text)) = message else {
            continue;
        };
        let message: Value = serde_json::from_str(&text).expect("JSON message");
        if message["id"] == "2" && matches!(message["type"].as_str(), Some("data" | "error")) {
            refusal = Some(message);
            break;
        }
    }
    let refusal = refusal.expect("an answer");
    assert_eq!(
        refusal["payload"]["errors"][0]["extensions"]["code"], "too-many-action-calls",
        "{refusal}"
    );
    assert_eq!(
        webhook.requests().len(),
        1,
        "the refused operation called nothing"
    );
    server.stop().await;
}
