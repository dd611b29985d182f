//! One contract, two transports: every scenario is played by a webhook and by a WebAssembly
//! component, and the GraphQL responses and the `action_log` / `action_attempt` rows must be the
//! same (modulo timings, ids and transport-specific detail such as HTTP status codes).

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Backend, Reply, TestDb, TestServer, WebhookServer, on_both_backends};

on_both_backends!(webhook_and_wasm_handlers_are_indistinguishable);

const SCENARIOS: [&str; 8] = [
    "success",
    "reject",
    "reject-plain",
    "fail-then-succeed",
    "always-fail",
    "invalid-output",
    "timeout",
    "whoami",
];

/// The webhook twin of `guest-examples/conformance`.
pub fn webhook_reply(scenario: &str, attempt: u64, session: &Value) -> Reply {
    match scenario {
        "whoami" => {
            let var = |name: &str| session[name].as_str().unwrap_or("-").to_owned();
            let token = format!("{}:{}", var("x-hasura-role"), var("x-hasura-user-id"));
            Reply::json(200, json!({"accessToken": token, "userId": 0}))
        }
        "success" => Reply::json(
            200,
            json!({"accessToken": "t-1", "userId": 7, "ignored": true}),
        ),
        "reject" => Reply::json(
            400,
            json!({"message": "no such user",
                   "extensions": {"code": "user-not-found", "hint": "sign up first"}}),
        ),
        "reject-plain" => Reply::json(400, json!({"message": "denied"})),
        "fail-then-succeed" if attempt == 1 => Reply::raw(503, "warming up"),
        "fail-then-succeed" => Reply::json(
            200,
            json!({"accessToken": format!("t-{attempt}"), "userId": attempt}),
        ),
        "always-fail" => Reply::raw(500, "down"),
        "invalid-output" => Reply::json(200, json!({"accessToken": 5})),
        "timeout" => Reply::json(200, json!({})).after(Duration::from_secs(10)),
        other => Reply::json(400, json!({"message": format!("unknown scenario {other}")})),
    }
}

/// The conformance action, handled by `handler`.
pub fn metadata(handler: &str) -> Value {
    json!({"type": "bulk", "args": [
        {"type": "set_custom_types", "args": {"objects": [{"name": "UserInfo", "fields": [
            {"name": "accessToken", "type": "String!"}, {"name": "userId", "type": "Int!"}]}]}},
        {"type": "create_action", "args": {"name": "conformance", "definition": {
            "kind": "synchronous", "type": "mutation",
            "arguments": [{"name": "scenario", "type": "String!"}],
            "output_type": "UserInfo", "handler": handler, "timeout": 2,
            "retry": {"max_attempts": 2, "initial_interval_ms": 10, "max_interval_ms": 10, "jitter": 0}}}}
    ]})
}

/// What must match between transports, per scenario: the response and the stored rows, with
/// transport-specific failure reasons removed.
async fn observe(backend: Backend, handler: impl FnOnce(&str) -> String) -> Vec<Value> {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let handler = handler(&server.url);
    if handler == "wasm://conformance" {
        server
            .upload_guest("conformance", "conformance", json!({}))
            .await;
    }
    server.metadata_ok(metadata(&handler)).await;
    let store = db.store().await;
    let mut observed = Vec::new();
    for scenario in SCENARIOS {
        let query = format!(
            "mutation {{ conformance(scenario: \"{scenario}\") {{ accessToken userId }} }}"
        );
        let mut response = server.graphql(&query, json!({})).await;
        if let Some(errors) = response.get_mut("errors") {
            strip_reasons(errors);
        }
        let events = db.events("conformance").await;
        let event = events
            .iter()
            .find(|e| e.input_payload["scenario"] == scenario)
            .expect("event");
        let mut errors = event.errors.clone().unwrap_or(Value::Null);
        strip_reasons(&mut errors);
        let attempts: Vec<Value> = store
            .attempts(event.id)
            .await
            .expect("attempts")
            .iter()
            .map(|a| json!({"attempt": a.attempt, "outcome": format!("{:?}", a.outcome)}))
            .collect();
        observed.push(json!({
            "scenario": scenario,
            "response": response,
            "event": {
                "status": format!("{:?}", event.status),
                "attempts": event.attempts,
                "input_payload": event.input_payload,
                "session_variables": event.session_variables,
                "response_payload": event.response_payload,
                "errors": errors,
                "finished": event.response_received_at.is_some(),
            },
            "attempts": attempts,
        }));
    }
    server.stop().await;
    observed
}

/// Failure reasons name the transport ("webhook returned status 503" / "wasm handler asked for
/// a retry"); everything else about an error must match.
fn strip_reasons(errors: &mut Value) {
    if let Some(errors) = errors.as_array_mut() {
        for error in errors {
            if let Some(internal) = error
                .pointer_mut("/extensions/internal")
                .and_then(Value::as_object_mut)
            {
                assert!(internal.remove("reason").is_none_or(|r| r.is_string()));
            }
        }
    }
}

async fn webhook_and_wasm_handlers_are_indistinguishable(backend: Backend) {
    let webhook = WebhookServer::start(|request, _| {
        let scenario = request.body["input"]["scenario"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        webhook_reply(
            &scenario,
            request.body["event"]["attempt"].as_u64().unwrap_or(0),
            &request.body["session_variables"],
        )
    })
    .await;
    let webhook_url = format!("{}/conformance", webhook.url);
    let via_webhook = observe(backend, |_| webhook_url).await;
    let via_wasm = observe(backend, |_| "wasm://conformance".into()).await;
    for (http, wasm) in via_webhook.iter().zip(&via_wasm) {
        assert_eq!(http, wasm, "transports differ for {}", http["scenario"]);
    }
    assert_eq!(via_webhook.len(), SCENARIOS.len());

    // The table proves something only if the scenarios really differ from each other.
    let outcomes: Vec<&Value> = via_wasm.iter().map(|o| &o["attempts"]).collect();
    assert_eq!(outcomes[0], &json!([{"attempt": 1, "outcome": "Success"}]));
    assert_eq!(outcomes[1], &json!([{"attempt": 1, "outcome": "Rejected"}]));
    assert_eq!(
        outcomes[3],
        &json!([{"attempt": 1, "outcome": "Failed"}, {"attempt": 2, "outcome": "Success"}])
    );
    assert_eq!(
        outcomes[4],
        &json!([{"attempt": 1, "outcome": "Failed"}, {"attempt": 2, "outcome": "Failed"}])
    );
    assert_eq!(
        outcomes[5],
        &json!([{"attempt": 1, "outcome": "InvalidOutput"}])
    );
    assert_eq!(outcomes[6], &json!([{"attempt": 1, "outcome": "Failed"}]));
    assert_eq!(
        via_wasm[3]["response"],
        json!({"data": {"conformance": {"accessToken": "t-2", "userId": 2}}})
    );
    assert_eq!(
        via_wasm[1]["response"]["errors"][0]["extensions"],
        json!({"code": "user-not-found", "hint": "sign up first"})
    );
    assert_eq!(
        via_wasm[2]["response"]["errors"][0]["extensions"],
        json!({"code": "unexpected", "path": "$"})
    );
    assert_eq!(
        via_wasm[5]["response"]["errors"][0]["extensions"]["code"],
        "unexpected"
    );
}
