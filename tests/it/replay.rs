//! Replaying stored events: against the active version, the version that ran them, a pinned
//! version or a webhook; compared with the stored result; recorded only when asked; one event
//! or a selection, streamed; through the API and the `hookwing events replay` command.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{
    Backend, Reply, TestDb, TestServer, WebhookServer, enrich_metadata, login_types,
    on_both_backends,
};

on_both_backends!(
    a_replay_runs_the_chosen_handler_and_records_nothing,
    a_recorded_replay_is_one_more_attempt_of_the_event,
    a_bulk_replay_streams_one_line_per_event_then_a_summary,
    bad_replays_are_refused_with_a_code_and_change_nothing,
    the_command_line_replays_through_the_server,
    a_recorded_replay_answers_from_the_recording_and_calls_nobody,
);

/// An action on `wasm://svc` whose argument picks the conformance guest's scenario.
async fn scenario_action(server: &TestServer, name: &str, kind: &str) {
    server
        .metadata_ok(
            json!({"type": "create_action", "args": {"name": name, "definition": {
                "kind": kind,
                "arguments": [{"name": "scenario", "type": "String!"}],
                "output_type": "UserInfo",
                "handler": "wasm://svc",
                "retry": {"max_attempts": 1}
            }}}),
        )
        .await;
}

async fn replay(server: &TestServer, id: &str, body: Value) -> (u16, Value) {
    let response = server
        .with_admin(
            server
                .client
                .post(format!("{}/v1/events/{id}/replay", server.url)),
        )
        .json(&body)
        .send()
        .await
        .expect("replay request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

async fn event(server: &TestServer, id: &str) -> Value {
    let (status, event) = server
        .admin_request(Method::GET, &format!("/v1/events/{id}"))
        .await;
    assert_eq!(status, 200, "{event}");
    event
}

/// The id of the newest event of `action`.
async fn newest(server: &TestServer, action: &str) -> String {
    let (_, listed) = server
        .admin_request(Method::GET, &format!("/v1/events?action={action}&limit=1"))
        .await;
    listed["events"][0]["id"]
        .as_str()
        .expect("an event")
        .to_owned()
}

/// A failed synchronous call, replayed: by default against the active version, or the one
/// that ran it, or a pinned one, or a webhook — each answer compared with the stored error,
/// and the event left exactly as it was.
async fn a_replay_runs_the_chosen_handler_and_records_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let v1 = server.upload_guest("svc", "conformance", json!({})).await;
    let v1 = v1["sha256"].as_str().expect("sha").to_owned();
    server.metadata_ok(login_types()).await;
    scenario_action(&server, "svcCall", "synchronous").await;

    // Attempt 1 of "fail-then-succeed" fails, and the policy allows no other.
    let answer = server
        .graphql(
            r#"mutation { svcCall(scenario: "fail-then-succeed") { accessToken } }"#,
            json!({}),
        )
        .await;
    assert!(answer["errors"].is_array(), "{answer}");
    let id = newest(&server, "svcCall").await;
    let before = event(&server, &id).await;
    assert_eq!(
        (before["status"].as_str(), before["attempts"].as_i64()),
        (Some("error"), Some(1))
    );

    // The replay is the event's next attempt, 2, which this scenario answers.
    let (status, replayed) = replay(&server, &id, json!({})).await;
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(replayed["outcome"], "success", "{replayed}");
    assert_eq!(
        replayed["result"],
        json!({"output": {"accessToken": "t-2", "userId": 2}})
    );
    assert_eq!(replayed["stored"]["errors"], before["errors"]);
    assert_eq!(replayed["same"], false);
    assert!(
        !replayed["diff"]
            .as_array()
            .expect("a JSON Patch")
            .is_empty(),
        "{replayed}"
    );
    assert_eq!(replayed["handler"], format!("wasm://svc@{v1}"));
    assert_eq!(replayed["handler_version"], v1.as_str());
    assert_eq!(replayed["recorded"], false);
    assert_eq!(replayed["attempt"]["attempt"], 2);
    assert_eq!(
        event(&server, &id).await,
        before,
        "a replay records nothing"
    );

    // A new version becomes active: `current` runs it, `same` and a pin run the first.
    let v2 = server.upload_guest("svc", "user-login", json!({})).await;
    let v2 = v2["sha256"].as_str().expect("sha").to_owned();
    let (_, current) = replay(&server, &id, json!({"handler": "current"})).await;
    assert_eq!(current["handler_version"], v2.as_str(), "{current}");
    assert_eq!(current["outcome"], "rejected", "{current}");
    let (_, same) = replay(&server, &id, json!({"handler": "same"})).await;
    assert_eq!(same["handler_version"], v1.as_str(), "{same}");
    assert_eq!(same["outcome"], "success", "{same}");
    let (_, pinned) = replay(
        &server,
        &id,
        json!({"handler": format!("wasm://svc@{}", &v1[..12])}),
    )
    .await;
    assert_eq!(pinned["handler_version"], v1.as_str(), "{pinned}");

    // A webhook with the same contract gets the stored event as a delivery would send it.
    let webhook = WebhookServer::start(|_, _| {
        Reply::json(200, json!({"accessToken": "from-webhook", "userId": 9}))
    })
    .await;
    let (status, hooked) = replay(&server, &id, json!({"handler": webhook.url})).await;
    assert_eq!(status, 200, "{hooked}");
    assert_eq!(
        hooked["result"]["output"]["accessToken"], "from-webhook",
        "{hooked}"
    );
    assert_eq!(hooked["handler"], webhook.url.as_str());
    assert_eq!(hooked["handler_version"], Value::Null);
    let sent = webhook.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].body["input"],
        json!({"scenario": "fail-then-succeed"})
    );
    assert_eq!(sent[0].body["action"]["name"], "svcCall");

    assert_eq!(
        event(&server, &id).await,
        before,
        "no replay recorded anything"
    );
    assert_eq!(
        attempts_counted(&server, "svcCall").await,
        1.0,
        "/metrics counts the one attempt, not the replays"
    );
    server.stop().await;
}

/// How many attempts of `action` `/metrics` counts, over every handler and outcome.
async fn attempts_counted(server: &TestServer, action: &str) -> f64 {
    let scrape = server.scrape_metrics().await;
    scrape
        .samples
        .iter()
        .filter(|sample| {
            sample.metric == "hookwing_attempt_duration_seconds"
                && sample.labels.get("action") == Some(action)
        })
        .map(|sample| match &sample.value {
            prometheus_parse::Value::Histogram(buckets) => {
                buckets.last().map_or(0.0, |bucket| bucket.count)
            }
            _ => 0.0,
        })
        .sum()
}

/// Asked to record, a replay is stored as the event's next attempt and its result becomes the
/// event's; an asynchronous event's subscribers see it like any result.
async fn a_recorded_replay_is_one_more_attempt_of_the_event(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let (v1, id) = failed_async_event(&server).await;

    let (status, replayed) = replay(&server, &id, json!({"record": true})).await;
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(replayed["recorded"], true);
    let fixed = event(&server, &id).await;
    assert_eq!(fixed["status"], "completed", "{fixed}");
    assert_eq!(fixed["attempts"], 2);
    assert_eq!(
        fixed["response_payload"],
        json!({"accessToken": "t-2", "userId": 2})
    );
    assert_eq!(fixed["errors"], Value::Null);
    let log = fixed["attempt_log"].as_array().expect("attempts");
    assert_eq!(log.len(), 2);
    assert_eq!(log[1]["outcome"], "success");
    assert_eq!(log[1]["handler_version"], v1.as_str());
    // The async result is what a client reads through the action's query too.
    let read = server
        .graphql(
            &format!(r#"query {{ svcAsync(id: "{id}") {{ output {{ accessToken }} errors }} }}"#),
            json!({}),
        )
        .await;
    assert_eq!(
        read["data"]["svcAsync"]["output"]["accessToken"], "t-2",
        "{read}"
    );

    // A second recorded replay: attempt 3, which now compares against attempt 2's result.
    let (_, again) = replay(&server, &id, json!({"record": true})).await;
    assert_eq!(again["attempt"]["attempt"], 3, "{again}");
    assert_eq!(
        again["stored"],
        json!({"output": {"accessToken": "t-2", "userId": 2}})
    );
    assert_eq!(
        again["result"],
        json!({"output": {"accessToken": "t-3", "userId": 3}})
    );
    assert_eq!(
        again["diff"],
        json!([{"op": "replace", "path": "/output/accessToken", "value": "t-3"},
               {"op": "replace", "path": "/output/userId", "value": 3}]),
    );
    assert_eq!(event(&server, &id).await["attempts"], 3);
    assert_eq!(
        attempts_counted(&server, "svcAsync").await,
        3.0,
        "a recorded replay is counted like any attempt"
    );
    server.stop().await;
}

/// An asynchronous `svcAsync` call whose only attempt failed (attempt 1 of the conformance
/// guest's "fail-then-succeed"); returns the version that ran it and the event's id.
async fn failed_async_event(server: &TestServer) -> (String, String) {
    let v1 = server.upload_guest("svc", "conformance", json!({})).await;
    server.metadata_ok(login_types()).await;
    scenario_action(server, "svcAsync", "asynchronous").await;
    let created = server
        .graphql(
            r#"mutation { svcAsync(scenario: "fail-then-succeed") }"#,
            json!({}),
        )
        .await;
    let id = created["data"]["svcAsync"]
        .as_str()
        .expect("an id")
        .to_owned();
    let failed = server.event_when(&id, |e| e["status"] == "error").await;
    assert_eq!(failed["attempts"], 1, "{failed}");
    (v1["sha256"].as_str().expect("sha").to_owned(), id)
}

/// Reads a bulk replay's NDJSON lines.
async fn replay_selection(
    server: &TestServer,
    query: &str,
    body: Value,
) -> (u16, String, Vec<Value>) {
    let response = server
        .with_admin(
            server
                .client
                .post(format!("{}/v1/events/replay?{query}", server.url)),
        )
        .json(&body)
        .send()
        .await
        .expect("bulk replay");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.expect("body");
    let lines = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect();
    (status, content_type, lines)
}

/// A selection replayed: a line per event, in the selection's order, then a summary.
async fn a_bulk_replay_streams_one_line_per_event_then_a_summary(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    server.upload_guest("svc", "conformance", json!({})).await;
    server.metadata_ok(login_types()).await;
    scenario_action(&server, "svcAsync", "asynchronous").await;
    let mut ids = Vec::new();
    for scenario in ["success", "success", "reject"] {
        let created = server
            .graphql(
                &format!(r#"mutation {{ svcAsync(scenario: "{scenario}") }}"#),
                json!({}),
            )
            .await;
        ids.push(
            created["data"]["svcAsync"]
                .as_str()
                .expect("an id")
                .to_owned(),
        );
    }
    for id in &ids {
        server
            .event_when(id, |e| e["status"] == "completed" || e["status"] == "error")
            .await;
    }

    // The same version again: every result is the same.
    let (status, content_type, lines) =
        replay_selection(&server, "action=svcAsync", json!({"handler": "same"})).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/x-ndjson");
    assert_eq!(lines.len(), 4, "{lines:?}");
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    let replayed: Vec<&str> = lines[..3]
        .iter()
        .map(|l| l["event_id"].as_str().expect("id"))
        .collect();
    assert_eq!(replayed, newest_first);
    for (index, line) in lines[..3].iter().enumerate() {
        assert_eq!(
            (line["index"].as_u64(), line["total"].as_u64()),
            (Some(index as u64), Some(3))
        );
        assert_eq!(line["same"], true, "{line}");
    }
    assert_eq!(
        lines[3],
        json!({"done": true, "replayed": 3, "same": 3, "different": 0, "failed": 0})
    );

    // Another version: the two outputs differ (the login component refuses this input), and
    // so does one of the two rejections' messages.
    server.upload_guest("svc", "user-login", json!({})).await;
    let (_, _, lines) =
        replay_selection(&server, "action=svcAsync&status=completed", json!({})).await;
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[..2]
            .iter()
            .all(|l| l["same"] == false && l["outcome"] == "rejected"),
        "{lines:?}"
    );
    assert_eq!(lines[2]["different"], 2);

    // Nothing selected: the summary alone.
    let (status, _, lines) = replay_selection(&server, "action=nothing", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        lines,
        vec![json!({"done": true, "replayed": 0, "same": 0, "different": 0, "failed": 0})]
    );
    server.stop().await;
}

async fn bad_replays_are_refused_with_a_code_and_change_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    server.upload_guest("svc", "conformance", json!({})).await;
    server.metadata_ok(login_types()).await;
    scenario_action(&server, "svcCall", "synchronous").await;
    server
        .graphql(
            r#"mutation { svcCall(scenario: "success") { accessToken } }"#,
            json!({}),
        )
        .await;
    let id = newest(&server, "svcCall").await;
    let before = event(&server, &id).await;

    for (body, status, code) in [
        (json!({"handler": "wasm://missing"}), 400, "invalid-handler"),
        (
            json!({"handler": "ftp://example.com"}),
            400,
            "invalid-handler",
        ),
        (
            json!({"handler": "http://{{NOT_SET_ANYWHERE}}/x"}),
            400,
            "invalid-handler",
        ),
        (json!({"handlr": "current"}), 400, "invalid-request"),
        (json!({"record": "yes"}), 400, "invalid-request"),
    ] {
        let (got, reply) = replay(&server, &id, body.clone()).await;
        assert_eq!(
            (got, reply["code"].as_str()),
            (status, Some(code)),
            "{body}: {reply}"
        );
    }
    let (got, reply) = replay(&server, "0190b6a4-0000-7000-8000-000000000000", json!({})).await;
    assert_eq!(
        (got, reply["code"].as_str()),
        (404, Some("not-exists")),
        "{reply}"
    );
    let (got, reply) = replay(&server, "not-a-uuid", json!({})).await;
    assert_eq!(
        (got, reply["code"].as_str()),
        (400, Some("invalid-request")),
        "{reply}"
    );

    // The action is gone: nothing to replay it with.
    server
        .metadata_ok(
            json!({"type": "drop_action", "args": {"name": "svcCall", "clear_data": false}}),
        )
        .await;
    let (got, reply) = replay(&server, &id, json!({})).await;
    assert_eq!(
        (got, reply["code"].as_str()),
        (409, Some("action-removed")),
        "{reply}"
    );
    assert_eq!(event(&server, &id).await, before);
    server.stop().await;
}

/// `hookwing events replay` against a running server: one event as JSON, a selection as a line
/// per event; `--record` stores it.
async fn the_command_line_replays_through_the_server(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let (_, id) = failed_async_event(&server).await;

    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_hookwing-under-test"))
            .args(args)
            .args(["--server", &server.url])
            .env_remove("HOOKWING_ADMIN_SECRET")
            .output()
            .expect("run hookwing");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&["events", "replay", &id]);
    assert_eq!(code, Some(0), "{stderr}");
    let one: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(one["outcome"], "success", "{one}");
    assert_eq!(one["recorded"], false);

    let (code, stdout, stderr) = run(&[
        "events",
        "replay",
        "--action",
        "svcAsync",
        "--handler",
        "same",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.starts_with(&format!(
            "[1/1] {id} svcAsync different (success, wasm://svc@"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("diff: ["), "{stdout}");
    assert_eq!(
        event(&server, &id).await["status"],
        "error",
        "nothing recorded"
    );

    let (code, _, stderr) = run(&["events", "replay", &id, "--record"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(event(&server, &id).await["status"], "completed");

    let (code, _, stderr) = run(&["events", "replay", &id, "--mode", "recorded"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("no attempt with recorded exchanges"),
        "{stderr}"
    );

    let (code, _, stderr) = run(&["events", "replay", &id, "--handler", "wasm://missing"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("no wasm handler `missing`"), "{stderr}");
    server.stop().await;
}

/// A handler that records its outbound requests: a replay in `recorded` mode gets the same
/// answers from the recording without the API being called again; a request the recording
/// lacks fails the replay and says which; without a recording, or with a webhook, there is
/// nothing to replay from.
async fn a_recorded_replay_answers_from_the_recording_and_calls_nobody(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let api = WebhookServer::start(|request, _| match request.path.as_str() {
        "/postcodes/FR/75001" => Reply::json(200, json!({"city": "Paris", "region": "IDF"})),
        _ => Reply::json(404, json!({})),
    })
    .await;
    let config = |api_url: String, record: bool| {
        json!({"allowed_hosts": [api.url.trim_start_matches("http://")],
               "allow_private_network": true, "record_outbound_http": record,
               "config": {"api_url": api_url}})
    };
    let uploaded = server
        .upload_guest("enrich", "enrich-address", config(api.url.clone(), true))
        .await;
    assert_eq!(
        uploaded["config"]["record_outbound_http"], true,
        "{uploaded}"
    );
    server.metadata_ok(enrich_metadata("enrich")).await;
    let answer = server
        .graphql(
            r#"{ enrichAddress(country: "fr", postcode: "75001") { city } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        answer,
        json!({"data": {"enrichAddress": {"city": "Paris"}}})
    );
    assert_eq!(api.requests().len(), 1);
    let id = newest(&server, "enrichAddress").await;
    let stored = event(&server, &id).await;
    let exchanges = &stored["attempt_log"][0]["http_exchanges"];
    assert_eq!(exchanges.as_array().map(Vec::len), Some(1), "{stored}");
    assert_eq!(exchanges[0]["method"], "GET");
    assert_eq!(
        exchanges[0]["url"],
        format!("{}/postcodes/FR/75001", api.url)
    );
    assert_eq!(exchanges[0]["status"], 200);
    let body: Value = serde_json::from_str(
        exchanges[0]["response_body"]["text"]
            .as_str()
            .expect("a text body"),
    )
    .expect("JSON");
    assert_eq!(body, json!({"city": "Paris", "region": "IDF"}));

    // From the recording: the same result, and the API is not called.
    let (status, replayed) = replay(&server, &id, json!({"mode": "recorded"})).await;
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(
        (replayed["mode"].as_str(), replayed["same"].as_bool()),
        (Some("recorded"), Some(true)),
        "{replayed}"
    );
    assert_eq!(api.requests().len(), 1, "a recorded replay called the API");
    // Live, for comparison: the API is called.
    let (_, live) = replay(&server, &id, json!({"mode": "live"})).await;
    assert_eq!(live["same"], true, "{live}");
    assert_eq!(api.requests().len(), 2);

    // A build that asks for something else finds nothing recorded for it, and says so.
    server
        .upload_guest(
            "enrich-v2",
            "enrich-address",
            config(format!("{}/v2", api.url), false),
        )
        .await;
    let (status, missed) = replay(
        &server,
        &id,
        json!({"mode": "recorded", "handler": "wasm://enrich-v2"}),
    )
    .await;
    assert_eq!(status, 200, "{missed}");
    assert_eq!(missed["outcome"], "failed", "{missed}");
    let detail = missed["attempt"]["detail"].as_str().expect("a reason");
    assert!(
        detail.contains(&format!(
            "the recording has no GET {}/v2/postcodes/FR/75001",
            api.url
        )),
        "{detail}"
    );
    assert_eq!(missed["same"], false);
    assert_eq!(api.requests().len(), 2, "nothing went out");

    let (status, none) = replay(&server, &id, json!({"mode": "recorded", "from_attempt": 7})).await;
    assert_eq!(
        (status, none["code"].as_str()),
        (409, Some("not-recorded")),
        "{none}"
    );

    // An event of a handler that does not record has nothing to replay from.
    server
        .metadata_ok(
            json!({"type": "update_action", "args": {"name": "enrichAddress", "definition": {
            "type": "query", "output_type": "Address", "handler": "wasm://enrich-v2",
            "arguments": [{"name": "country", "type": "String!"},
                          {"name": "postcode", "type": "String!"}]}}}),
        )
        .await;
    server
        .graphql(
            r#"{ enrichAddress(country: "fr", postcode: "75001") { city } }"#,
            json!({}),
        )
        .await;
    let unrecorded = newest(&server, "enrichAddress").await;
    assert_ne!(unrecorded, id);
    let (status, refused) = replay(&server, &unrecorded, json!({"mode": "recorded"})).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("not-recorded")),
        "{refused}"
    );

    // A webhook's requests never pass through the host: recorded mode needs a component.
    let (status, refused) = replay(
        &server,
        &id,
        json!({"mode": "recorded", "handler": api.url}),
    )
    .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("invalid-handler")),
        "{refused}"
    );
    let (status, refused) = replay(&server, &id, json!({"mode": "replayed"})).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("invalid-request")),
        "{refused}"
    );
    server.stop().await;
}
