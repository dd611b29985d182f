//! Operating the event store: failed events are visible with every attempt, can be
//! redelivered with a fresh retry budget (one, or a selection by action, status and time), and
//! finished events are cleared by hand (one, or a selection) or by the retention setting.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Backend, Reply, TestDb, TestServer, WebhookServer, on_both_backends};

on_both_backends!(
    failed_events_are_listed_with_attempts_and_can_be_redelivered,
    finished_events_are_cleared_by_action_or_by_retention,
    a_selection_of_events_is_read_redelivered_and_deleted,
);

fn metadata(url: &str) -> Value {
    json!({"type": "bulk", "args": [
        {"type": "set_custom_types", "args": {"objects": [{"name": "UserInfo", "fields": [
            {"name": "accessToken", "type": "String!"}, {"name": "userId", "type": "Int!"}]}]}},
        {"type": "create_action", "args": {"name": "asyncLogin", "definition": {
            "kind": "asynchronous", "arguments": [{"name": "username", "type": "String!"}],
            "output_type": "UserInfo", "handler": format!("{url}/login"),
            "retry": {"max_attempts": 1}}}},
        {"type": "create_action", "args": {"name": "syncLogin", "definition": {
            "arguments": [{"name": "username", "type": "String!"}],
            "output_type": "UserInfo", "handler": format!("{url}/login")}}}
    ]})
}

async fn settle(server: &TestServer, status: &str, count: usize) -> Value {
    for _ in 0..200 {
        let (_, listed) = server
            .admin_request(
                Method::GET,
                &format!("/v1/events?action=asyncLogin&status={status}"),
            )
            .await;
        if listed["events"]
            .as_array()
            .is_some_and(|e| e.len() == count)
        {
            return listed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never reached {count} {status} events");
}

async fn failed_events_are_listed_with_attempts_and_can_be_redelivered(backend: Backend) {
    let webhook = WebhookServer::start(|_, earlier| match earlier {
        0 => Reply::json(
            400,
            json!({"message": "not yet", "extensions": {"code": "later"}}),
        ),
        _ => Reply::json(200, json!({"accessToken": "second time", "userId": 2})),
    })
    .await;
    let db = TestDb::new(backend).await;
    let server = TestServer::start_with(&db, |c| c.admin_secret = Some("s3cret".into())).await;
    server.metadata_ok(metadata(&webhook.url)).await;
    let (_, created) = server
        .graphql_raw(
            json!({"query": "mutation { asyncLogin(username: \"ada\") }"}),
            &[],
        )
        .await;
    let id = created["data"]["asyncLogin"]
        .as_str()
        .expect("id")
        .to_owned();

    let dead = settle(&server, "error", 1).await;
    let event = &dead["events"][0];
    assert_eq!(event["id"], id.as_str());
    assert_eq!(event["errors"][0]["extensions"]["code"], "later");
    assert_eq!(event["attempt_log"][0]["outcome"], "rejected");
    assert_eq!(event["attempt_log"][0]["status_code"], 400);

    let (status, body) = server
        .admin_request(Method::POST, &format!("/v1/events/{id}/redeliver"))
        .await;
    assert_eq!(status, 200, "{body}");
    let done = settle(&server, "completed", 1).await;
    let event = &done["events"][0];
    assert_eq!(
        event["response_payload"],
        json!({"accessToken": "second time", "userId": 2})
    );
    let outcomes: Vec<&Value> = event["attempt_log"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| &a["outcome"])
        .collect();
    assert_eq!(
        outcomes,
        [&json!("rejected"), &json!("success")],
        "history is kept, the budget is fresh"
    );

    // Only finished asynchronous events are redelivered.
    let (status, _) = server
        .admin_request(
            Method::POST,
            "/v1/events/0193a1b2-0000-7000-8000-000000000000/redeliver",
        )
        .await;
    assert_eq!(status, 404);
    server
        .graphql(
            "mutation { syncLogin(username: \"bob\") { userId } }",
            json!({}),
        )
        .await;
    let sync_id = db.events("syncLogin").await[0].id;
    let (status, body) = server
        .admin_request(Method::POST, &format!("/v1/events/{sync_id}/redeliver"))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("not-supported"))
    );

    // Operators only.
    let anonymous = server
        .client
        .get(format!("{}/v1/events", server.url))
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status().as_u16(), 401);
    server.stop().await;
}

async fn finished_events_are_cleared_by_action_or_by_retention(backend: Backend) {
    let webhook = WebhookServer::login_ok().await;
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    server.metadata_ok(metadata(&webhook.url)).await;
    for _ in 0..3 {
        server
            .graphql("mutation { asyncLogin(username: \"ada\") }", json!({}))
            .await;
    }
    server
        .graphql(
            "mutation { syncLogin(username: \"bob\") { userId } }",
            json!({}),
        )
        .await;
    settle(&server, "completed", 3).await;

    let (_, kept) = server
        .admin_request(
            Method::DELETE,
            "/v1/events?action=asyncLogin&older_than_secs=3600",
        )
        .await;
    assert_eq!(kept, json!({"deleted": 0}), "nothing is an hour old");
    let (_, cleared) = server
        .admin_request(Method::DELETE, "/v1/events?action=asyncLogin")
        .await;
    assert_eq!(cleared, json!({"deleted": 3}));
    assert!(db.events("asyncLogin").await.is_empty());
    assert_eq!(
        db.events("syncLogin").await.len(),
        1,
        "other actions are untouched"
    );
    let (status, _) = server
        .admin_request(Method::DELETE, "/v1/events?status=nonsense")
        .await;
    assert_eq!(status, 400);
    server.stop().await;

    let server = TestServer::start_with(&db, |c| c.delivery.retention_secs = 1).await;
    server
        .graphql("mutation { asyncLogin(username: \"ada\") }", json!({}))
        .await;
    for _ in 0..100 {
        if db.events("asyncLogin").await.is_empty() && db.events("syncLogin").await.is_empty() {
            server.stop().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("retention did not delete finished events");
}

/// A command that fails says so once, one line per cause, with exit code 1 and no backtrace,
/// even with `RUST_BACKTRACE` set; a usage error exits with 2.
#[test]
fn command_line_errors_are_one_readable_message() {
    let dir = tempfile::tempdir().expect("dir");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hookwing-under-test"))
            .args(args)
            .env("RUST_BACKTRACE", "1")
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/db.sqlite", dir.path().display()),
            )
            .output()
            .expect("run hookwing")
    };
    let missing = dir.path().join("no-such-metadata");
    let failed = run(&["metadata", "apply", missing.to_str().expect("utf-8 path")]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(1), "{stderr}");
    let message: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("error:") || line.starts_with("  caused by:"))
        .collect();
    assert!(
        !message.is_empty() && message[0].starts_with("error: "),
        "{stderr}"
    );
    assert!(!stderr.contains("stack backtrace"), "{stderr}");
    assert!(!stderr.contains("Caused by:"), "{stderr}");
    let mut seen = std::collections::HashSet::new();
    for line in &message {
        assert!(seen.insert(*line), "printed twice: {stderr}");
    }
    let usage = run(&["metadata", "frobnicate"]);
    assert_eq!(usage.status.code(), Some(2));
}

fn hookwing(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hookwing-under-test"));
    command.args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("run hookwing")
}

/// Flags work where `--help` shows them, and a bad value is named as the user wrote it.
#[test]
fn flags_work_where_help_shows_them_and_bad_values_are_named() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}/db.sqlite", dir.path().display());
    let exported = dir.path().join("exported");
    let exported = exported.to_str().expect("utf-8");
    // `--database-url` before the command, or after it.
    for args in [
        vec!["--database-url", &url, "metadata", "export", exported],
        vec!["metadata", "export", exported, "--database-url", &url],
    ] {
        let output = hookwing(&args, &[]);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // A flag of `serve` before another command is a usage error, not silently ignored.
    let misplaced = hookwing(
        &["--listen", "127.0.0.1:1", "metadata", "export", exported],
        &[],
    );
    assert_eq!(misplaced.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&misplaced.stderr).contains("--listen is a flag of `serve`"));
    let misplaced = hookwing(
        &["--metadata-dir-overwrite", "metadata", "export", exported],
        &[],
    );
    assert_eq!(misplaced.status.code(), Some(2));
    // A bad value names the flag or the variable it came from.
    let flag = hookwing(&["--listen", "nope"], &[]);
    let stderr = String::from_utf8_lossy(&flag.stderr);
    assert_eq!(flag.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--listen: invalid socket address"),
        "{stderr}"
    );
    assert!(!stderr.contains(".rs:"), "no source locations: {stderr}");
    let variable = hookwing(&[], &[("HOOKWING_DELIVERY__CONCURRENCY", "many")]);
    let stderr = String::from_utf8_lossy(&variable.stderr);
    assert!(
        stderr.contains("HOOKWING_DELIVERY__CONCURRENCY: invalid type"),
        "{stderr}"
    );
}

/// `hookwing handlers upload|list|delete` against a running server with an admin secret, with a
/// handler config holding characters a header cannot carry as they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handlers_commands_manage_a_running_servers_components() {
    let db = crate::harness::TestDb::new(crate::harness::Backend::Sqlite).await;
    let server = crate::harness::TestServer::start_with(&db, |config| {
        config.admin_secret = Some("s3cret".into());
    })
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let wasm = dir.path().join("user_login.wasm");
    std::fs::write(&wasm, crate::harness::guest_wasm("user-login")).expect("write wasm");
    let config = dir.path().join("login.json");
    std::fs::write(
        &config,
        r#"{"config": {"greeting": "héllo… 🍣"}, "max_concurrency": 2}"#,
    )
    .expect("write config");
    let base = ["--server", &server.url, "--admin-secret", "s3cret"];
    let run = |args: &[&str]| {
        let output = hookwing(&[&["handlers"][..], args, &base[..]].concat(), &[]);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&output.stdout).expect("JSON on stdout")
    };
    let uploaded = run(&[
        "upload",
        "login",
        wasm.to_str().expect("utf-8"),
        "--handler-config",
        config.to_str().expect("utf-8"),
    ]);
    assert_eq!(uploaded["name"], "login", "{uploaded}");
    let (status, shown) = server.handlers_api(reqwest::Method::GET, "/login").await;
    assert_eq!(status, 200, "{shown}");
    assert!(
        shown.to_string().contains("héllo… 🍣"),
        "the config arrived intact: {shown}"
    );
    let listed = run(&["list"]);
    assert_eq!(listed["handlers"][0]["name"], "login");
    run(&["delete", "login"]);
    assert_eq!(run(&["list"])["handlers"], serde_json::json!([]));
    // Without the secret, the server says no, and the command fails.
    let refused = hookwing(&["handlers", "list", "--server", &server.url], &[]);
    assert_eq!(refused.status.code(), Some(1));
    server.stop().await;
}

/// What an operator finds in the binary's JSON logs: one access line per request (no query
/// string, no secret), the metadata change and the upload with who made them and what
/// changed, and a warning for a failed attempt; no colour codes in a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logs_say_who_changed_what_and_every_request_when_asked() {
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let log_path = dir.path().join("hookwing.log");
    let port = crate::harness::free_port();
    let secret = "admin-secret-never-logged";
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookwing-under-test"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &db.url)
        .env("HOOKWING_ADMIN_SECRET", secret)
        .env("HOOKWING_WASM__CACHE_DIR", dir.path().join("cache"))
        .env("HOOKWING_LOG__FORMAT", "json")
        .env("HOOKWING_LOG__ACCESS", "true")
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(&log_path).expect("log file"))
        .kill_on_drop(true)
        .spawn()
        .expect("start the server");
    let url = format!("http://127.0.0.1:{port}");
    let client = crate::harness::http_client();
    for _ in 0..300 {
        if client.get(format!("{url}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let admin = |request: reqwest::RequestBuilder| request.header("x-hasura-admin-secret", secret);
    let changed = admin(client.post(format!("{url}/v1/metadata")))
        .json(&metadata("http://127.0.0.1:9"))
        .send()
        .await
        .expect("metadata");
    assert_eq!(changed.status().as_u16(), 200);
    let uploaded = admin(client.put(format!("{url}/v1/handlers/login")))
        .body(crate::harness::guest_wasm("user-login"))
        .send()
        .await
        .expect("upload");
    assert_eq!(uploaded.status().as_u16(), 200);
    // A call whose webhook is down: one failed attempt.
    let failed = admin(client.post(format!("{url}/v1/graphql")))
        .json(&json!({"query": "mutation { syncLogin(username: \"a\") { userId } }"}))
        .send()
        .await
        .expect("call");
    assert_eq!(failed.status().as_u16(), 200);
    let query = admin(client.get(format!("{url}/v1/graphql?query=%7B__typename%7D")))
        .send()
        .await
        .expect("GET query");
    assert_eq!(query.status().as_u16(), 200);
    child.kill().await.expect("stop");

    let text = std::fs::read_to_string(&log_path).expect("read the log");
    assert!(!text.contains('\u{1b}'), "colour codes in a file: {text}");
    assert!(!text.contains(secret), "a secret in the log: {text}");
    assert!(
        !text.contains("__typename"),
        "a query string in the log: {text}"
    );
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let find = |message: &str| {
        lines
            .iter()
            .find(|line| line["fields"]["message"] == message)
            .unwrap_or_else(|| panic!("no `{message}` line in {text}"))
    };
    let access: Vec<&Value> = lines
        .iter()
        .filter(|line| line["target"] == "hookwing::access")
        .collect();
    assert_eq!(
        access.len(),
        5,
        "one line per request after the health checks: {text}"
    );
    let get = access
        .iter()
        .find(|line| line["fields"]["method"] == "GET" && line["fields"]["path"] == "/v1/graphql")
        .expect("the GET query's line");
    assert_eq!(get["fields"]["status"], 200);
    assert_eq!(get["fields"]["role"], "admin");
    assert!(
        get["fields"]["duration_ms"]
            .as_f64()
            .is_some_and(|ms| ms > 0.0)
    );

    let change = find("metadata changed");
    assert_eq!(change["level"], "INFO");
    let changes = change["fields"]["changes"].as_str().unwrap_or_default();
    assert!(changes.contains("+ action syncLogin"), "{change}");
    assert_eq!(change["span"]["name"], "admin_request");
    assert_eq!(change["span"]["client"], "127.0.0.1", "{change}");
    let upload = find("wasm handler uploaded and activated");
    assert_eq!(upload["fields"]["handler"], "login");
    assert_eq!(upload["span"]["client"], "127.0.0.1");
    let attempt = lines
        .iter()
        .find(|line| line["level"] == "WARN" && line["fields"]["outcome"] == "failed")
        .unwrap_or_else(|| panic!("no failed attempt warning in {text}"));
    assert_eq!(attempt["fields"]["action"], "syncLogin");
    assert_eq!(attempt["fields"]["attempt"], 1);
    assert!(attempt["fields"]["event_id"].is_string());
    assert!(attempt["fields"]["reason"].is_string());
}

async fn a_selection_of_events_is_read_redelivered_and_deleted(backend: Backend) {
    // The first three calls are refused, later ones answered.
    let webhook = WebhookServer::start(|_, earlier| match earlier {
        0..=2 => Reply::json(400, json!({"message": "not yet"})),
        _ => Reply::json(200, json!({"accessToken": "later", "userId": 3})),
    })
    .await;
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    server.metadata_ok(metadata(&webhook.url)).await;
    let before = chrono::Utc::now() - chrono::Duration::seconds(5);
    for name in ["a", "b", "c"] {
        server
            .graphql(
                &format!("mutation {{ asyncLogin(username: \"{name}\") }}"),
                json!({}),
            )
            .await;
    }
    let failed = settle(&server, "error", 3).await;
    let ids: Vec<&str> = failed["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["id"].as_str().expect("id"))
        .collect();

    // Time bounds, in RFC 3339.
    let count = |listed: &Value| listed["events"].as_array().map_or(0, Vec::len);
    let stamp =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let later = chrono::Utc::now() + chrono::Duration::seconds(60);
    for (query, expected) in [
        (format!("since={}", stamp(before)), 3),
        (format!("since={}", stamp(later)), 0),
        (format!("until={}", stamp(before)), 0),
        (format!("since={}&until={}", stamp(before), stamp(later)), 3),
    ] {
        let (status, listed) = server
            .admin_request(
                Method::GET,
                &format!("/v1/events?action=asyncLogin&{query}"),
            )
            .await;
        assert_eq!(
            (status, count(&listed)),
            (200, expected),
            "{query}: {listed}"
        );
    }
    let (status, refused) = server
        .admin_request(Method::GET, "/v1/events?since=yesterday")
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("invalid-request")),
        "{refused}"
    );

    // One event, with its attempts.
    let (status, one) = server
        .admin_request(Method::GET, &format!("/v1/events/{}", ids[0]))
        .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["attempt_log"][0]["outcome"], "rejected");

    // Redeliver a selection: two of the three.
    let (status, refused) = server
        .admin_request(Method::POST, "/v1/events/redeliver?status=created")
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("invalid-request"))
    );
    let (status, redelivered) = server
        .admin_request(
            Method::POST,
            "/v1/events/redeliver?action=asyncLogin&status=error&limit=2",
        )
        .await;
    assert_eq!(status, 200, "{redelivered}");
    assert_eq!(
        redelivered["redelivering"].as_array().map(Vec::len),
        Some(2),
        "{redelivered}"
    );
    assert_eq!(redelivered["skipped"], 0);
    let completed = settle(&server, "completed", 2).await;
    settle(&server, "error", 1).await;

    // Delete one finished event; then the error ones by status.
    let done = completed["events"][0]["id"].as_str().expect("id");
    let (status, body) = server
        .admin_request(Method::DELETE, &format!("/v1/events/{done}"))
        .await;
    assert_eq!((status, &body["deleted"]), (200, &json!(1)), "{body}");
    let (status, _) = server
        .admin_request(Method::GET, &format!("/v1/events/{done}"))
        .await;
    assert_eq!(status, 404);
    let (status, body) = server
        .admin_request(Method::DELETE, &format!("/v1/events/{done}"))
        .await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not-exists")));
    let (status, body) = server
        .admin_request(Method::DELETE, "/v1/events?status=error")
        .await;
    assert_eq!((status, &body["deleted"]), (200, &json!(1)), "{body}");
    settle(&server, "completed", 1).await;
    server.stop().await;
}
