//! `/metrics` and `/readyz`: what operators scrape.

use std::time::Duration;

use serde_json::json;

use crate::harness::{
    Backend, LOGIN_MUTATION, Reply, TestDb, TestServer, WebhookServer, async_login, login_action,
    login_server, login_types, on_both_backends,
};

on_both_backends!(metrics_count_calls_attempts_and_the_queue);

/// `GET /readyz`: status and body.
async fn readiness(server: &TestServer) -> (u16, serde_json::Value) {
    let response = server
        .client
        .get(format!("{}/readyz", server.url))
        .send()
        .await
        .expect("readyz");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

/// `chattr` on `path`: an immutable file cannot be written even by root, as a read-only file
/// or mount cannot by anyone else.
fn chattr(flag: &str, path: &str) {
    let status = std::process::Command::new("chattr")
        .args([flag, path])
        .status()
        .expect("run chattr");
    assert!(status.success(), "chattr {flag} {path}");
}

/// A store that cannot take writes is not ready: a SQLite file made read-only, or deleted
/// under the running server. The reason is a fixed text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_reflects_whether_the_sqlite_file_can_be_written() {
    let db = TestDb::new(Backend::Sqlite).await;
    let server = TestServer::start(&db).await;
    let path = db.url.trim_start_matches("sqlite://").to_owned();
    assert_eq!(readiness(&server).await.0, 200);

    chattr("+i", &path);
    let (status, body) = readiness(&server).await;
    chattr("-i", &path);
    assert_eq!(
        (status, body["reason"].as_str()),
        (503, Some("the database is read-only"))
    );
    assert_eq!(readiness(&server).await.0, 200, "ready again once writable");

    std::fs::remove_file(&path).expect("delete the database file");
    let (status, body) = readiness(&server).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (503, Some("the database file is missing or was replaced"))
    );
    server.stop().await;
}

/// A PostgreSQL database that turns read-only under a running server (its sessions
/// reconnect, as after a failover) makes the server not ready, and the probe shows no
/// database error text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_is_false_on_a_read_only_postgres_database() {
    use diesel_async::{AsyncConnection as _, SimpleAsyncConnection as _};
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    assert_eq!(readiness(&server).await.0, 200);
    let name = db
        .url
        .rsplit('/')
        .next()
        .expect("a database name")
        .to_owned();
    let mut admin =
        diesel_async::AsyncPgConnection::establish(&crate::harness::postgres_admin_url())
            .await
            .expect("admin connection");
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {name} SET default_transaction_read_only = on; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ))
        .await
        .expect("make it read-only");
    let mut last = None;
    for _ in 0..50 {
        let (status, body) = readiness(&server).await;
        assert_eq!(status, 503, "{body}");
        let reason = body["reason"].as_str().unwrap_or_default().to_owned();
        assert!(
            ["the database is read-only", "the database does not answer"]
                .contains(&reason.as_str()),
            "a fixed reason, no database text: {body}"
        );
        if reason == "the database is read-only" {
            last = Some(reason);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last.as_deref(), Some("the database is read-only"));
    server.stop().await;
}

/// The value of the sample of `name` with `labels` (a histogram's: its count).
fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|sample| {
            sample.metric == name
                && labels
                    .iter()
                    .all(|(key, value)| sample.labels.get(key) == Some(*value))
        })
        .map(|sample| match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(ref buckets) => {
                buckets.last().map_or(0.0, |bucket| bucket.count)
            }
            _ => f64::NAN,
        })
}

fn value_of(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

async fn metrics_count_calls_attempts_and_the_queue(backend: Backend) {
    let webhook = WebhookServer::start(|request, _| {
        if request.body["input"]["password"] == "pw" {
            Reply::json(200, json!({"accessToken": "t", "userId": 1}))
        } else {
            Reply::json(400, json!({"message": "no"}))
        }
    })
    .await;
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    server.metadata_ok(login_types()).await;
    server
        .metadata_ok(login_action(&format!("{}/login", webhook.url), json!({})))
        .await;
    server.upload_guest("login", "user-login", json!({})).await;
    server
        .metadata_ok(async_login("wasm://login", json!({})))
        .await;

    server.graphql(LOGIN_MUTATION, json!({})).await;
    server.graphql(LOGIN_MUTATION, json!({})).await;
    server
        .graphql(
            "mutation { userLogin(username: \"a\", password: \"bad\") { userId } }",
            json!({}),
        )
        .await;

    let ready = server
        .client
        .get(format!("{}/readyz", server.url))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status().as_u16(), 200);

    let text = server.metrics_text().await;
    let calls = |outcome: &str| {
        value_of(
            &text,
            &format!(
                "hookwing_action_invocations_total{{action=\"userLogin\",handler=\"http\",outcome=\"{outcome}\"}}"
            ),
        )
    };
    assert_eq!(calls("success"), Some(2.0), "{text}");
    assert_eq!(calls("rejected"), Some(1.0));
    assert_eq!(
        value_of(
            &text,
            "hookwing_attempt_duration_seconds_count{action=\"userLogin\",handler=\"http\",outcome=\"success\"}"
        ),
        Some(2.0)
    );
    assert!(
        value_of(
            &text,
            "hookwing_store_operation_seconds_count{operation=\"insert_event\"}"
        )
        .is_some_and(|n| n >= 3.0)
    );
    assert!(text.contains("process_resident_memory_bytes"));

    // An asynchronous wasm call: counted once delivered, with its instantiation timed.
    let accepted = server
        .graphql("mutation { asyncLogin(username: \"ada\") }", json!({}))
        .await;
    assert!(accepted["errors"].is_null(), "{accepted}");
    for _ in 0..100 {
        let text = server.metrics_text().await;
        let series = "hookwing_action_invocations_total{action=\"asyncLogin\",handler=\"wasm\",outcome=\"rejected\"}";
        if value_of(&text, series) == Some(1.0) {
            assert!(
                value_of(&text, "hookwing_wasm_instantiation_seconds_count")
                    .is_some_and(|n| n >= 1.0)
            );
            server.stop().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = server.metrics_text().await;
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("asyncLogin")).collect();
    panic!(
        "the asynchronous call was never counted: {lines:?} {:?}",
        db.events("asyncLogin").await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_admin_secret_or_the_metrics_secret_unless_made_public() {
    let db = TestDb::new(Backend::Sqlite).await;
    let server = TestServer::start_with(&db, |config| {
        config.admin_secret = Some("s3cret".into());
        config.metrics_secret = Some("scraper-token".into());
    })
    .await;
    let scrape = |headers: &[(&'static str, &'static str)]| {
        let mut request = server.client.get(format!("{}/metrics", server.url));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };
    for (headers, status) in [
        (&[][..], 401),
        (&[("authorization", "Bearer wrong")][..], 401),
        (&[("authorization", "Bearer scraper-token")][..], 200),
        (&[("x-hasura-admin-secret", "s3cret")][..], 200),
    ] {
        let response = scrape(headers).await.expect("scrape");
        assert_eq!(response.status().as_u16(), status, "{headers:?}");
    }
    server.stop().await;

    let server = TestServer::start_with(&db, |config| {
        config.admin_secret = Some("s3cret".into());
        config.public_metrics = true;
    })
    .await;
    let open = server
        .client
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .expect("scrape");
    assert_eq!(open.status().as_u16(), 200, "public by choice");
    server.stop().await;
}

/// `/metrics` read with a Prometheus text-format parser, as a scraper reads it: HTTP requests
/// by route, method and status; open WebSocket connections; the build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_websocket_and_build_series_parse_as_prometheus_text() {
    let webhook = WebhookServer::login_ok().await;
    let (_db, server) = login_server(Backend::Sqlite, &webhook, json!({})).await;
    for _ in 0..3 {
        server.graphql(LOGIN_MUTATION, json!({})).await;
    }
    let url = format!("{}/v1/graphql", server.url.replacen("http", "ws", 1));
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");

    let scrape_parsed = || server.scrape_metrics();
    let parsed = scrape_parsed().await;
    let graphql = [
        ("route", "/v1/graphql"),
        ("method", "POST"),
        ("status", "200"),
    ];
    let calls = value(
        &parsed,
        "hookwing_http_request_duration_seconds_count",
        &graphql,
    )
    .or_else(|| value(&parsed, "hookwing_http_request_duration_seconds", &graphql));
    assert!(calls.is_some_and(|n| n >= 3.0), "{calls:?}");
    assert_eq!(
        value(
            &parsed,
            "hookwing_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&parsed, "hookwing_websocket_connections", &[]),
        Some(1.0)
    );

    drop(socket);
    let mut open = None;
    for _ in 0..50 {
        open = value(
            &scrape_parsed().await,
            "hookwing_websocket_connections",
            &[],
        );
        if open == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(open, Some(0.0), "a closed connection is no longer counted");
    server.stop().await;
}

/// The process's CPU time as `/proc/self/stat` has it, in seconds (the server runs in this
/// process).
fn own_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("proc stat");
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and
    // 13th of them.
    let after = stat.rsplit_once(')').expect("comm").1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 =
        fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    // Linux's USER_HZ.
    ticks / 100.0
}

/// Queue depth and the oldest due event's age per action, active subscriptions, and CPU time
/// to the tick, read with a Prometheus parser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_subscription_and_cpu_series_parse_as_prometheus_text() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    let db = TestDb::new(Backend::Sqlite).await;
    // An API-only node: what it accepts stays queued.
    let server = TestServer::start_with(&db, |config| config.delivery.enabled = false).await;
    server.metadata_ok(login_types()).await;
    server
        .metadata_ok(async_login("http://127.0.0.1:9/login", json!({})))
        .await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let accepted = server
            .graphql("mutation { asyncLogin(username: \"ada\") }", json!({}))
            .await;
        ids.push(
            accepted["data"]["asyncLogin"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let url = format!("{}/v1/graphql", server.url.replacen("http", "ws", 1));
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    let send = |value: serde_json::Value| Message::Text(value.to_string().into());
    socket
        .send(send(json!({"type": "connection_init", "payload": {}})))
        .await
        .expect("init");
    let query = format!("subscription {{ asyncLogin(id: \"{}\") {{ id }} }}", ids[0]);
    socket
        .send(send(
            json!({"type": "subscribe", "id": "1", "payload": {"query": query}}),
        ))
        .await
        .expect("subscribe");
    // The pending state arrives once the subscription runs.
    while let Some(Ok(message)) = socket.next().await {
        if matches!(&message, Message::Text(text) if text.contains("\"next\"")) {
            break;
        }
    }

    let cpu_before = own_cpu_seconds();
    let parsed = server.scrape_metrics().await;
    let cpu_after = own_cpu_seconds();
    let waiting = [("action", "asyncLogin"), ("status", "created")];
    assert_eq!(value(&parsed, "hookwing_queue_depth", &waiting), Some(3.0));
    let delivering = [("action", "asyncLogin"), ("status", "processing")];
    assert_eq!(
        value(&parsed, "hookwing_queue_depth", &delivering),
        Some(0.0)
    );
    let age = value(
        &parsed,
        "hookwing_queue_oldest_due_age_seconds",
        &[("action", "asyncLogin")],
    );
    assert!(age.is_some_and(|age| age >= 0.3), "{age:?}");
    assert_eq!(
        value(&parsed, "hookwing_subscriptions_active", &[]),
        Some(1.0)
    );
    let cpu = value(&parsed, "process_cpu_seconds_total", &[]).expect("cpu");
    assert!(
        cpu_before - 0.011 <= cpu && cpu <= cpu_after + 0.011,
        "CPU time {cpu} outside [{cpu_before}, {cpu_after}]: not to the tick"
    );

    socket
        .send(send(json!({"type": "complete", "id": "1"})))
        .await
        .expect("complete");
    let mut active = None;
    for _ in 0..50 {
        active = value(
            &server.scrape_metrics().await,
            "hookwing_subscriptions_active",
            &[],
        );
        if active == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        active,
        Some(0.0),
        "a completed subscription is no longer counted"
    );
    server.stop().await;
}
