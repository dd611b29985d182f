//! Several replicas on one PostgreSQL database share the asynchronous queue: events spread
//! across them, and no event is delivered twice while its lease is alive.

use std::collections::HashMap;
use std::time::Duration;

use hookwing::config::Environment;
use hookwing::store::EventState;
use serde_json::json;

use crate::harness::{Backend, TestDb, TestServer, WebhookServer, async_login};

const EVENTS: usize = 2000;
const PER_REQUEST: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_deliver_every_event_exactly_once() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let webhook = WebhookServer::login_ok().await;
    let db = TestDb::new(backend).await;
    // Each replica calls the webhook under its own path, so the test can tell who delivered.
    let replica = |name: &'static str| {
        let base = format!("{}/{name}", webhook.url);
        move |config: &mut hookwing::Config| {
            config.node_id = Some(format!("replica-{name}"));
            config.environment = Environment::default().with("WEBHOOK_BASE", base);
        }
    };
    let first = TestServer::start_with(&db, replica("a")).await;
    first
        .metadata_ok(async_login("{{WEBHOOK_BASE}}/login", json!({})))
        .await;
    let second = TestServer::start_with(&db, replica("b")).await;

    // Half the calls go to each replica, a hundred mutations per request.
    for batch in 0..EVENTS / PER_REQUEST {
        let fields: String = (0..PER_REQUEST)
            .map(|i| format!("e{i}: asyncLogin(username: \"user-{batch}-{i}\") "))
            .collect();
        let server = if batch % 2 == 0 { &first } else { &second };
        let response = server
            .graphql(&format!("mutation {{ {fields}}}"), json!({}))
            .await;
        assert!(response["errors"].is_null(), "{response}");
    }

    let store = db.store().await;
    let mut finished = 0;
    for _ in 0..600 {
        finished = store
            .events_of_action("asyncLogin", i64::try_from(EVENTS).expect("small"))
            .await
            .expect("events")
            .iter()
            .filter(|e| e.status == EventState::Completed)
            .count();
        if finished == EVENTS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(finished, EVENTS, "every event completed");

    let mut deliveries: HashMap<String, usize> = HashMap::new();
    let mut by_replica: HashMap<String, usize> = HashMap::new();
    for request in webhook.requests() {
        let id = request.body["event"]["id"]
            .as_str()
            .expect("event id")
            .to_owned();
        *deliveries.entry(id).or_default() += 1;
        let replica = request
            .path
            .split('/')
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        *by_replica.entry(replica).or_default() += 1;
    }
    assert_eq!(deliveries.len(), EVENTS, "every event reached the handler");
    let twice: Vec<_> = deliveries.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert!(
        by_replica.get("a").is_some_and(|n| *n > 0) && by_replica.get("b").is_some_and(|n| *n > 0),
        "both replicas delivered: {by_replica:?}"
    );
    first.stop().await;
    second.stop().await;
}

/// A handler uploaded and an action created on one replica are served by the other without a
/// restart (announced over LISTEN/NOTIFY, polled in any case).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_and_handler_changes_reach_the_other_replicas() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let db = TestDb::new(backend).await;
    let first = TestServer::start(&db).await;
    let second = TestServer::start(&db).await;
    first.upload_guest("login", "user-login", json!({})).await;
    first.metadata_ok(crate::harness::login_types()).await;
    first
        .metadata_ok(crate::harness::login_action("wasm://login", json!({})))
        .await;

    let query = "mutation { userLogin(username: \"ada\", password: \"secret\") { accessToken } }";
    for _ in 0..100 {
        let response = second.graphql(query, json!({})).await;
        if response["data"]["userLogin"]["accessToken"] == "token-for-ada" {
            // And a change back is picked up too.
            first
                .metadata_ok(json!({"type": "drop_action", "args": {"name": "userLogin"}}))
                .await;
            for _ in 0..100 {
                let gone = second.graphql(query, json!({})).await;
                if gone["errors"][0]["extensions"]["code"] == "validation-failed" {
                    first.stop().await;
                    second.stop().await;
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("the dropped action is still served by the other replica");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the other replica never served the new action");
}

/// An API-only replica (`delivery.enabled = false`) accepts asynchronous events but never
/// delivers them; a delivering replica on the same database does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_only_replicas_accept_events_and_leave_delivery_to_others() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let webhook = WebhookServer::login_ok().await;
    let db = TestDb::new(backend).await;
    let api = TestServer::start_with(&db, |config| config.delivery.enabled = false).await;
    api.metadata_ok(async_login(&format!("{}/login", webhook.url), json!({})))
        .await;
    let accepted = api
        .graphql("mutation { asyncLogin(username: \"ada\") }", json!({}))
        .await;
    let id: uuid::Uuid = accepted["data"]["asyncLogin"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("an action id: {accepted}"));

    let store = db.store().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let waiting = store.event(id).await.expect("read").expect("stored");
    assert_eq!(
        waiting.status,
        EventState::Created,
        "nobody delivered it yet"
    );
    assert!(webhook.requests().is_empty());

    let worker = TestServer::start(&db).await;
    let mut status = waiting.status;
    for _ in 0..100 {
        status = store.event(id).await.expect("read").expect("stored").status;
        if status == EventState::Completed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status,
        EventState::Completed,
        "the delivering replica took it"
    );
    assert_eq!(webhook.requests().len(), 1);
    api.stop().await;
    worker.stop().await;
}
