//! Handlers' key-value state (`hookwing:action/kv`), through a real component (the `kv-probe`
//! guest, built with the SDK) on both backends: values outlive the call, expire, stay within
//! their limits, belong to one handler, race correctly, survive a failed attempt, and are
//! left alone by a replay that records nothing. Beside it, a component built against the
//! 0.1.0 world keeps running.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Backend, TestDb, TestServer, on_both_backends};

on_both_backends!(
    state_outlives_the_call_and_expires_with_its_ttl,
    limits_refuse_with_a_kind_and_keep_what_is_stored,
    each_handler_sees_only_its_own_namespace,
    of_racing_compare_and_swaps_exactly_one_wins,
    a_retried_attempt_finds_what_the_failed_one_wrote,
    a_replay_that_records_nothing_leaves_the_state_alone,
    components_of_both_world_versions_run_side_by_side,
);

/// `kvProbe(ops): KvProbe` (named `action`) on `wasm://{handler}`, retried up to 3 times.
async fn probe_action(server: &TestServer, action: &str, handler: &str) {
    server
        .metadata_ok(json!({"type": "bulk", "args": [
            {"type": "set_custom_types", "args": {"objects": [{"name": "KvProbe",
                "fields": [{"name": "results", "type": "String!"}]}]}},
            {"type": "create_action", "args": {"name": action, "definition": {
                "type": "mutation",
                "arguments": [{"name": "ops", "type": "String!"}],
                "output_type": "KvProbe", "handler": format!("wasm://{handler}"), "timeout": 10,
                "retry": {"max_attempts": 3, "initial_interval_ms": 10, "jitter": 0}}}}
        ]}))
        .await;
}

/// Runs `ops` through `action` and returns each operation's result.
async fn probe(server: &TestServer, action: &str, ops: Value) -> Vec<Value> {
    let answer = server
        .graphql(
            &format!("mutation($ops: String!) {{ {action}(ops: $ops) {{ results }} }}"),
            json!({"ops": ops.to_string()}),
        )
        .await;
    let results = answer["data"][action]["results"]
        .as_str()
        .unwrap_or_else(|| panic!("no results: {answer}"));
    serde_json::from_str(results).expect("JSON results")
}

async fn probe_server(db: &TestDb, adjust: impl FnOnce(&mut hookwing::Config)) -> TestServer {
    let server = TestServer::start_with(db, adjust).await;
    server.upload_guest("probe", "kv-probe", json!({})).await;
    probe_action(&server, "kvProbe", "probe").await;
    server
}

/// Every operation, then a second call that sees the first one's writes, and a TTL running
/// out between calls.
async fn state_outlives_the_call_and_expires_with_its_ttl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = probe_server(&db, |_| {}).await;
    let first = probe(
        &server,
        "kvProbe",
        json!([
            {"op": "get", "key": "greeting"},
            {"op": "set", "key": "greeting", "value": "hello"},
            {"op": "get", "key": "greeting"},
            {"op": "set", "key": "short", "value": "soon gone", "ttlMs": 300},
            {"op": "cas", "key": "lock", "expected": null, "new": "a"},
            {"op": "cas", "key": "lock", "expected": null, "new": "b"},
            {"op": "cas", "key": "lock", "expected": "a", "new": "c"},
            {"op": "set", "key": "doomed", "value": "x"},
            {"op": "delete", "key": "doomed"},
            {"op": "delete", "key": "doomed"},
        ]),
    )
    .await;
    let oks: Vec<&Value> = first.iter().map(|r| &r["ok"]).collect();
    assert_eq!(
        oks,
        [
            &Value::Null,
            &Value::Null,
            &json!("hello"),
            &Value::Null,
            &json!(true),
            &json!(false),
            &json!(true),
            &Value::Null,
            &json!(true),
            &json!(false)
        ],
        "{first:?}"
    );

    let second = probe(
        &server,
        "kvProbe",
        json!([
            {"op": "get", "key": "greeting"},
            {"op": "get", "key": "short"},
            {"op": "get", "key": "lock"},
            {"op": "cas", "key": "lock", "expected": "c", "new": null},
            {"op": "get", "key": "lock"},
        ]),
    )
    .await;
    assert_eq!(second[0]["ok"], "hello");
    assert_eq!(second[1]["ok"], "soon gone");
    assert_eq!(second[2]["ok"], "c");
    assert_eq!(second[3]["ok"], true, "a swap to none deletes");
    assert_eq!(second[4]["ok"], Value::Null);
    // docs/OPERATIONS.md's query, counted.
    let listing = "SELECT key, size_bytes, expires_at FROM handler_state \
                   WHERE namespace = 'probe' ORDER BY key";
    assert_eq!(
        db.integer(&format!("SELECT COUNT(*) AS n FROM ({listing}) AS listed"))
            .await,
        2,
        "greeting and short are stored"
    );

    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let later = probe(
        &server,
        "kvProbe",
        json!([
            {"op": "get", "key": "short"},
            {"op": "cas", "key": "short", "expected": null, "new": "again"},
            {"op": "get", "key": "short"},
        ]),
    )
    .await;
    assert_eq!(later[0]["ok"], Value::Null, "expired");
    assert_eq!(later[1]["ok"], true, "an expired key counts as unset");
    assert_eq!(later[2]["ok"], "again");
    server.stop().await;
}

/// Keys, values, TTLs and the namespace's quotas, each refused with its kind; what was
/// stored stays, and deleting makes room.
async fn limits_refuse_with_a_kind_and_keep_what_is_stored(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = probe_server(&db, |config| {
        config.wasm.kv_max_value_bytes = 100;
        config.wasm.kv_max_keys = 3;
        config.wasm.kv_max_bytes = 250;
    })
    .await;
    let long_key = "k".repeat(513);
    let results = probe(
        &server,
        "kvProbe",
        json!([
            {"op": "get", "key": long_key},
            {"op": "get", "key": ""},
            {"op": "set", "key": "big", "value": "v".repeat(101)},
            {"op": "set", "key": "t", "value": "v", "ttlMs": 0},
            {"op": "fill", "prefix": "k", "count": 4, "size": 10},
        ]),
    )
    .await;
    let kinds: Vec<&Value> = results.iter().map(|r| &r["error"]["kind"]).collect();
    assert_eq!(
        kinds,
        ["invalid", "invalid", "invalid", "invalid", "quota-exceeded"],
        "{results:?}"
    );
    let quota = results[4]["error"]["message"].as_str().unwrap_or_default();
    assert!(quota.contains("wasm.kv_max_keys"), "{quota}");
    // Each refusal is counted, by operation and outcome, as a scraper reads /metrics.
    let scrape = server.scrape_metrics().await;
    let count = |operation: &str, outcome: &str| {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == "hookwing_handler_state_operation_seconds_count")
            .find(|s| {
                s.labels.get("operation") == Some(operation)
                    && s.labels.get("outcome") == Some(outcome)
            })
            .map(|s| match s.value {
                prometheus_parse::Value::Untyped(v) | prometheus_parse::Value::Counter(v) => v,
                _ => f64::NAN,
            })
    };
    assert_eq!(count("get", "invalid"), Some(2.0), "{:?}", scrape.samples);
    assert_eq!(count("set", "invalid"), Some(2.0));
    assert_eq!(count("set", "quota_exceeded"), Some(1.0));
    assert_eq!(count("set", "ok"), Some(3.0));
    assert!(
        !results.iter().any(|r| r.to_string().contains("database")),
        "no server internals reach the guest: {results:?}"
    );

    let after = probe(
        &server,
        "kvProbe",
        json!([
            {"op": "get", "key": "k2"},
            {"op": "set", "key": "k2", "value": "overwriting a key adds none"},
            {"op": "delete", "key": "k0"},
            {"op": "set", "key": "k3", "value": "fits now"},
            {"op": "set", "key": "k1", "value": "b".repeat(100)},
            {"op": "set", "key": "k1", "value": "b".repeat(90)},
        ]),
    )
    .await;
    assert_eq!(after[0]["ok"], "x".repeat(10), "{after:?}");
    assert_eq!(after[1]["ok"], Value::Null, "{after:?}");
    assert_eq!(after[3]["ok"], Value::Null, "{after:?}");
    // k2 and k3 hold 29 + 10 bytes; 102 more for k1 would make 141, fine; the byte quota of
    // 250 is reached only by a further large value.
    assert_eq!(after[4]["ok"], Value::Null, "{after:?}");
    let bytes = probe(
        &server,
        "kvProbe",
        json!([{"op": "set", "key": "k3", "value": "c".repeat(100)},
               {"op": "set", "key": "k2", "value": "c".repeat(100)}]),
    )
    .await;
    assert_eq!(bytes[0]["ok"], Value::Null, "{bytes:?}");
    assert_eq!(bytes[1]["error"]["kind"], "quota-exceeded", "{bytes:?}");
    assert!(
        bytes[1]["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("wasm.kv_max_bytes")),
        "{bytes:?}"
    );
    server.stop().await;
}

/// Two handlers (the same bytes under two names) and their actions: neither reads the
/// other's keys; deleting a handler deletes its state, not the other's.
async fn each_handler_sees_only_its_own_namespace(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = probe_server(&db, |_| {}).await;
    server.upload_guest("other", "kv-probe", json!({})).await;
    probe_action(&server, "otherProbe", "other").await;
    probe(
        &server,
        "kvProbe",
        json!([{"op": "set", "key": "secret", "value": "probe's"}]),
    )
    .await;
    let other = probe(
        &server,
        "otherProbe",
        json!([{"op": "get", "key": "secret"}, {"op": "set", "key": "secret", "value": "other's"}]),
    )
    .await;
    assert_eq!(other[0]["ok"], Value::Null, "{other:?}");
    let mine = probe(&server, "kvProbe", json!([{"op": "get", "key": "secret"}])).await;
    assert_eq!(mine[0]["ok"], "probe's");

    // Dropping the action first, so the handler may go.
    server
        .metadata_ok(json!({"type": "drop_action", "args": {"name": "otherProbe"}}))
        .await;
    let (status, body) = server.handlers_api(Method::DELETE, "/other").await;
    assert!(status < 300, "{status} {body}");
    let count = |namespace: &str| {
        format!("SELECT COUNT(*) AS n FROM handler_state WHERE namespace = '{namespace}'")
    };
    assert_eq!(db.integer(&count("other")).await, 0);
    assert_eq!(db.integer(&count("probe")).await, 1);
    server.stop().await;
}

/// Twenty calls at once, each trying to take the same lock: one takes it.
async fn of_racing_compare_and_swaps_exactly_one_wins(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = probe_server(&db, |_| {}).await;
    let calls = (0..20).map(|n| {
        probe(
            &server,
            "kvProbe",
            json!([{"op": "cas", "key": "lock", "expected": null, "new": format!("owner-{n}")}]),
        )
    });
    let results = futures::future::join_all(calls).await;
    let winners = results.iter().filter(|r| r[0]["ok"] == true).count();
    assert_eq!(winners, 1, "{results:?}");
    server.stop().await;
}

/// The idempotency pattern across retries: the first attempt records, then fails; the retry
/// finds the record. Writes are not undone by the attempt failing.
async fn a_retried_attempt_finds_what_the_failed_one_wrote(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = probe_server(&db, |_| {}).await;
    let results = probe(
        &server,
        "kvProbe",
        json!([
            {"op": "cas", "key": "charged", "expected": null, "new": "once"},
            {"op": "retry-if", "ok": true},
        ]),
    )
    .await;
    assert_eq!(
        results,
        [json!({"ok": false})],
        "the second attempt saw the first one's write"
    );
    let events = db.events("kvProbe").await;
    assert_eq!(events[0].attempts, 2);
    server.stop().await;
}

/// A replay that records nothing reads the state and sees its own writes, but the store
/// keeps what it had; a recorded replay writes like an attempt.
async fn a_replay_that_records_nothing_leaves_the_state_alone(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = probe_server(&db, |_| {}).await;
    let ops = json!([
        {"op": "get", "key": "r"},
        {"op": "set", "key": "r", "value": "written"},
        {"op": "get", "key": "r"},
        {"op": "delete", "key": "kept"},
    ]);
    probe(
        &server,
        "kvProbe",
        json!([{"op": "set", "key": "kept", "value": "k"}]),
    )
    .await;
    let original = probe(&server, "kvProbe", ops).await;
    assert_eq!(original[2]["ok"], "written");
    assert_eq!(original[3]["ok"], true);
    let id = db.events("kvProbe").await[0].id.to_string();
    // Back to the state before the call: `r` unset, `kept` set.
    probe(
        &server,
        "kvProbe",
        json!([{"op": "delete", "key": "r"}, {"op": "set", "key": "kept", "value": "k"}]),
    )
    .await;

    let replay = |body: Value| {
        let request = server.with_admin(
            server
                .client
                .post(format!("{}/v1/events/{id}/replay", server.url)),
        );
        async move {
            let response = request.json(&body).send().await.expect("replay");
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.expect("JSON")
        }
    };
    let replayed = replay(json!({})).await;
    assert_eq!(replayed["same"], true, "{replayed}");
    let now = probe(
        &server,
        "kvProbe",
        json!([{"op": "get", "key": "r"}, {"op": "get", "key": "kept"}]),
    )
    .await;
    assert_eq!(
        now[0]["ok"],
        Value::Null,
        "the replay's write stayed its own"
    );
    assert_eq!(now[1]["ok"], "k", "the replay's delete stayed its own");

    let recorded = replay(json!({"record": true})).await;
    assert_eq!(recorded["same"], true, "{recorded}");
    let now = probe(
        &server,
        "kvProbe",
        json!([{"op": "get", "key": "r"}, {"op": "get", "key": "kept"}]),
    )
    .await;
    assert_eq!(now[0]["ok"], "written", "a recorded replay writes");
    assert_eq!(now[1]["ok"], Value::Null);
    server.stop().await;
}

/// The hostile guest is built against `hookwing:action@0.1.0`, the probe against 0.2.0: both
/// load, both answer, and the handlers API says which world each implements.
async fn components_of_both_world_versions_run_side_by_side(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = probe_server(&db, |_| {}).await;
    let old = server.upload_guest("old", "hostile", json!({})).await;
    assert_eq!(
        old["world"], "hookwing:action/action-handler@0.1.0",
        "{old}"
    );
    let (_, new) = server.handlers_api(Method::GET, "/probe").await;
    assert_eq!(
        new["world"], "hookwing:action/action-handler@0.2.0",
        "{new}"
    );
    server
        .metadata_ok(json!({"type": "bulk", "args": [
            {"type": "set_custom_types", "args": {"objects": [
                {"name": "KvProbe", "fields": [{"name": "results", "type": "String!"}]},
                {"name": "Misbehaved", "fields": [{"name": "accessToken", "type": "String!"},
                                                  {"name": "userId", "type": "Int!"}]}]}},
            {"type": "create_action", "args": {"name": "oldWorld", "definition": {
                "type": "mutation", "arguments": [{"name": "mode", "type": "String!"}],
                "output_type": "Misbehaved", "handler": "wasm://old", "timeout": 5}}}
        ]}))
        .await;
    let answer = server
        .graphql(
            "mutation { oldWorld(mode: \"ok\") { accessToken userId } }",
            json!({}),
        )
        .await;
    assert_eq!(
        answer["data"]["oldWorld"]["accessToken"], "fine",
        "{answer}"
    );
    let results = probe(&server, "kvProbe", json!([{"op": "get", "key": "x"}])).await;
    assert_eq!(results, [json!({"ok": null})]);
    server.stop().await;
}
