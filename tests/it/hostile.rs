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

/// `count` calls of the hostile guest spinning until their deadline, running meanwhile.
fn spin_guests(
    server: &TestServer,
    count: usize,
) -> Vec<tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>> {
    (0..count)
        .map(|_| {
            let request = server
                .client
                .post(format!("{}/v1/graphql", server.url))
                .json(&json!({"query": "mutation { misbehave(mode: \"loop\") { userId } }"}));
            tokio::spawn(request.send())
        })
        .collect()
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
    let spinning = spin_guests(&server, 6);
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

/// A guest spinning until its deadline used to hold the request-serving thread it ran on:
/// it yielded every tick, but every await of an unrelated call scheduled on that thread then
/// waited a tick, and such a call took 401 ms instead of 42. A computing guest now moves to
/// threads of its own, at a lower priority, and unrelated calls keep their latency.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_guest_does_not_slow_unrelated_calls() {
    use crate::harness::{WebhookServer, login_action, login_types};
    use std::time::{Duration, Instant};
    let webhook = WebhookServer::login_ok().await;
    let (_db, server) = hostile_server(Backend::Sqlite).await;
    server.metadata_ok(login_types()).await;
    server
        .metadata_ok(login_action(&format!("{}/login", webhook.url), json!({})))
        .await;
    let login = || async {
        let started = Instant::now();
        let reply = server
            .graphql(
                "mutation { userLogin(username: \"ada\", password: \"pw\") { accessToken } }",
                json!({}),
            )
            .await;
        assert_eq!(reply["data"]["userLogin"]["accessToken"], "t", "{reply}");
        started.elapsed()
    };
    let sample = || async {
        let mut times = Vec::new();
        for _ in 0..30 {
            times.push(login().await);
        }
        times.sort();
        (times[times.len() / 2], times[times.len() - 1])
    };
    let (quiet_median, quiet_max) = sample().await;

    // One spinning guest per core, each started on some request-serving thread. They spin
    // for the action's timeout, made 3 s here so that the whole sample falls inside it even on
    // a loaded machine (at 1 s, a slow sample once outlasted the spinning).
    const SPIN: Duration = Duration::from_secs(3);
    server
        .metadata_ok(
            json!({"type": "update_action", "args": {"name": "misbehave", "definition": {
            "kind": "synchronous", "type": "mutation",
            "arguments": [{"name": "mode", "type": "String!"}],
            "output_type": "UserInfo", "handler": "wasm://hostile", "timeout": SPIN.as_secs()}}}),
        )
        .await;
    let spinners = spin_guests(&server, 4);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let spun = Instant::now();
    let (busy_median, busy_max) = sample().await;
    assert!(
        spun.elapsed() < SPIN - Duration::from_millis(200),
        "the sample must fall while the guests spin: {:?}",
        spun.elapsed()
    );
    for spinner in spinners {
        let _ = spinner.await;
    }
    eprintln!(
        "unrelated call: median {quiet_median:?} → {busy_median:?}, max {quiet_max:?} → {busy_max:?}"
    );
    assert!(
        busy_median <= quiet_median + Duration::from_millis(10),
        "median {quiet_median:?} → {busy_median:?} while guests spin"
    );
    assert!(
        busy_max <= quiet_max + Duration::from_millis(100),
        "max {quiet_max:?} → {busy_max:?} while guests spin"
    );
    server.stop().await;
}

fn resident_mib_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

/// Uploads are compiled in a child process within a time and a memory budget. The Python
/// guest (18 MB; compiling it takes seconds and hundreds of MiB) stands for a compile bomb
/// under budgets it exceeds: it is refused with the reason, nothing is stored, and the
/// server's own memory does not move. The Rust guest fits the same budgets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_over_its_compile_budget_is_refused_and_the_server_keeps_its_memory() {
    use crate::harness::{ServerProcess, guest_wasm, guests, http_client};
    let Some(python) = guests::USER_LOGIN_PY else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the Python guest is required under CI=true"
        );
        eprintln!("skipping: componentize-py was not available when the tests were built");
        return;
    };
    let python = std::fs::read(python).expect("read the Python guest");
    let rust = guest_wasm("user-login");
    for (budget, over) in [
        (
            [
                ("HOOKWING_WASM__COMPILE_TIMEOUT_SECS", "1"),
                ("HOOKWING_WASM__COMPILE_MEMORY_MIB", "2048"),
            ],
            "longer than 1 s",
        ),
        (
            [
                ("HOOKWING_WASM__COMPILE_TIMEOUT_SECS", "60"),
                ("HOOKWING_WASM__COMPILE_MEMORY_MIB", "150"),
            ],
            "more than 150 MiB",
        ),
    ] {
        let db = TestDb::new(Backend::Sqlite).await;
        let cache = tempfile::tempdir().expect("cache dir");
        let server = ServerProcess::start_with(&db.url, cache.path(), &budget).await;
        let client = http_client();
        let upload = |name: &'static str, wasm: &[u8]| {
            let request = client
                .put(format!("{}/v1/handlers/{name}", server.url))
                .body(wasm.to_vec());
            async move {
                let response = request.send().await.expect("upload");
                let status = response.status().as_u16();
                (status, response.json::<Value>().await.expect("JSON"))
            }
        };
        let before = resident_mib_of(server.pid());
        let started = std::time::Instant::now();
        let (status, body) = upload("python", &python).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["code"], "compile-budget-exceeded", "{body}");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(message.contains(over), "{body}");
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
        let after = resident_mib_of(server.pid());
        assert!(
            after <= before + 100,
            "the server grew from {before} to {after} MiB while refusing the upload"
        );
        let (status, body) = upload("user-login", &rust).await;
        assert_eq!(status, 200, "the Rust guest fits the budget: {body}");
        let list: Value = client
            .get(format!("{}/v1/handlers", server.url))
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("JSON");
        let names: Vec<&str> = list["handlers"]
            .as_array()
            .expect("handlers")
            .iter()
            .filter_map(|h| h["name"].as_str())
            .collect();
        assert_eq!(
            names,
            ["user-login"],
            "nothing of the refused upload was stored: {list}"
        );
    }
}
