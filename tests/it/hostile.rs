//! Hostile WebAssembly guests are contained: each misbehaviour ends in a clear, retryable
//! failure with its attempt recorded, and the server keeps serving — memory included.

use serde_json::{Value, json};

use crate::harness::{Backend, TestDb, TestServer, on_both_backends};
use hookwing::store::{AttemptOutcome, EventState};

on_both_backends!(each_misbehaviour_is_contained_and_recorded);

const MEMORY_LIMIT_MIB: u64 = 32;

async fn hostile_server(backend: Backend) -> (TestDb, TestServer) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    server
        .upload_guest(
            "hostile",
            "hostile",
            json!({"memory_limit_mib": MEMORY_LIMIT_MIB}),
        )
        .await;
    server
        .metadata_ok(json!({"type": "bulk", "args": [
            {"type": "set_custom_types", "args": {"objects": [{"name": "UserInfo", "fields": [
                {"name": "accessToken", "type": "String!"}, {"name": "userId", "type": "Int!"}]}]}},
            {"type": "create_action", "args": {"name": "misbehave", "definition": {
                "kind": "synchronous", "type": "mutation",
                "arguments": [{"name": "mode", "type": "String!"}],
                "output_type": "UserInfo", "handler": "wasm://hostile", "timeout": 1}}}
        ]}))
        .await;
    (db, server)
}

async fn call(server: &TestServer, mode: &str) -> Value {
    let query = format!("mutation {{ misbehave(mode: \"{mode}\") {{ accessToken userId }} }}");
    server.graphql(&query, json!({})).await
}

async fn each_misbehaviour_is_contained_and_recorded(backend: Backend) {
    let (db, server) = hostile_server(backend).await;
    let store = db.store().await;
    let cases = [
        ("loop", "did not finish within"),
        ("memory", "ran out of memory (limit 32 MiB)"),
        // Rust keeps its stack in linear memory: running off it is an out-of-bounds access.
        ("recursion", "out of bounds memory access"),
        ("trap", "trapped"),
        ("garbage", "not JSON"),
    ];
    for (mode, reason) in cases {
        let started = std::time::Instant::now();
        let response = call(&server, mode).await;
        assert!(
            started.elapsed().as_secs() < 5,
            "{mode} took {:?}",
            started.elapsed()
        );
        assert!(
            response["data"]["misbehave"].is_null(),
            "{mode}: {response}"
        );
        let error = &response["errors"][0];
        assert_eq!(
            error["message"], "the action handler failed",
            "{mode}: {response}"
        );
        let internal = error["extensions"]["internal"]["reason"]
            .as_str()
            .unwrap_or_default();
        assert!(
            internal.contains(reason),
            "{mode}: `{internal}` should say `{reason}`"
        );

        let events = db.events("misbehave").await;
        let event = events
            .iter()
            .find(|e| e.input_payload["mode"] == mode)
            .expect("event");
        assert_eq!(
            (event.status, event.attempts),
            (EventState::Error, 1),
            "{mode}"
        );
        let attempt = &store.attempts(event.id).await.expect("attempts")[0];
        assert_eq!(attempt.outcome, AttemptOutcome::Failed, "{mode}");
        assert!(
            attempt
                .detail
                .as_deref()
                .is_some_and(|d| d.contains(reason)),
            "{mode}: {attempt:?}"
        );

        // The server, and the very same handler, still serve.
        let healthy = call(&server, "ok").await;
        assert_eq!(
            healthy["data"]["misbehave"]["accessToken"], "fine",
            "after {mode}: {healthy}"
        );
    }

    // No ambient authority: no files, no environment, no sockets (the listener below would
    // see a connection).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let target = listener.local_addr().expect("address");
    let escaped = call(&server, &format!("escape:{target}")).await;
    assert_eq!(
        escaped["data"]["misbehave"]["accessToken"], "fs=denied env=0 tcp=denied",
        "{escaped}"
    );
    assert!(
        listener.accept().is_err(),
        "the guest reached the host's network"
    );

    // A flood of log lines is kept bounded in the attempt record.
    let flooded = call(&server, "log-flood").await;
    assert_eq!(flooded["data"]["misbehave"]["accessToken"], "flooded");
    let events = db.events("misbehave").await;
    let event = events
        .iter()
        .find(|e| e.input_payload["mode"] == "log-flood")
        .expect("event");
    let logs = store.attempts(event.id).await.expect("attempts")[0]
        .logs
        .clone();
    let lines = logs.as_array().expect("log lines");
    assert!(lines.len() <= 201, "{} lines kept", lines.len());
    assert!(
        lines
            .last()
            .is_some_and(|l| l["message"].as_str().is_some_and(|m| m.contains("dropped")))
    );
    server.stop().await;
}

/// Resident memory of this test process, from /proc (Linux).
fn resident_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("number");
    kib / 1024
}

/// Every memory bomb fills its whole limit; if instances' memory were not returned, 24 of them
/// would leave 768 MiB resident. Other tests share this process, hence the generous margin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_returns_to_baseline_after_memory_bombs() {
    let (_db, server) = hostile_server(Backend::Sqlite).await;
    call(&server, "ok").await;
    let baseline = resident_mib();
    for _ in 0..24 {
        let response = call(&server, "memory").await;
        assert!(
            response["errors"][0]["extensions"]["internal"]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("out of memory"))
        );
    }
    let after = resident_mib();
    assert!(
        after < baseline + 12 * MEMORY_LIMIT_MIB,
        "resident memory grew from {baseline} MiB to {after} MiB"
    );
    server.stop().await;
}

/// `max_concurrency` caps simultaneous calls of one handler: a call that finds no free slot
/// waits (within its own deadline) until one is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrency_caps_simultaneous_calls() {
    let (_db, server) = hostile_server(Backend::Sqlite).await;
    server
        .upload_guest("hostile", "hostile", json!({"max_concurrency": 1}))
        .await;
    let (busy, waited) = tokio::join!(call(&server, "loop"), async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let started = std::time::Instant::now();
        let response = call(&server, "ok").await;
        (response, started.elapsed())
    });
    assert!(busy["data"]["misbehave"].is_null(), "{busy}");
    let (response, elapsed) = waited;
    assert_eq!(
        response["data"]["misbehave"]["accessToken"], "fine",
        "{response}"
    );
    assert!(
        elapsed >= std::time::Duration::from_millis(700),
        "the second call ran at once ({elapsed:?}) although the only slot was taken"
    );
    server.stop().await;
}

/// One handler saturating the instance pool never makes another handler's call fail: each
/// handler may hold at most its fair share of the pool, and a call beyond it waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturating_handler_leaves_room_for_the_others() {
    let db = TestDb::new(Backend::Sqlite).await;
    let server = TestServer::start_with(&db, |config| {
        config.wasm.max_concurrent_instances = 4;
    })
    .await;
    server.upload_guest("hostile", "hostile", json!({})).await;
    server
        .upload_guest("user-login", "user-login", json!({}))
        .await;
    server
        .metadata_ok(json!({"type": "bulk", "args": [
            {"type": "set_custom_types", "args": {"objects": [{"name": "UserInfo", "fields": [
                {"name": "accessToken", "type": "String!"}, {"name": "userId", "type": "Int!"}]}]}},
            {"type": "create_action", "args": {"name": "misbehave", "definition": {
                "type": "mutation", "arguments": [{"name": "mode", "type": "String!"}],
                "output_type": "UserInfo", "handler": "wasm://hostile", "timeout": 3}}},
            {"type": "create_action", "args": {"name": "userLogin", "definition": {
                "type": "mutation",
                "arguments": [{"name": "username", "type": "String!"}, {"name": "password", "type": "String!"}],
                "output_type": "UserInfo", "handler": "wasm://user-login", "timeout": 3}}}
        ]}))
        .await;
    // Six calls that spin until their deadline: more than the whole pool.
    let spinning: Vec<_> = (0..6)
        .map(|_| {
            let url = format!("{}/v1/graphql", server.url);
            let client = server.client.clone();
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&json!({"query": "mutation { misbehave(mode: \"loop\") { userId } }"}))
                    .send()
                    .await
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let started = std::time::Instant::now();
    let login = server
        .graphql(
            "mutation { userLogin(username: \"ada\", password: \"secret\") { accessToken } }",
            json!({}),
        )
        .await;
    assert_eq!(
        login["data"]["userLogin"]["accessToken"], "token-for-ada",
        "{login}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "the other handler's call waited for the spinners: {:?}",
        started.elapsed()
    );
    for call in spinning {
        let _ = call.await;
    }
    server.stop().await;
}
