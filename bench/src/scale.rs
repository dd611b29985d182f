//! `--scale`: how the cost grows with what a deployment holds — uploaded handlers, actions and
//! their roles, rows in the event log — one step at a time, each on a fresh SQLite store and a
//! fresh server process, so the curve is visible and a regression shows. Each step reports
//! throughput, latency and the server's peak resident memory.

use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use diesel::{Connection as _, RunQueryDsl as _, SqliteConnection};
use serde_json::{Value, json};

use crate::load::{self, Latencies, Target};
use crate::report::{Ratio, Report, Row, Target as Goal};
use crate::scenarios::{
    ADMIN_HEADER, Database, Servers, admin_headers, client, login_action, machine, mutation,
    upload_handler, user_info_types,
};
use crate::server::ADMIN_SECRET;
use crate::{RunArgs, ScaleStep};

/// The steps of one run: the full curve, or a tiny one that only checks the mode runs.
struct Steps {
    handlers: &'static [usize],
    metadata: &'static [(usize, usize)],
    rows: &'static [u64],
    /// Calls timed per metadata step.
    changes: usize,
    /// `GET /v1/events` requests timed per filter.
    listings: usize,
}

const FULL: Steps = Steps {
    handlers: &[1, 10, 100],
    metadata: &[
        (10, 1),
        (10, 20),
        (100, 1),
        (100, 20),
        (1000, 1),
        (1000, 20),
    ],
    rows: &[0, 100_000, 1_000_000],
    changes: 20,
    listings: 50,
};

const SHORT: Steps = Steps {
    handlers: &[1, 3],
    metadata: &[(10, 1), (10, 3)],
    rows: &[0, 1_000],
    changes: 3,
    listings: 3,
};

/// The listings an operator asks for, by their query string.
const LISTINGS: [(&str, &str); 5] = [
    ("no filter", ""),
    ("action", "action=call0"),
    ("status=error", "status=error"),
    ("action + status=error", "action=call0&status=error"),
    ("since an hour ago", "since="),
];

pub async fn run(args: &RunArgs) -> anyhow::Result<Report> {
    let all = if args.short { &SHORT } else { &FULL };
    let steps = &Steps {
        handlers: if args.scale_step(ScaleStep::Handlers) {
            all.handlers
        } else {
            &[]
        },
        metadata: if args.scale_step(ScaleStep::Metadata) {
            all.metadata
        } else {
            &[]
        },
        rows: if args.scale_step(ScaleStep::Rows) {
            all.rows
        } else {
            &[]
        },
        ..*all
    };
    let scratch = tempfile::tempdir()?;
    let servers = Servers {
        cache_dir: scratch.path().join("wasm-cache"),
    };
    let mut report = Report::default();
    report.setting.push(machine());
    report.setting.push(format!(
        "mode: scale{}; {} clients; {:?} per throughput step; every step on a fresh SQLite store",
        if args.short {
            ", short (checks that it runs; numbers mean nothing)"
        } else {
            ""
        },
        args.clients(),
        args.amount(),
    ));
    let mut fresh = 0_usize;
    let mut fresh_dir = || -> anyhow::Result<Database> {
        fresh += 1;
        Database::sqlite_in(scratch.path(), &format!("step-{fresh}"))
    };

    let mut by_handlers = Vec::new();
    for &count in steps.handlers {
        eprintln!("bench: scale, {count} handlers");
        let rate = handlers_step(
            args,
            &servers,
            &fresh_dir()?,
            count,
            Layout::OneEach,
            &mut report,
        )
        .await?;
        by_handlers.push((count, rate));
    }
    // The most actions again, all on one handler: what spreading calls over actions costs,
    // apart from what spreading them over components does.
    if let Some(&most) = steps.handlers.last().filter(|&&most| most > 1) {
        eprintln!("bench: scale, 1 handler behind {most} actions");
        handlers_step(
            args,
            &servers,
            &fresh_dir()?,
            most,
            Layout::Shared,
            &mut report,
        )
        .await?;
    }
    let mut create_ms = Vec::new();
    for &(actions, roles) in steps.metadata {
        eprintln!("bench: scale, {actions} actions x {roles} roles");
        let (mean, growth) = metadata_step(
            &servers,
            &fresh_dir()?,
            actions,
            roles,
            steps.changes,
            &mut report,
        )
        .await?;
        create_ms.push(((actions, roles), mean, growth));
    }
    let mut listings = Vec::new();
    for &rows in steps.rows {
        eprintln!("bench: scale, {rows} rows in the log");
        let worst = rows_step(
            args,
            &servers,
            &fresh_dir()?,
            rows,
            steps.listings,
            &mut report,
        )
        .await?;
        listings.push((rows, worst));
    }

    if let (Some((_, one)), Some((most, many))) = (by_handlers.first(), by_handlers.last()) {
        report.ratios.push(Ratio {
            name: format!("sync WASM over {most} handlers / over 1 handler"),
            value: many / one,
            target: Goal::AtLeast(0.9),
        });
    }
    if let Some(((actions, roles), mean, growth)) = create_ms.last() {
        report.ratios.push(Ratio {
            name: format!("create_action with {actions} actions x {roles} roles (mean ms)"),
            value: *mean,
            target: Goal::AtMost(10.0),
        });
        report.ratios.push(Ratio {
            name: format!(
                "RSS growth over {} metadata changes at {actions} x {roles} (MiB)",
                steps.changes
            ),
            value: *growth,
            target: Goal::AtMost(16.0),
        });
    }
    if let Some((rows, worst)) = listings.last() {
        report.ratios.push(Ratio {
            name: format!("GET /v1/events at {rows} rows, slowest filter (p50 ms)"),
            value: *worst,
            target: Goal::AtMost(20.0),
        });
    }
    Ok(report)
}

/// One HTTP client for every admin request of a run: building one (its TLS roots) costs
/// milliseconds, which would otherwise be counted in each timed request.
fn admin_client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(client)
}

async fn post(server: &str, path: &str, body: &Value) -> anyhow::Result<Value> {
    let response = admin_client()
        .post(format!("{server}{path}"))
        .header(ADMIN_HEADER, ADMIN_SECRET)
        .json(body)
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    ensure!(status.is_success(), "{path}: {status} {text}");
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A synchronous `name(username, password): UserInfo` answered by `handler`.
fn create_action(name: &str, handler: &str) -> Value {
    login_action(name, "synchronous", handler)
}

fn call(action: &str) -> String {
    mutation(action, "{ accessToken userId }")
}

/// The user-login component with a custom section naming `index` appended: the same code,
/// other bytes, so each handler is its own version, compiled and instantiated on its own.
fn variant(wasm: &[u8], index: usize) -> Vec<u8> {
    fn leb128(mut value: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"hookwing-bench-variant";
    let mut section = Vec::new();
    leb128(name.len(), &mut section);
    section.extend_from_slice(name);
    section.extend_from_slice(&index.to_le_bytes());
    let mut bytes = wasm.to_vec();
    bytes.push(0); // a custom section
    leb128(section.len(), &mut bytes);
    bytes.extend(section);
    bytes
}

/// How a handlers step's actions are handled.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Each action by a component of its own (the same code, told apart by a custom section).
    OneEach,
    /// Every action by one component.
    Shared,
}

/// `count` actions, handled as `layout` says; calls spread evenly over the actions.
async fn handlers_step(
    args: &RunArgs,
    servers: &Servers,
    database: &Database,
    count: usize,
    layout: Layout,
    report: &mut Report,
) -> anyhow::Result<f64> {
    let server = servers.start(database, "scale", true).await?;
    let url = server.announced.clone();
    let wasm = std::fs::read(crate::USER_LOGIN_WASM)?;
    let mut operations = vec![user_info_types()];
    let handlers = match layout {
        Layout::OneEach => count,
        Layout::Shared => 1,
    };
    for index in 0..handlers {
        upload_handler(
            admin_client(),
            &url,
            &format!("h{index}"),
            variant(&wasm, index),
        )
        .await?;
    }
    for index in 0..count {
        operations.push(create_action(
            &format!("call{index}"),
            &format!("wasm://h{}", index % handlers),
        ));
    }
    post(
        &url,
        "/v1/metadata",
        &json!({"type": "bulk", "args": operations}),
    )
    .await?;
    let target = Target {
        urls: vec![format!("{url}/v1/graphql")],
        bodies: (0..count)
            .map(|index| call(&format!("call{index}")))
            .collect(),
        headers: admin_headers(),
    };
    let measured = load::run(&target, args.clients(), args.amount()).await?;
    let rss = server.stop().await;
    let name = match layout {
        Layout::OneEach => format!("sync WASM over {count} handler(s)"),
        Layout::Shared => format!("sync WASM, 1 handler behind {count} actions"),
    };
    report
        .rows
        .push(Row::from_load(&name, args.clients(), &measured, rss));
    Ok(measured.per_second())
}

/// `actions` actions with `roles` roles each; then `changes` more `create_action`s timed one at
/// a time, and the resident memory before and after `changes` updates. Returns the mean
/// `create_action` time (ms) and the memory growth (MiB).
async fn metadata_step(
    servers: &Servers,
    database: &Database,
    actions: usize,
    roles: usize,
    changes: usize,
    report: &mut Report,
) -> anyhow::Result<(f64, f64)> {
    let server = servers.start(database, "scale", true).await?;
    let url = server.announced.clone();
    post(&url, "/v1/metadata", &user_info_types()).await?;
    let permissions = |action: &str| -> Vec<Value> {
        (0..roles)
            .map(|role| {
                json!({"type": "create_action_permission",
                "args": {"action": action, "role": format!("role{role}")}})
            })
            .collect()
    };
    // In bulks of 50 actions, within the body limit.
    for chunk in (0..actions).collect::<Vec<_>>().chunks(50) {
        let mut operations = Vec::new();
        for &index in chunk {
            let name = format!("call{index}");
            operations.push(create_action(&name, "http://127.0.0.1:9/unused"));
            operations.extend(permissions(&name));
        }
        post(
            &url,
            "/v1/metadata",
            &json!({"type": "bulk", "args": operations}),
        )
        .await?;
    }
    let mut latencies = Latencies::default();
    for change in 0..changes {
        let started = Instant::now();
        post(
            &url,
            "/v1/metadata",
            &create_action(&format!("extra{change}"), "http://127.0.0.1:9/unused"),
        )
        .await?;
        latencies.record(started.elapsed());
    }
    let before = server.rss().unwrap_or(0);
    for change in 0..changes {
        let mut update = create_action("extra0", "http://127.0.0.1:9/unused");
        update["type"] = json!("update_action");
        update["args"]["definition"]["timeout"] = json!(10 + change);
        post(&url, "/v1/metadata", &update).await?;
    }
    let growth = server.rss().unwrap_or(0).saturating_sub(before) as f64 / f64::from(1 << 20);
    let rss = server.stop().await;
    let mean_ms = latencies.mean_us() / 1000.0;
    report.rows.push(Row {
        name: format!("create_action, {actions} actions x {roles} roles"),
        clients: 1,
        rate: 1000.0 / mean_ms.max(f64::EPSILON),
        unit: "op/s",
        p50_ms: Some(latencies.percentile_us(50.0) / 1000.0),
        p99_ms: Some(latencies.percentile_us(99.0) / 1000.0),
        peak_rss: rss,
    });
    Ok((mean_ms, growth))
}

/// Writes `rows` finished events straight into the store (ten actions, one in a hundred an
/// error, spread over the last few hours), as a long-running deployment would have them.
fn fill_log(database_url: &str, rows: u64) -> anyhow::Result<()> {
    if rows == 0 {
        return Ok(());
    }
    let path = database_url.trim_start_matches("sqlite://");
    let mut connection = SqliteConnection::establish(path).context("open the bench store")?;
    diesel::sql_query(format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
         INSERT INTO action_log (id, action_name, input_payload, request_headers,
             session_variables, response_payload, created_at, response_received_at, status,
             kind, attempts)
         SELECT printf('%08x-0000-7000-8000-%012x', i, i), 'call' || (i % 10),
             '{{\"username\":\"ada\"}}', '{{}}', '{{\"x-hasura-role\":\"admin\"}}',
             '{{\"accessToken\":\"t\",\"userId\":1}}',
             strftime('%Y-%m-%dT%H:%M:%S', 'now', '-' || (({rows} - i) / 100) || ' seconds') || '.000000Z',
             strftime('%Y-%m-%dT%H:%M:%S', 'now', '-' || (({rows} - i) / 100) || ' seconds') || '.000000Z',
             CASE WHEN i % 100 = 0 THEN 'error' ELSE 'completed' END, 'synchronous', 1
         FROM n"
    ))
    .execute(&mut connection)?;
    Ok(())
}

/// Sync throughput and `GET /v1/events` latency with `rows` events already in the log. Returns
/// the slowest filter's median (ms).
async fn rows_step(
    args: &RunArgs,
    servers: &Servers,
    database: &Database,
    rows: u64,
    listings: usize,
    report: &mut Report,
) -> anyhow::Result<f64> {
    // The first start creates the store; the rows go in while no server runs.
    let setup = servers.start(database, "scale", true).await?;
    let wasm = std::fs::read(crate::USER_LOGIN_WASM)?;
    upload_handler(admin_client(), &setup.announced, "h0", wasm).await?;
    let operations =
        json!({"type": "bulk", "args": [user_info_types(), create_action("call0", "wasm://h0")]});
    post(&setup.announced, "/v1/metadata", &operations).await?;
    setup.stop().await;
    let filled = Instant::now();
    let url = database.url().to_owned();
    tokio::task::spawn_blocking(move || fill_log(&url, rows)).await??;
    eprintln!("bench: {rows} rows written in {:.1?}", filled.elapsed());

    let server = servers.start(database, "scale", true).await?;
    let url = server.announced.clone();
    let measured = load::run(
        &Target::one(
            vec![format!("{url}/v1/graphql")],
            call("call0"),
            admin_headers(),
        ),
        args.clients(),
        args.amount(),
    )
    .await?;
    report.rows.push(Row::from_load(
        &format!("sync WASM, {rows} rows in the log"),
        args.clients(),
        &measured,
        server.peak_rss(),
    ));
    let since = (chrono::Utc::now() - chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut worst: f64 = 0.0;
    for (label, query) in LISTINGS {
        let query = if query == "since=" {
            format!("since={since}")
        } else {
            query.to_owned()
        };
        let mut latencies = Latencies::default();
        for _ in 0..listings {
            let started = Instant::now();
            let response = admin_client()
                .get(format!("{url}/v1/events?{query}"))
                .header(ADMIN_HEADER, ADMIN_SECRET)
                .send()
                .await?;
            ensure!(
                response.status().is_success(),
                "GET /v1/events?{query}: {}",
                response.status()
            );
            response.bytes().await?;
            latencies.record(started.elapsed());
        }
        let p50 = latencies.percentile_us(50.0) / 1000.0;
        worst = worst.max(p50);
        report.rows.push(Row {
            name: format!("GET /v1/events ({label}), {rows} rows"),
            clients: 1,
            rate: 1000.0 / (latencies.mean_us() / 1000.0).max(f64::EPSILON),
            unit: "req/s",
            p50_ms: Some(p50),
            p99_ms: Some(latencies.percentile_us(99.0) / 1000.0),
            peak_rss: None,
        });
    }
    server.stop().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(worst)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_variant_is_a_valid_component_with_other_bytes() {
        let wasm = std::fs::read(crate::USER_LOGIN_WASM).expect("the guest is built");
        let one = super::variant(&wasm, 1);
        let two = super::variant(&wasm, 2);
        assert_ne!(one, two);
        let engine = wasmtime::Engine::default();
        for bytes in [one, two] {
            wasmtime::component::Component::new(&engine, &bytes).expect("still a component");
        }
    }
}
