//! Faults, for real: a server process killed with SIGKILL in the middle of deliveries, and the
//! database vanishing under a running server. Nothing accepted may be lost.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hookwing::store::EventState;
use serde_json::{Value, json};
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::harness::{
    Backend, Reply, ServerProcess, TestDb, TestServer, WebhookServer, async_login, on_both_backends,
};

on_both_backends!(killed_server_loses_nothing_and_duplicates_only_what_was_in_flight);

const EVENTS: usize = 12;

fn async_action(url: &str) -> Value {
    let retry = json!({"max_attempts": 3, "initial_interval_ms": 100});
    async_login(
        &format!("{url}/login"),
        json!({"timeout": 30, "retry": retry}),
    )
}

async fn killed_server_loses_nothing_and_duplicates_only_what_was_in_flight(backend: Backend) {
    let slow = Arc::new(AtomicBool::new(true));
    let script_slow = Arc::clone(&slow);
    let webhook = WebhookServer::start(move |_, _| {
        let reply = Reply::json(200, json!({"accessToken": "t", "userId": 1}));
        if script_slow.load(Ordering::SeqCst) {
            reply.after(Duration::from_secs(5))
        } else {
            reply
        }
    })
    .await;
    let db = TestDb::new(backend).await;
    let cache = tempfile::tempdir().expect("cache");

    let doomed = ServerProcess::start(&db.url, cache.path()).await;
    let applied = doomed
        .post("/v1/metadata", async_action(&webhook.url))
        .await;
    assert!(applied.get("error").is_none(), "{applied}");
    let fields: String = (0..EVENTS)
        .map(|i| format!("e{i}: asyncLogin(username: \"u{i}\") "))
        .collect();
    let created = doomed
        .post(
            "/v1/graphql",
            json!({"query": format!("mutation {{ {fields}}}")}),
        )
        .await;
    assert!(created["errors"].is_null(), "{created}");

    // Kill it while deliveries are in flight.
    for _ in 0..100 {
        if webhook.requests().len() >= EVENTS / 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    doomed.kill();
    // Whatever the killed process had sent is in by now (its replies were to take seconds).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let in_flight: Vec<String> = webhook
        .requests()
        .iter()
        .map(|r| r.body["event"]["id"].as_str().expect("id").to_owned())
        .collect();
    assert!(!in_flight.is_empty(), "deliveries had started");
    slow.store(false, Ordering::SeqCst);

    let successor = ServerProcess::start(&db.url, cache.path()).await;
    let mut events = Vec::new();
    for _ in 0..300 {
        events = db.events("asyncLogin").await;
        if events.len() == EVENTS && events.iter().all(|e| e.status == EventState::Completed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(events.len(), EVENTS, "every accepted event is still there");
    assert!(
        events.iter().all(|e| e.status == EventState::Completed),
        "{events:?}"
    );

    let mut deliveries: HashMap<String, usize> = HashMap::new();
    for request in webhook.requests() {
        *deliveries
            .entry(request.body["event"]["id"].as_str().expect("id").to_owned())
            .or_default() += 1;
    }
    for event in &events {
        let id = event.id.to_string();
        let expected = if in_flight.contains(&id) { 2 } else { 1 };
        assert_eq!(
            deliveries.get(&id).copied(),
            Some(expected),
            "event {id}: {} in flight at the kill, deliveries {deliveries:?}",
            in_flight.len()
        );
    }
    drop(successor);
}

/// A TCP proxy in front of PostgreSQL that can drop every connection and refuse new ones for a
/// while: to the server, indistinguishable from the database restarting.
struct FlakyProxy {
    port: u16,
    down: Arc<AtomicBool>,
    connections: Arc<tokio::sync::Mutex<JoinSet<()>>>,
}

impl FlakyProxy {
    async fn start(upstream: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let down = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(tokio::sync::Mutex::new(JoinSet::new()));
        let (accept_down, accept_connections) = (Arc::clone(&down), Arc::clone(&connections));
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if accept_down.load(Ordering::SeqCst) {
                    continue; // dropped: connection refused, in effect
                }
                accept_connections.lock().await.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Self {
            port,
            down,
            connections,
        }
    }

    async fn outage(&self, length: Duration) {
        self.down.store(true, Ordering::SeqCst);
        self.connections.lock().await.abort_all();
        tokio::time::sleep(length).await;
        self.down.store(false, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_recovers_from_a_database_restart_without_restarting() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let webhook = WebhookServer::login_ok().await;
    let db = TestDb::new(backend).await;
    let proxy = FlakyProxy::start("127.0.0.1:5432").await;
    let via_proxy = db
        .url
        .replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port), 1);
    assert_ne!(via_proxy, db.url, "the test database is on 127.0.0.1:5432");
    let server = TestServer::start_with(&db, |config| {
        config.database_url = via_proxy;
        // A delivery whose result could not be stored during the outage is retaken when its
        // lease runs out.
        config.delivery.lease_secs = 2;
    })
    .await;
    server.metadata_ok(async_action(&webhook.url)).await;

    let call = "mutation { asyncLogin(username: \"ada\") }";
    server.graphql(call, json!({})).await;
    let readyz = || server.client.get(format!("{}/readyz", server.url)).send();
    let outage = proxy.outage(Duration::from_secs(3));
    let during = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        readyz().await.expect("readyz").status().as_u16()
    };
    let ((), status) = tokio::join!(outage, during);
    assert_eq!(status, 503, "not ready while the database is unreachable");

    // Back up: calls succeed again once the pool has reconnected, and work still flows.
    let mut accepted = 1;
    for _ in 0..100 {
        let (status, body) = server.graphql_raw(json!({"query": call}), &[]).await;
        if status == 200 && body["errors"].is_null() {
            accepted += 1;
            if accepted == 4 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        accepted, 4,
        "the server accepts calls again after the outage"
    );
    let mut events = Vec::new();
    for _ in 0..200 {
        events = db.events("asyncLogin").await;
        if events.len() == accepted && events.iter().all(|e| e.status == EventState::Completed) {
            server.stop().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let states: Vec<_> = events
        .iter()
        .map(|e| (e.status, e.attempts, e.locked_by.clone()))
        .collect();
    panic!("events accepted around the outage were not all delivered: {states:?}");
}
