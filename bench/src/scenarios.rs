//! The scenarios, in the order they run, and the ratios computed from them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use serde_json::{Value, json};

use crate::child::Process;
use crate::load::{self, Amount, Target};
use crate::peers::{self, Peer};
use crate::raw_wasm::WasmCalls;
use crate::report::{Ratio, Report, Row, Target as Goal};
use crate::server::ADMIN_SECRET;
use crate::{RunArgs, Scenario, USER_LOGIN_WASM};

pub const STARTUP: Duration = Duration::from_secs(120);
pub const ADMIN_HEADER: &str = "x-hasura-admin-secret";

const SYNC_WASM: &str = "userLogin";
const SYNC_WEBHOOK: &str = "userLoginHook";
/// The webhook action again, through a typical request and response transform.
const SYNC_WEBHOOK_TRANSFORMED: &str = "userLoginHookTransformed";
const ASYNC_WASM: &str = "asyncLogin";

pub fn mutation(field: &str, selection: &str) -> String {
    json!({"query": format!(
        "mutation {{ {field}(username: \"ada\", password: \"secret\") {selection} }}"
    )})
    .to_string()
}

fn target(urls: Vec<String>, field: &str, selection: &str) -> Target {
    Target::one(
        urls.iter().map(|url| format!("{url}/v1/graphql")).collect(),
        mutation(field, selection),
        admin_headers(),
    )
}

/// What every benchmark request carries: JSON, as admin.
pub fn admin_headers() -> Vec<(String, String)> {
    vec![
        ("content-type".into(), "application/json".into()),
        (ADMIN_HEADER.into(), ADMIN_SECRET.into()),
    ]
}

/// Where a scenario's servers keep their data.
pub enum Database {
    Sqlite {
        url: String,
    },
    Postgres {
        url: String,
        admin_url: String,
        name: String,
    },
}

impl Database {
    /// A SQLite store in a new directory `name` under `scratch`.
    pub fn sqlite_in(scratch: &Path, name: &str) -> anyhow::Result<Self> {
        let dir = scratch.join(name);
        std::fs::create_dir_all(&dir)?;
        Ok(Self::Sqlite {
            url: format!("sqlite://{}", dir.join("bench.db").display()),
        })
    }

    /// A fresh PostgreSQL database for `purpose`, named after this process so that
    /// concurrent runs never share one.
    async fn postgres(admin_url: &str, purpose: &str) -> anyhow::Result<Self> {
        let name = format!("hookwing_bench_{}_{purpose}", std::process::id());
        let mut admin = AsyncPgConnection::establish(admin_url)
            .await
            .with_context(|| format!("connect to PostgreSQL at {admin_url}"))?;
        // Two statements: neither may run inside the implicit transaction of a batch.
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url, |(base, _)| base);
        Ok(Self::Postgres {
            url: format!("{base}/{name}"),
            admin_url: admin_url.to_owned(),
            name,
        })
    }

    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite { url } | Self::Postgres { url, .. } => url,
        }
    }

    async fn drop_database(self) -> anyhow::Result<()> {
        if let Self::Postgres {
            admin_url, name, ..
        } = self
        {
            let mut admin = AsyncPgConnection::establish(&admin_url).await?;
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await?;
        }
        Ok(())
    }
}

/// What every hookwing server of one run shares.
pub struct Servers {
    pub cache_dir: PathBuf,
}

impl Servers {
    pub async fn start(
        &self,
        database: &Database,
        node: &str,
        delivery: bool,
    ) -> anyhow::Result<Process> {
        let mut args = vec![
            "server".to_owned(),
            "--database-url".to_owned(),
            database.url().to_owned(),
            "--node-id".to_owned(),
            node.to_owned(),
            "--cache-dir".to_owned(),
            self.cache_dir.display().to_string(),
        ];
        if !delivery {
            args.push("--no-delivery".into());
        }
        Process::start(&args, STARTUP).await
    }
}

pub fn client() -> reqwest::Client {
    hookwing::install_crypto_provider();
    reqwest::Client::new()
}

/// Uploads `wasm` as handler `name` on `server`, as admin.
pub async fn upload_handler(
    client: &reqwest::Client,
    server: &str,
    name: &str,
    wasm: Vec<u8>,
) -> anyhow::Result<()> {
    let upload = client
        .put(format!("{server}/v1/handlers/{name}"))
        .header(ADMIN_HEADER, ADMIN_SECRET)
        .body(wasm)
        .send()
        .await?;
    ensure!(
        upload.status().is_success(),
        "upload of {name}: {}",
        upload.text().await?
    );
    Ok(())
}

/// The `UserInfo` output type every benchmarked action returns.
pub fn user_info_types() -> Value {
    json!({"type": "set_custom_types", "args": {"objects": [{"name": "UserInfo", "fields": [
        {"name": "accessToken", "type": "String!"},
        {"name": "userId", "type": "Int!"}
    ]}]}})
}

/// A `create_action` of `name(username, password): UserInfo` answered by `handler`.
pub fn login_action(name: &str, kind: &str, handler: &str) -> Value {
    json!({"type": "create_action", "args": {"name": name, "definition": {
        "kind": kind, "type": "mutation",
        "arguments": [
            {"name": "username", "type": "String!"},
            {"name": "password", "type": "String!"}
        ],
        "output_type": "UserInfo", "handler": handler, "timeout": 30
    }}})
}

/// Uploads the guest and creates the actions: WASM, the webhook (plain and transformed), the
/// async one, and one per webhook peer (`(action, url)`).
async fn set_up(server: &str, webhook: &str, peers: &[(&str, &str)]) -> anyhow::Result<()> {
    let client = client();
    upload_handler(
        &client,
        server,
        "user-login",
        std::fs::read(USER_LOGIN_WASM)?,
    )
    .await?;
    let mut transformed = login_action(SYNC_WEBHOOK_TRANSFORMED, "synchronous", webhook);
    transformed["args"]["definition"]["request_transform"] = typical_request_transform();
    transformed["args"]["definition"]["response_transform"] = typical_response_transform();
    let mut operations = vec![
        user_info_types(),
        login_action(SYNC_WASM, "synchronous", "wasm://user-login"),
        login_action(SYNC_WEBHOOK, "synchronous", webhook),
        transformed,
        login_action(ASYNC_WASM, "asynchronous", "wasm://user-login"),
    ];
    for (name, url) in peers {
        operations.push(login_action(name, "synchronous", url));
    }
    let metadata = json!({"type": "bulk", "args": operations});
    let applied = client
        .post(format!("{server}/v1/metadata"))
        .header(ADMIN_HEADER, ADMIN_SECRET)
        .json(&metadata)
        .send()
        .await?;
    ensure!(
        applied.status().is_success(),
        "metadata: {}",
        applied.text().await?
    );
    Ok(())
}

/// What an action calling an existing REST API typically does: a URL and query built from the
/// input, two headers from the input and the session, the body reshaped. The webhook answers
/// it exactly as it answers the untransformed call.
pub fn typical_request_transform() -> Value {
    json!({
        "version": 2,
        "template_engine": "Kriti",
        "method": "POST",
        "url": "{{$base_url}}",
        "query_params": {"user": "{{$body.input.username}}"},
        "request_headers": {"add_headers": {
            "x-user": "{{$body.input.username}}",
            "x-role": "{{$session_variables?['x-hasura-role'] ?? \"anonymous\"}}"
        }},
        "body": {"action": "transform", "template":
            "{\"input\": {\"username\": {{$body.input.username}}, \"password\": {{$body.input.password}}}, \"source\": \"hookwing\"}"}
    })
}

/// The reply reshaped field by field (into the same shape, so the output is unchanged).
pub fn typical_response_transform() -> Value {
    json!({"version": 2, "body": {"action": "transform", "template":
        "{\"accessToken\": {{$body.accessToken}}, \"userId\": {{$body.userId}}}"}})
}

/// Waits until `server` has the actions in its schema (a replica learns of them by
/// notification).
async fn wait_for_actions(server: &str) -> anyhow::Result<()> {
    let client = client();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer: Value = client
            .post(format!("{server}/v1/graphql"))
            .header(ADMIN_HEADER, ADMIN_SECRET)
            .json(&json!({"query": "{ __type(name: \"UserInfo\") { name } }"}))
            .send()
            .await?
            .json()
            .await?;
        if answer["data"]["__type"]["name"] == "UserInfo" {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{server} never saw the benchmark's actions: {answer}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The sum of a metric's samples whose labels include all of `labels`.
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|line| {
            labels
                .iter()
                .all(|(key, value)| line.contains(&format!("{key}=\"{value}\"")))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

pub async fn scrape(server: &str) -> anyhow::Result<String> {
    Ok(client()
        .get(format!("{server}/metrics"))
        .header(ADMIN_HEADER, ADMIN_SECRET)
        .send()
        .await?
        .text()
        .await?)
}

/// Mean time of a WASM attempt inside the server (resolve, instantiate, call, judge the
/// output), from its own histogram, over `amount` of one-at-a-time calls.
async fn in_server_wasm_call(server: &str, amount: Amount) -> anyhow::Result<f64> {
    let labels = [("action", SYNC_WASM), ("outcome", "success")];
    let sum = "hookwing_attempt_duration_seconds_sum";
    let count = "hookwing_attempt_duration_seconds_count";
    let before = scrape(server).await?;
    load::run(
        &target(vec![server.into()], SYNC_WASM, "{ userId }"),
        1,
        amount,
    )
    .await?;
    let after = scrape(server).await?;
    let calls = metric(&after, count, &labels) - metric(&before, count, &labels);
    ensure!(calls > 0.0, "no WASM attempts were recorded");
    Ok((metric(&after, sum, &labels) - metric(&before, sum, &labels)) / calls * 1e6)
}

/// Mean of histogram `name` (samples matching `labels`) in milliseconds, from one scrape.
fn mean_ms(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let count = metric(text, &format!("{name}_count"), labels);
    if count == 0.0 {
        return 0.0;
    }
    metric(text, &format!("{name}_sum"), labels) / count * 1e3
}

/// One line on where a scenario's time went: store writes (until durable) and attempts.
async fn breakdown(server: &str, scenario: &str, action: &str) -> anyhow::Result<String> {
    let text = scrape(server).await?;
    let store = "hookwing_store_operation_seconds";
    Ok(format!(
        "{scenario}: insert_event {:.2} ms, record_attempt {:.2} ms, attempt {:.2} ms",
        mean_ms(&text, store, &[("operation", "insert_event")]),
        mean_ms(&text, store, &[("operation", "record_attempt")]),
        mean_ms(
            &text,
            "hookwing_attempt_duration_seconds",
            &[("action", action)]
        ),
    ))
}

/// Loads `action` on `server` with the run's clients, then stops it; records the row and where
/// the time went. Returns the throughput.
async fn measure_sync(
    args: &RunArgs,
    server: Process,
    name: &str,
    action: &str,
    report: &mut Report,
) -> anyhow::Result<load::Measured> {
    let url = server.announced.clone();
    let measured = load::run(
        &target(vec![url.clone()], action, "{ accessToken userId }"),
        args.clients(),
        args.amount(),
    )
    .await?;
    report.breakdown.push(breakdown(&url, name, action).await?);
    let rss = server.stop().await;
    report
        .rows
        .push(Row::from_load(name, args.clients(), &measured, rss));
    Ok(measured)
}

/// One sync backend's results.
struct SyncResults {
    wasm: f64,
    webhook: f64,
    webhook_transformed: f64,
    in_server_call_us: f64,
    /// Each webhook peer's throughput, by label.
    peers: Vec<(&'static str, f64)>,
}

async fn sync_scenarios(
    args: &RunArgs,
    servers: &Servers,
    database: &Database,
    backend: &str,
    webhook: &str,
    peers: &[Peer],
    report: &mut Report,
) -> anyhow::Result<SyncResults> {
    let setup = servers.start(database, "setup", true).await?;
    let peer_actions: Vec<(&str, &str)> = peers.iter().map(|p| (p.action, p.url())).collect();
    set_up(&setup.announced, webhook, &peer_actions).await?;
    setup.stop().await;

    // A fresh process per scenario, so each peak RSS is that scenario's own.
    let server = servers.start(database, "bench", true).await?;
    wait_for_actions(&server.announced).await?;
    let single = match args.amount() {
        Amount::Duration { warmup, measure } => Amount::Duration {
            warmup,
            measure: measure / 2,
        },
        amount => amount,
    };
    let in_server_call_us = in_server_wasm_call(&server.announced, single).await?;
    let wasm = measure_sync(
        args,
        server,
        &format!("sync WASM action, {backend}"),
        SYNC_WASM,
        report,
    )
    .await?;

    let server = servers.start(database, "bench", true).await?;
    wait_for_actions(&server.announced).await?;
    let name = format!("sync webhook action, {backend}");
    let hook = measure_sync(args, server, &name, SYNC_WEBHOOK, report).await?;

    let server = servers.start(database, "bench", true).await?;
    wait_for_actions(&server.announced).await?;
    let name = format!("sync webhook action, transformed, {backend}");
    let transformed = measure_sync(args, server, &name, SYNC_WEBHOOK_TRANSFORMED, report).await?;
    let mut peer_rates = Vec::new();
    for peer in peers {
        let server = servers.start(database, "bench", true).await?;
        wait_for_actions(&server.announced).await?;
        let name = format!("sync webhook action ({}), {backend}", peer.label);
        let measured = measure_sync(args, server, &name, peer.action, report).await?;
        peer_rates.push((peer.label, measured.per_second()));
    }
    Ok(SyncResults {
        wasm: wasm.per_second(),
        webhook: hook.per_second(),
        webhook_transformed: transformed.per_second(),
        in_server_call_us,
        peers: peer_rates,
    })
}

/// Accepts `events` asynchronous calls on API-only replicas, then lets `replicas` delivering
/// replicas drain them; returns delivered events per second. `database` is PostgreSQL, or a
/// SQLite file (in `scratch`) when `None`.
async fn async_scenario(
    args: &RunArgs,
    servers: &Servers,
    on_sqlite: Option<&Path>,
    replicas: usize,
    webhook: &str,
    report: &mut Report,
) -> anyhow::Result<f64> {
    let (database, backend) = match on_sqlite {
        Some(scratch) => (
            Database::sqlite_in(scratch, &format!("async-{replicas}"))?,
            "sqlite",
        ),
        None => (
            Database::postgres(&args.postgres, &format!("async_{replicas}")).await?,
            "postgres",
        ),
    };
    let setup = servers.start(&database, "setup", true).await?;
    set_up(&setup.announced, webhook, &[]).await?;
    setup.stop().await;

    let events = args.events();
    let clients = args.clients();
    let mut accepting = Vec::new();
    for replica in 0..replicas {
        let server = servers
            .start(&database, &format!("api-{replica}"), false)
            .await?;
        wait_for_actions(&server.announced).await?;
        accepting.push(server);
    }
    let urls: Vec<String> = accepting.iter().map(|s| s.announced.clone()).collect();
    let accepted = load::run(
        &target(urls, ASYNC_WASM, ""),
        clients,
        Amount::Requests(events),
    )
    .await?;
    let mut peak = 0;
    for server in accepting {
        peak = peak.max(server.stop().await.unwrap_or(0));
    }
    report.rows.push(Row::from_load(
        &format!("async accepted, {backend}, {replicas} replica(s)"),
        clients,
        &accepted,
        Some(peak),
    ));

    // The delivering replicas start together; delivery is timed from the first one ready.
    let starts = (0..replicas).map(|replica| {
        let node = format!("worker-{replica}");
        let (servers, database) = (&servers, &database);
        async move {
            let server = servers.start(database, &node, true).await?;
            Ok::<_, anyhow::Error>((server, Instant::now()))
        }
    });
    let started_replicas = futures::future::try_join_all(starts).await?;
    let started = started_replicas
        .iter()
        .map(|(_, ready)| *ready)
        .min()
        .unwrap_or_else(Instant::now);
    let delivering: Vec<Process> = started_replicas
        .into_iter()
        .map(|(server, _)| server)
        .collect();
    let deadline = started + Duration::from_secs(600);
    let mut now_delivered = delivered(&delivering).await?;
    while now_delivered < events as f64 {
        ensure!(
            Instant::now() < deadline,
            "only {now_delivered} of {events} events were delivered in 10 minutes"
        );
        // Each look scrapes every replica's /metrics: not so often that it adds load.
        tokio::time::sleep(Duration::from_millis(100)).await;
        now_delivered = delivered(&delivering).await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let failed = failed(&delivering).await?;
    ensure!(
        failed == 0.0,
        "{failed} asynchronous deliveries did not succeed"
    );
    let mut peak = 0;
    for server in delivering {
        peak = peak.max(server.stop().await.unwrap_or(0));
    }
    let rate = events as f64 / seconds;
    report.rows.push(Row::rate(
        format!("async delivered, {backend}, {replicas} replica(s)"),
        0,
        rate,
        "ev/s",
        Some(peak),
    ));
    database.drop_database().await?;
    Ok(rate)
}

/// How soon an async action's result reaches a client waiting on a subscription
/// ([`push`](crate::push)), one call at a time, on `database`; returns the p99 in ms.
async fn push_scenario(
    args: &RunArgs,
    servers: &Servers,
    database: Database,
    backend: &str,
    webhook: &str,
    report: &mut Report,
) -> anyhow::Result<f64> {
    let server = servers.start(&database, "push", true).await?;
    set_up(&server.announced, webhook, &[]).await?;
    wait_for_actions(&server.announced).await?;
    let samples = if args.short { 20 } else { 1_000 };
    // A warm-up: the first calls compile nothing, but fill caches and pools.
    crate::push::measure(&server.announced, ASYNC_WASM, samples / 10).await?;
    let started = Instant::now();
    let latencies = crate::push::measure(&server.announced, ASYNC_WASM, samples).await?;
    let seconds = started.elapsed().as_secs_f64();
    let peak = server.stop().await;
    let p99 = latencies.percentile_us(99.0) / 1000.0;
    report.rows.push(Row {
        name: format!("async result at a subscriber, {backend}"),
        clients: 1,
        rate: samples as f64 / seconds,
        unit: "call/s",
        p50_ms: Some(latencies.percentile_us(50.0) / 1000.0),
        p99_ms: Some(p99),
        peak_rss: peak,
    });
    database.drop_database().await?;
    Ok(p99)
}

/// The job-queue peers, each on a scratch PostgreSQL database of its own, draining as many
/// jobs as the async scenarios deliver; returns each one's rate (`None`: could not run).
async fn job_queues(
    args: &RunArgs,
    report: &mut Report,
) -> anyhow::Result<Vec<(&'static str, Option<f64>)>> {
    let mut rates = Vec::new();
    for (label, script, mode) in peers::JOB_QUEUES {
        eprintln!("bench: job queue, {label}");
        let database = Database::postgres(&args.postgres, "jobs").await?;
        let rate = peers::drain_jobs(script, mode, database.url(), args.events()).await;
        database.drop_database().await?;
        if let Some(rate) = rate {
            report.rows.push(Row::rate(
                format!("jobs drained, {label}"),
                0,
                rate,
                "job/s",
                None,
            ));
        }
        rates.push((label, rate));
    }
    Ok(rates)
}

async fn invocations(servers: &[Process], exclude_success: bool) -> anyhow::Result<f64> {
    let mut total = 0.0;
    for server in servers {
        let text = scrape(&server.announced).await?;
        let all = metric(
            &text,
            "hookwing_action_invocations_total",
            &[("action", ASYNC_WASM)],
        );
        total += if exclude_success {
            all - metric(
                &text,
                "hookwing_action_invocations_total",
                &[("action", ASYNC_WASM), ("outcome", "success")],
            )
        } else {
            all
        };
    }
    Ok(total)
}

async fn delivered(servers: &[Process]) -> anyhow::Result<f64> {
    invocations(servers, false).await
}

async fn failed(servers: &[Process]) -> anyhow::Result<f64> {
    invocations(servers, true).await
}

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|model| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|line| line.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(format!("{} GiB", kib >> 20))
        })
        .unwrap_or_default();
    format!("machine: {cores} cores ({cpu}), {memory}")
}

/// The bare wasmtime baseline and the server's dispatch beside it, in their own process.
async fn raw_wasm(args: &RunArgs, report: &mut Report) -> anyhow::Result<WasmCalls> {
    let millis = match args.amount() {
        Amount::Duration { measure, .. } => measure.as_millis(),
        Amount::Requests(_) => 1000,
    };
    let raw = Process::start(
        &["raw-wasm".into(), "--millis".into(), millis.to_string()],
        STARTUP,
    )
    .await?;
    let calls: WasmCalls = serde_json::from_str(&raw.announced)?;
    raw.stop().await;
    for (name, result, rss) in [
        (
            "raw wasm: instantiate + call, no server",
            &calls.bare,
            calls.bare.peak_rss,
        ),
        ("server's WASM dispatch, same loop", &calls.hosted, None),
    ] {
        report.rows.push(Row {
            name: name.into(),
            clients: 1,
            rate: result.calls as f64 / result.seconds,
            unit: "call/s",
            p50_ms: Some(result.p50_us / 1000.0),
            p99_ms: Some(result.p99_us / 1000.0),
            peak_rss: rss,
        });
    }
    Ok(calls)
}

/// The typical transform's own cost, in this process: the request transform applied to a
/// login payload and the response transform to the webhook's answer, in a loop. Returns
/// microseconds per call (both transforms).
fn transform_cost(args: &RunArgs, report: &mut Report) -> anyhow::Result<f64> {
    use hookwing::handler::transform::{OutgoingRequest, Session};
    use hookwing::handler::{RequestTransform, ResponseTransform};

    let request = RequestTransform::parse(&typical_request_transform())?;
    let response = ResponseTransform::parse(&typical_response_transform())?;
    let payload = json!({
        "action": {"name": SYNC_WEBHOOK_TRANSFORMED},
        "input": {"username": "ada", "password": "secret"},
        "session_variables": {"x-hasura-role": "admin"},
        "request_query": "mutation { userLoginHookTransformed(username: \"ada\", password: \"secret\") { accessToken userId } }",
    });
    let body = serde_json::to_vec(&payload)?;
    let reply = br#"{"accessToken":"token-for-ada","userId":4951}"#;
    let session = Session {
        variables: &payload["session_variables"],
    };
    let measure = match args.amount() {
        Amount::Duration { measure, .. } => measure,
        Amount::Requests(_) => Duration::from_secs(1),
    };
    let started = Instant::now();
    let mut calls = 0_u64;
    while started.elapsed() < measure {
        let original = OutgoingRequest {
            method: reqwest::Method::POST,
            url: "http://127.0.0.1:9/login".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.clone(),
        };
        let sent = request
            .apply(original, &payload, session)
            .map_err(|failure| anyhow::anyhow!(failure.summary()))?;
        // As the server does: `$request` is built only for a template that reads it.
        let sent_as = if response.reads_request() {
            RequestTransform::request_binding(&sent, session)
        } else {
            Value::Null
        };
        response
            .apply(200, reply, &sent_as, session)
            .map_err(|failure| anyhow::anyhow!(failure.summary()))?;
        calls += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    report.rows.push(Row::rate(
        "request + response transform, in process",
        1,
        calls as f64 / seconds,
        "call/s",
        None,
    ));
    Ok(seconds * 1e6 / calls as f64)
}

/// The no-op ceiling; returns its throughput.
async fn ceiling(args: &RunArgs, report: &mut Report) -> anyhow::Result<f64> {
    let ceiling = Process::start(&["ceiling".into()], STARTUP).await?;
    let selection = "{ accessToken userId }";
    let url = ceiling.announced.clone();
    let measured = load::run(
        &target(vec![url], SYNC_WASM, selection),
        args.clients(),
        args.amount(),
    )
    .await?;
    report.rows.push(Row::from_load(
        "ceiling: no-op mutation, same stack",
        args.clients(),
        &measured,
        ceiling.stop().await,
    ));
    Ok(measured.per_second())
}

/// Runs the scenarios `args` selects and computes the ratios their results allow.
pub async fn run_all(args: &RunArgs) -> anyhow::Result<Report> {
    let scratch = tempfile::tempdir()?;
    let servers = Servers {
        cache_dir: scratch.path().join("wasm-cache"),
    };
    let mut report = Report::default();
    report.setting.push(machine());
    report.setting.push(format!(
        "mode: {}; {} clients; {:?} per throughput scenario; {} events per async scenario",
        if args.short {
            "short (checks that it runs; numbers mean nothing)"
        } else {
            "full"
        },
        args.clients(),
        args.amount(),
        args.events()
    ));
    let selected = |scenario: Scenario| args.selected(scenario);

    let raw = if selected(Scenario::Raw) {
        eprintln!("bench: raw wasm");
        Some(raw_wasm(args, &mut report).await?)
    } else {
        None
    };
    let ceiling_rate = if selected(Scenario::Ceiling) {
        eprintln!("bench: ceiling");
        Some(ceiling(args, &mut report).await?)
    } else {
        None
    };

    let webhook = Process::start(&["webhook".into()], STARTUP).await?;
    let webhook_url = webhook.announced.clone();
    let transform_us = if selected(Scenario::Sqlite) || selected(Scenario::Postgres) {
        eprintln!("bench: transform cost");
        Some(transform_cost(args, &mut report)?)
    } else {
        None
    };
    let (peers, missing_peers) = if selected(Scenario::Sqlite) {
        eprintln!("bench: webhook peers");
        peers::start().await
    } else {
        (Vec::new(), Vec::new())
    };
    let on_sqlite = if selected(Scenario::Sqlite) {
        eprintln!("bench: sync, sqlite");
        let sqlite = Database::sqlite_in(scratch.path(), "sqlite")?;
        let results = sync_scenarios(
            args,
            &servers,
            &sqlite,
            "sqlite",
            &webhook_url,
            &peers,
            &mut report,
        )
        .await?;
        Some(results)
    } else {
        None
    };
    for peer in peers {
        peer.stop().await;
    }
    let on_postgres = if selected(Scenario::Postgres) {
        eprintln!("bench: sync, postgres");
        let postgres = Database::postgres(&args.postgres, "sync").await?;
        let results = sync_scenarios(
            args,
            &servers,
            &postgres,
            "postgres",
            &webhook_url,
            &[],
            &mut report,
        )
        .await?;
        postgres.drop_database().await?;
        Some(results)
    } else {
        None
    };
    let delivered = if selected(Scenario::Async) {
        eprintln!("bench: async, sqlite, 1 replica");
        let sqlite = async_scenario(
            args,
            &servers,
            Some(scratch.path()),
            1,
            &webhook_url,
            &mut report,
        )
        .await?;
        eprintln!("bench: async, postgres, 1 replica");
        let postgres = async_scenario(args, &servers, None, 1, &webhook_url, &mut report).await?;
        eprintln!("bench: async, postgres, 2 replicas");
        let two = async_scenario(args, &servers, None, 2, &webhook_url, &mut report).await?;
        let queues = job_queues(args, &mut report).await?;
        eprintln!("bench: async result at a subscriber, sqlite");
        let sqlite_push = Database::sqlite_in(scratch.path(), "push")?;
        let push_sqlite = push_scenario(
            args,
            &servers,
            sqlite_push,
            "sqlite",
            &webhook_url,
            &mut report,
        )
        .await?;
        eprintln!("bench: async result at a subscriber, postgres");
        let postgres_push = Database::postgres(&args.postgres, "push").await?;
        let push_postgres = push_scenario(
            args,
            &servers,
            postgres_push,
            "postgres",
            &webhook_url,
            &mut report,
        )
        .await?;
        for (backend, p99) in [("sqlite", push_sqlite), ("postgres", push_postgres)] {
            report.ratios.push(Ratio {
                name: format!("async result at a subscriber, {backend}, p99 (ms)"),
                value: p99,
                target: Goal::AtMost(10.0),
            });
        }
        Some((sqlite, postgres, two, queues))
    } else {
        None
    };
    webhook.stop().await;

    if let Some(sqlite) = &on_sqlite {
        report.rows.push(Row::rate(
            "WASM attempt inside the server, sqlite (1 client)",
            1,
            1e6 / sqlite.in_server_call_us,
            "call/s",
            None,
        ));
    }
    if let Some(raw) = &raw {
        report.ratios.push(Ratio {
            name: "server's WASM dispatch / raw wasm call (mean time)".into(),
            value: raw.hosted.mean_us / raw.bare.mean_us,
            target: Goal::AtMost(1.3),
        });
    }
    for (backend, results) in [("sqlite", &on_sqlite), ("postgres", &on_postgres)] {
        if let Some(results) = results {
            report.ratios.push(Ratio {
                name: format!("sync WASM / sync webhook throughput, {backend}"),
                value: results.wasm / results.webhook,
                target: Goal::AtLeast(3.0),
            });
            report.ratios.push(Ratio {
                name: format!("sync webhook transformed / untransformed throughput, {backend}"),
                value: results.webhook_transformed / results.webhook,
                target: Goal::AtLeast(0.9),
            });
        }
    }
    if let Some(sqlite) = &on_sqlite {
        // What users would run instead: WASM ≥ 2 × Fastify and ≥ 5 × Express, end to end.
        // A peer that could not run counts as missed.
        for (label, goal) in [("Node Fastify", 2.0), ("Node Express", 5.0)] {
            let rate = sqlite
                .peers
                .iter()
                .find(|(l, _)| *l == label)
                .map(|(_, r)| *r);
            let missing = missing_peers.contains(&label);
            report.ratios.push(Ratio {
                name: format!(
                    "sync WASM / {label} webhook throughput, sqlite{}",
                    if missing { " (peer missing)" } else { "" }
                ),
                value: rate.map_or(0.0, |rate| sqlite.wasm / rate),
                target: Goal::AtLeast(goal),
            });
        }
    }
    if let Some(micros) = transform_us {
        report.ratios.push(Ratio {
            name: "added cost of a typical transform per call (µs, in process)".into(),
            value: micros,
            target: Goal::AtMost(25.0),
        });
    }
    if let (Some(sqlite), Some(ceiling)) = (&on_sqlite, ceiling_rate) {
        report.ratios.push(Ratio {
            name: "sync WASM action, sqlite / ceiling throughput".into(),
            value: sqlite.wasm / ceiling,
            target: Goal::AtLeast(0.5),
        });
    }
    if let Some((sqlite, postgres, two, queues)) = delivered {
        // Hookwing keeps every event, attempt and result; the job queues delete a job once it
        // is done (docs/BENCHMARKS.md says what each writes).
        for (label, goal) in [
            ("graphile-worker, batched", 1.0),
            ("graphile-worker, concurrency 64", 2.0),
        ] {
            let rate = queues
                .iter()
                .find(|(l, _)| *l == label)
                .and_then(|(_, r)| *r);
            report.ratios.push(Ratio {
                name: format!(
                    "async delivered, postgres, 1 replica / {label}{}",
                    if rate.is_none() {
                        " (peer missing)"
                    } else {
                        ""
                    }
                ),
                value: rate.map_or(0.0, |rate| postgres / rate),
                target: Goal::AtLeast(goal),
            });
        }
        report.ratios.push(Ratio {
            name: "async delivered, sqlite / postgres (1 replica each)".into(),
            value: sqlite / postgres,
            target: Goal::AtLeast(0.5),
        });
        report.ratios.push(Ratio {
            name: "async delivered, postgres, 2 replicas (events/s)".into(),
            value: two,
            target: Goal::AtLeast(5000.0),
        });
    }
    Ok(report)
}
