//! Test harness: real databases (a fresh SQLite file or a fresh PostgreSQL database per test),
//! the real server on port 0, and a real webhook receiver that records what it was sent.

mod hasura_webhook;
mod process;
mod webhook;

use std::net::TcpListener;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use hookwing::Config;
use hookwing::config::Environment;
use hookwing::store::{EventRecord, Store, StoreOptions};
use serde_json::{Value, json};

pub use hasura_webhook::HasuraTestWebhook;
pub use process::ServerProcess;
pub use webhook::{Recorded, Reply, WebhookServer};

/// The built guest examples (crate name, component path), from `build.rs`.
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}

/// The component bytes of guest example `name` (its crate name).
pub fn guest_wasm(name: &str) -> Vec<u8> {
    let (_, path) = guests::ALL
        .iter()
        .find(|(crate_name, _)| *crate_name == name)
        .unwrap_or_else(|| panic!("no guest example `{name}`"));
    std::fs::read(path).expect("read guest component")
}

/// A folder of the Hasura data set beside the repository (`relative` within it), or `None`
/// with a message when it is missing. Under `CI=true` a missing data set fails the test.
pub fn hasura_data(relative: &str) -> Option<std::path::PathBuf> {
    shared_data(&format!("hasura/{relative}"))
}

/// The folder of a Hasura project that holds its `actions.yaml`, searched from `project`
/// down; `None` if it has none.
pub fn hasura_metadata_dir(project: &std::path::Path) -> Option<std::path::PathBuf> {
    let mut pending = vec![project.to_owned()];
    while let Some(dir) = pending.pop() {
        if dir.join("actions.yaml").is_file() {
            return Some(dir);
        }
        for entry in std::fs::read_dir(&dir).ok()?.flatten() {
            if entry.path().is_dir() {
                pending.push(entry.path());
            }
        }
    }
    None
}

/// A folder of the shared third-party data sets beside the repository (Hasura's projects
/// and fixtures, Kriti's test corpus), or `None` with a message when it is missing. Under
/// `CI=true` a missing data set fails the test.
pub fn shared_data(relative: &str) -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared")
        .join(relative);
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the data set is required under CI=true but {} is missing",
        dir.display()
    );
    eprintln!("skipping: {} is missing", dir.display());
    None
}

/// Runs `script` (in tests/browser, which drives a real client library) with `args` under
/// Node.js, and returns the JSON it prints.
pub async fn node_client(script: &str, args: &[&str]) -> serde_json::Value {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("browser")
        .join(script);
    let output = tokio::process::Command::new("node")
        .arg(&script)
        .args(args)
        .output()
        .await
        .expect("run node (npm ci in tests/browser first)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("the client's report")
}

/// A free loopback port for a server that starts later (a child process, a webhook brought
/// up mid-test). Taken below the kernel's ephemeral range (32768–60999 by default): a port-0
/// listener or an outgoing connection elsewhere in the test run may take any ephemeral port
/// meanwhile, but never one of these.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    // Test processes running side by side start from different places.
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id() % COUNT;
    for _ in 0..COUNT {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(FIRST + (start + offset) % COUNT).expect("a port");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!(
        "no free loopback port between {FIRST} and {}",
        FIRST + COUNT
    );
}

/// An HTTP client for talking to the server under test.
pub fn http_client() -> reqwest::Client {
    hookwing::install_crypto_provider();
    reqwest::Client::new()
}

/// Where PostgreSQL tests create their databases.
pub fn postgres_admin_url() -> String {
    std::env::var("HOOKWING_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn postgres_url_for(database: &str) -> String {
    let admin = postgres_admin_url();
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);
    format!("{base}/{database}")
}

/// The two store backends every behaviour is tested on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// PostgreSQL, if it is reachable. Under `CI=true` an unreachable PostgreSQL fails the test
    /// instead of skipping it.
    pub async fn postgres() -> Option<Self> {
        match AsyncPgConnection::establish(&postgres_admin_url()).await {
            Ok(_) => Some(Self::Postgres),
            Err(error) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("PostgreSQL is required under CI=true but unreachable: {error}")
            }
            Err(error) => {
                eprintln!(
                    "skipping: PostgreSQL unreachable ({error}); set CI=true to fail instead"
                );
                None
            }
        }
    }
}

/// A database that exists for one test and is removed afterwards.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres_name: Option<String>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}", dir.path().join("hookwing.db").display());
                Self {
                    url,
                    _dir: Some(dir),
                    postgres_name: None,
                }
            }
            Backend::Postgres => {
                let name = format!("hookwing_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = AsyncPgConnection::establish(&postgres_admin_url())
                    .await
                    .expect("connect to PostgreSQL");
                admin
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                Self {
                    url: postgres_url_for(&name),
                    _dir: None,
                    postgres_name: Some(name),
                }
            }
        }
    }

    /// The one integer `sql` answers (its column named `n`), read straight from the database:
    /// for what no API shows, such as how many bytes a table holds.
    pub async fn integer(&self, sql: &str) -> i64 {
        use diesel::sql_types::BigInt;
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let rows: Vec<Row> = if let Some(path) = self.url.strip_prefix("sqlite://") {
            use diesel::{Connection, RunQueryDsl};
            let mut conn = diesel::SqliteConnection::establish(path).expect("open SQLite");
            diesel::sql_query(sql).load(&mut conn).expect("query")
        } else {
            use diesel_async::RunQueryDsl;
            use diesel_async::SimpleAsyncConnection;
            let mut conn = AsyncPgConnection::establish(&self.url)
                .await
                .expect("connect to PostgreSQL");
            // Where the server keeps its tables.
            conn.batch_execute("SET search_path TO hookwing")
                .await
                .expect("search path");
            diesel::sql_query(sql).load(&mut conn).await.expect("query")
        };
        rows.first().map_or(0, |row| row.n)
    }

    /// A store handle of our own on the same database, for reading what the server recorded.
    pub async fn store(&self) -> Store {
        Store::connect(&self.url, &StoreOptions { pool_size: 2 })
            .await
            .expect("open store")
    }

    /// The events recorded for `action`, newest first.
    pub async fn events(&self, action: &str) -> Vec<EventRecord> {
        self.store()
            .await
            .events_of_action(action, 1000)
            .await
            .expect("read events")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Drop runs outside async context: use a runtime of our own on a thread of our own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let mut admin = AsyncPgConnection::establish(&postgres_admin_url())
                    .await
                    .map_err(|e| e.to_string())?;
                let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                admin.batch_execute(&drop).await.map_err(|e| e.to_string())
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop test database: {error}");
        }
    }
}

/// A running Hookwing server.
pub struct TestServer {
    pub url: String,
    pub client: reqwest::Client,
    pub admin_secret: Option<String>,
    pub state: actix_web::web::Data<hookwing::server::AppState>,
    handle: actix_web::dev::ServerHandle,
}

impl TestServer {
    /// Starts a server on `db` with default settings (dev mode).
    pub async fn start(db: &TestDb) -> Self {
        Self::start_with(db, |_| {}).await
    }

    /// Starts a server on `db` after `adjust` has changed its configuration.
    pub async fn start_with(db: &TestDb, adjust: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::defaults();
        config.database_url = db.url.clone();
        config.database.pool_size = 4;
        config.environment = Environment::default();
        // Shared by all tests: compiled guests are cached once, not per test.
        config.wasm.cache_dir = std::env::temp_dir().join("hookwing-test-wasm-cache");
        adjust(&mut config);
        let admin_secret = config.admin_secret.clone();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let running = hookwing::serve(config, listener)
            .await
            .expect("server starts");
        let handle = running.server.handle();
        let state = running.state.clone();
        tokio::spawn(running.server);
        Self {
            url,
            client: crate::harness::http_client(),
            admin_secret,
            state,
            handle,
        }
    }

    pub fn with_admin(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.admin_secret {
            Some(secret) => request.header("x-hasura-admin-secret", secret),
            None => request,
        }
    }

    /// Sends a GraphQL request as admin; returns status and body.
    /// The HTTP response to a GraphQL request, headers and all.
    pub async fn graphql_http(&self, body: Value) -> reqwest::Response {
        self.with_admin(self.client.post(format!("{}/v1/graphql", self.url)))
            .json(&body)
            .send()
            .await
            .expect("graphql request")
    }

    /// `/metrics`, as the text the server answers.
    pub async fn metrics_text(&self) -> String {
        let response = self
            .client
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .expect("scrape");
        assert_eq!(response.status().as_u16(), 200);
        response.text().await.expect("text")
    }

    /// `/metrics` read with a Prometheus text-format parser, as a scraper reads it.
    pub async fn scrape_metrics(&self) -> prometheus_parse::Scrape {
        let text = self.metrics_text().await;
        prometheus_parse::Scrape::parse(text.lines().map(|line| Ok(line.to_owned())))
            .expect("Prometheus text format")
    }

    pub async fn graphql_raw(&self, body: Value, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut request = self.with_admin(self.client.post(format!("{}/v1/graphql", self.url)));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.json(&body).send().await.expect("graphql request");
        let status = response.status().as_u16();
        (
            status,
            response.json().await.expect("graphql response is JSON"),
        )
    }

    /// Runs a GraphQL query as admin; returns the response body.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self
            .graphql_raw(json!({"query": query, "variables": variables}), &[])
            .await;
        assert_eq!(status, 200, "graphql status, body: {body}");
        body
    }

    /// Uploads a handler as admin (`config` goes in the config header); returns status and body.
    pub async fn upload_handler(
        &self,
        name: &str,
        wasm: Vec<u8>,
        config: Option<Value>,
    ) -> (u16, Value) {
        let mut request =
            self.with_admin(self.client.put(format!("{}/v1/handlers/{name}", self.url)));
        if let Some(config) = config {
            request = request.header("x-hookwing-handler-config", config.to_string());
        }
        let response = request.body(wasm).send().await.expect("upload request");
        let status = response.status().as_u16();
        (
            status,
            response.json().await.expect("upload response is JSON"),
        )
    }

    /// Uploads the guest example `guest` as handler `name`, expecting success.
    pub async fn upload_guest(&self, name: &str, guest: &str, config: Value) -> Value {
        let (status, body) = self
            .upload_handler(name, guest_wasm(guest), Some(config))
            .await;
        assert_eq!(status, 200, "upload of {guest}: {body}");
        body
    }

    /// `GET`/`DELETE` on the handlers API as admin; returns status and body.
    pub async fn handlers_api(&self, method: reqwest::Method, path: &str) -> (u16, Value) {
        self.admin_request(method, &format!("/v1/handlers{path}"))
            .await
    }

    /// A body-less request to an admin API path, as admin; returns status and body.
    pub async fn admin_request(&self, method: reqwest::Method, path: &str) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let response = self
            .with_admin(self.client.request(method, url))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (
            status,
            response.json().await.expect("admin API response is JSON"),
        )
    }

    /// Polls `GET /v1/events/{id}` until `done` holds; returns the event.
    pub async fn event_when(
        &self,
        id: &str,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        for _ in 0..400 {
            let (_, event) = self
                .admin_request(reqwest::Method::GET, &format!("/v1/events/{id}"))
                .await;
            if done(&event) {
                return event;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("event {id} never got there");
    }

    /// Sends a metadata API request as admin; returns status and body.
    pub async fn metadata(&self, body: Value) -> (u16, Value) {
        let request = self.with_admin(self.client.post(format!("{}/v1/metadata", self.url)));
        let response = request.json(&body).send().await.expect("metadata request");
        let status = response.status().as_u16();
        (
            status,
            response.json().await.expect("metadata response is JSON"),
        )
    }

    /// Sends a metadata API request that must succeed.
    pub async fn metadata_ok(&self, body: Value) -> Value {
        let (status, response) = self.metadata(body.clone()).await;
        assert_eq!(status, 200, "metadata request {body} failed: {response}");
        response
    }

    /// Stops the server and its delivery engine, as a graceful shutdown does.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        self.state.shutdown().await;
    }
}

/// The custom types most tests use: Hasura's `userLogin` example.
pub fn login_types() -> Value {
    json!({"type": "set_custom_types", "args": {
        "objects": [{"name": "UserInfo", "fields": [
            {"name": "accessToken", "type": "String!"},
            {"name": "userId", "type": "Int!"}
        ]}]
    }})
}

/// A server (with default settings) on a fresh database of `backend`, whose `userLogin`
/// action (with extra definition keys) calls `webhook`'s `/login`.
pub async fn login_server(
    backend: Backend,
    webhook: &WebhookServer,
    extra: Value,
) -> (TestDb, TestServer) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    server.metadata_ok(login_types()).await;
    server
        .metadata_ok(login_action(&format!("{}/login", webhook.url), extra))
        .await;
    (db, server)
}

/// The `enrichAddress(country, postcode): Address` query on `wasm://{handler}`, with its type.
pub fn enrich_metadata(handler: &str) -> Value {
    json!({"type": "bulk", "args": [
        {"type": "set_custom_types", "args": {"objects": [{"name": "Address", "fields": [
            {"name": "country", "type": "String!"}, {"name": "postcode", "type": "String!"},
            {"name": "city", "type": "String!"}, {"name": "region", "type": "String!"}]}]}},
        {"type": "create_action", "args": {"name": "enrichAddress", "definition": {
            "type": "query", "arguments": [{"name": "country", "type": "String!"},
                {"name": "postcode", "type": "String!"}],
            "output_type": "Address", "handler": format!("wasm://{handler}"), "timeout": 5}}}
    ]})
}

/// A `create_action` for `userLogin(username, password): UserInfo` with extra definition keys.
pub fn login_action(handler: &str, extra: Value) -> Value {
    let mut definition = json!({
        "kind": "synchronous",
        "type": "mutation",
        "arguments": [
            {"name": "username", "type": "String!"},
            {"name": "password", "type": "String!"}
        ],
        "output_type": "UserInfo",
        "handler": handler,
        "timeout": 5
    });
    if let (Some(definition), Value::Object(extra)) = (definition.as_object_mut(), extra) {
        definition.extend(extra);
    }
    json!({"type": "create_action", "args": {"name": "userLogin", "definition": definition}})
}

/// The custom types plus an asynchronous `asyncLogin(username): UserInfo` handled by
/// `handler`, with extra definition keys (`retry`, `timeout`, …).
pub fn async_login(handler: &str, extra: Value) -> Value {
    let mut definition = json!({
        "kind": "asynchronous",
        "arguments": [{"name": "username", "type": "String!"}],
        "output_type": "UserInfo",
        "handler": handler
    });
    if let (Some(definition), Value::Object(extra)) = (definition.as_object_mut(), extra) {
        definition.extend(extra);
    }
    json!({"type": "bulk", "args": [
        login_types(),
        {"type": "create_action", "args": {"name": "asyncLogin", "definition": definition}}
    ]})
}

pub const LOGIN_MUTATION: &str =
    "mutation { userLogin(username: \"ada\", password: \"pw\") { accessToken userId } }";

/// Generates one `sqlite` and one `postgres` test for each named `async fn(Backend)`.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$case($crate::harness::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(backend) = $crate::harness::Backend::postgres().await {
                    super::$case(backend).await;
                }
            }
        }
    )*};
}
pub(crate) use on_both_backends;
