//! Configuration, layered: embedded defaults → optional file → `HOOKWING_*` environment
//! variables (and `DATABASE_URL`) → command-line flags; then validated as a whole.
//!
//! figment does the layering because it keeps each value's origin, so a bad value is reported
//! together with where it came from.

mod environment;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

pub use environment::{Environment, reserved_prefix};

const DEFAULTS: &str = include_str!("defaults.toml");

/// Top-level keys that `HOOKWING_*` variables may set; other `HOOKWING_*` variables belong to
/// the user (for `value_from_env` headers, say) and are left alone.
const ENV_KEYS: [&str; 24] = [
    "listen",
    "enable_console",
    "jwt_secrets",
    "auth_hook",
    "auth_hook_mode",
    "metrics_secret",
    "public_metrics",
    "admin_secrets",
    "cors_domain",
    "disable_cors",
    "database_url",
    "metadata_dir",
    "metadata_dir_overwrite",
    "admin_secret",
    "jwt_secret",
    "unauthorized_role",
    "webhook_signing_secret",
    "node_id",
    "database",
    "limits",
    "log",
    "traces",
    "wasm",
    "delivery",
];

/// The server's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// `sqlite://path` (the default, `sqlite://hookwing.db`) or `postgres://…`.
    pub database_url: String,
    /// A Hasura-format metadata directory applied at start.
    #[serde(default)]
    pub metadata_dir: Option<PathBuf>,
    /// Let `metadata_dir` replace stored metadata that was changed through the API since a
    /// directory was last applied (otherwise the start is refused, saying what would go).
    #[serde(default)]
    pub metadata_dir_overwrite: bool,
    /// Guards the metadata and handler APIs; unset (with no `admin_secrets`) means dev mode.
    #[serde(default)]
    pub admin_secret: Option<String>,
    /// More admin secrets, any of which is accepted (rotate one while the others keep
    /// working): a list, or a JSON list in a string (Hasura's `HASURA_GRAPHQL_ADMIN_SECRETS`).
    #[serde(default, deserialize_with = "list_or_json_list")]
    pub admin_secrets: Vec<String>,
    /// JWT verification, as Hasura's `HASURA_GRAPHQL_JWT_SECRET`: `type`, one of `key`,
    /// `jwk_file`, `jwk_url`, and optionally `claims_namespace`, `claims_namespace_path`,
    /// `claims_format`, `claims_map`, `header`, `issuer`, `audience`, `allowed_skew` (docs/AUTH.md).
    /// A JSON string or a table.
    #[serde(default)]
    pub jwt_secret: Option<serde_json::Value>,
    /// More JWT settings, any of which may verify a token (Hasura's
    /// `HASURA_GRAPHQL_JWT_SECRETS`): a list, or a JSON list in a string.
    #[serde(default, deserialize_with = "list_or_json_list")]
    pub jwt_secrets: Vec<serde_json::Value>,
    /// The auth webhook asked who each request without the admin secret is (Hasura's
    /// `HASURA_GRAPHQL_AUTH_HOOK`); exclusive with `jwt_secret`.
    #[serde(default)]
    pub auth_hook: Option<String>,
    /// `GET` (the default: the client's headers as headers) or `POST` (as `{"headers": …}`).
    #[serde(default)]
    pub auth_hook_mode: AuthHookMode,
    /// Role given to requests without credentials; unset means they get 401.
    #[serde(default)]
    pub unauthorized_role: Option<String>,
    /// Standard Webhooks signing secret for every webhook without one of its own
    /// (`whsec_<base64>` or the base64 alone, as Standard Webhooks libraries read it).
    #[serde(default)]
    pub webhook_signing_secret: Option<String>,
    /// Names this replica as lease owner; defaults to a fresh id per process.
    #[serde(default)]
    pub node_id: Option<String>,
    /// Browser origins allowed to call the server: `*`, or a comma-separated list of
    /// `scheme://host[:port]` with `*.` wildcard subdomains (Hasura's `HASURA_GRAPHQL_CORS_DOMAIN`).
    pub cors_domain: String,
    /// No CORS headers at all (Hasura's `HASURA_GRAPHQL_DISABLE_CORS`).
    pub disable_cors: bool,
    /// A bearer token that may read `/metrics` (for a Prometheus scraper that should not hold
    /// the admin secret). Admins may always read it.
    #[serde(default)]
    pub metrics_secret: Option<String>,
    /// Anyone may read `/metrics`: an explicit choice, since metrics name every action.
    pub public_metrics: bool,
    /// Serve GraphiQL on `/` and the operator console on `/console` (Hasura's
    /// `HASURA_GRAPHQL_ENABLE_CONSOLE`). The pages hold no data; what they show comes from the
    /// APIs, with the caller's own credential.
    pub enable_console: bool,
    pub database: DatabaseConfig,
    pub limits: Limits,
    pub log: LogConfig,
    pub traces: TracesConfig,
    pub wasm: WasmConfig,
    pub delivery: DeliveryConfig,
    /// The process environment, read once at start, for `{{VAR}}` URL templates and
    /// `value_from_env` headers.
    #[serde(skip, default = "Environment::from_process")]
    pub environment: Environment,
    /// What loading noticed that an operator should hear (an unknown `HOOKWING_*` variable, a
    /// Hasura variable overridden by Hookwing's); logged when the server starts.
    #[serde(skip)]
    pub notices: Vec<String>,
}

/// A setting given as JSON text or as a table, as JSON text.
fn json_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// How the auth webhook is called.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AuthHookMode {
    /// The client's headers as the request's headers.
    #[default]
    Get,
    /// The client's headers as `{"headers": {...}}`.
    Post,
}

/// A list, given as a list or as a JSON list in a string (as Hasura's `…_ADMIN_SECRETS` and
/// `…_JWT_SECRETS` variables hold them).
fn list_or_json_list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given<T> {
        List(Vec<T>),
        Text(String),
    }
    match Given::<T>::deserialize(deserializer)? {
        Given::List(list) => Ok(list),
        Given::Text(text) => serde_json::from_str(&text)
            .map_err(|e| serde::de::Error::custom(format!("expected a JSON list: {e}"))),
    }
}

/// Hasura's names for the settings Hookwing shares, so a Hasura deployment's environment works
/// as it is. Hookwing's own variable wins when both are set.
const HASURA_ALIASES: [(&str, &str); 12] = [
    ("HASURA_GRAPHQL_ENABLE_CONSOLE", "enable_console"),
    ("HASURA_GRAPHQL_JWT_SECRETS", "jwt_secrets"),
    ("HASURA_GRAPHQL_AUTH_HOOK", "auth_hook"),
    ("HASURA_GRAPHQL_AUTH_HOOK_MODE", "auth_hook_mode"),
    ("HASURA_GRAPHQL_ADMIN_SECRET", "admin_secret"),
    ("HASURA_GRAPHQL_ADMIN_SECRETS", "admin_secrets"),
    ("HASURA_GRAPHQL_JWT_SECRET", "jwt_secret"),
    ("HASURA_GRAPHQL_UNAUTHORIZED_ROLE", "unauthorized_role"),
    ("HASURA_GRAPHQL_CORS_DOMAIN", "cors_domain"),
    ("HASURA_GRAPHQL_DISABLE_CORS", "disable_cors"),
    ("HASURA_GRAPHQL_DATABASE_URL", "database_url"),
    ("HASURA_GRAPHQL_METADATA_DIR", "metadata_dir"),
];

/// Notices about the process environment: Hasura variables that Hookwing's own override, and
/// `HOOKWING_*` variables that name no setting (a typo in `HOOKWING_ADMIN_SECRET` would
/// otherwise start the server in dev mode without a word).
fn environment_notices() -> Vec<String> {
    let mut notices = Vec::new();
    for (hasura, key) in HASURA_ALIASES {
        let ours = format!("HOOKWING_{}", key.to_ascii_uppercase());
        if std::env::var_os(hasura).is_some() && std::env::var_os(&ours).is_some() {
            notices.push(format!("{ours} and {hasura} are both set; {ours} is used"));
        }
    }
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix("HOOKWING_") else {
            continue;
        };
        let top = rest.split("__").next().unwrap_or_default();
        if !ENV_KEYS.iter().any(|known| known.eq_ignore_ascii_case(top)) {
            notices.push(format!(
                "environment variable {name} is not a Hookwing setting and is ignored"
            ));
        }
    }
    notices
}

/// Database pool settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub pool_size: usize,
}

/// Size limits; each violation is reported with a stable error code.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_response_bytes: usize,
    /// Deepest selection set a query may have.
    pub max_query_depth: usize,
    /// Highest query complexity (one per selected field) accepted, for one operation and for
    /// all the operations of a batch together.
    pub max_query_complexity: usize,
    /// Most operations in one batched request.
    pub max_batch_operations: usize,
    /// Most action calls (root fields, aliases included) one request may make, over all its
    /// operations: each may store an event and call a handler.
    pub max_action_calls: usize,
}

/// WebAssembly handler settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasmConfig {
    /// Where compiled handlers are cached, so restarts skip compilation.
    pub cache_dir: PathBuf,
    /// Largest `.wasm` upload accepted.
    pub max_handler_bytes: usize,
    /// Memory a handler call gets unless its config says otherwise, MiB.
    pub default_memory_mib: u32,
    /// The most memory any handler may be configured with, MiB.
    pub max_memory_mib: u32,
    /// Handler instances that may run at once across the server.
    pub max_concurrent_instances: u32,
    /// Wall-clock seconds compiling one upload may take.
    pub compile_timeout_secs: u64,
    /// Memory compiling one upload may use, MiB.
    pub compile_memory_mib: u64,
    /// The largest value a handler may store under one key (`hookwing:action/kv`).
    pub kv_max_value_bytes: usize,
    /// Keys one handler's key-value namespace may hold.
    pub kv_max_keys: u32,
    /// Bytes (keys and values together) one handler's key-value namespace may hold.
    pub kv_max_bytes: u64,
    /// The program that compiles uploads in a child process: the `hookwing` binary sets
    /// itself. Not a setting; `None` (a library embedding without the binary) compiles in
    /// the server's process, bounded only by `max_handler_bytes`.
    #[serde(skip)]
    pub compiler: Option<PathBuf>,
}

/// The asynchronous delivery engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Whether this replica delivers asynchronous events at all. Off makes an API-only node:
    /// it accepts events (and runs synchronous actions) and leaves delivery to the others.
    pub enabled: bool,
    /// Deliveries running at once on this replica.
    pub concurrency: usize,
    /// Most events claimed per query.
    pub batch_size: usize,
    /// Seconds a claim lasts without renewal: how long a crashed replica's events wait before
    /// another takes them over.
    pub lease_secs: u64,
    /// Look for due events at least this often even without a notification, milliseconds.
    pub poll_interval_ms: u64,
    /// On shutdown, seconds running deliveries get to finish before they are handed back.
    pub shutdown_grace_secs: u64,
    /// Finished events (and their attempts) older than this many seconds are deleted
    /// automatically; 0 keeps them forever.
    pub retention_secs: u64,
}

impl DeliveryConfig {
    /// How long a claim lasts without renewal.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_secs)
    }

    /// The longest wait between looks for due events.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    /// How long running work may finish at shutdown.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// How long finished events are kept; `None` keeps them forever.
    pub fn retention(&self) -> Option<Duration> {
        (self.retention_secs > 0).then(|| Duration::from_secs(self.retention_secs))
    }
}

impl WasmConfig {
    /// The most linear memory any handler may be configured with, in bytes.
    pub fn max_memory_bytes(&self) -> usize {
        usize::try_from(self.max_memory_mib).unwrap_or(usize::MAX) << 20
    }
}

/// Trace export settings (see `crate::traces`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracesConfig {
    /// The OTLP/HTTP collector's base URL (`http://collector:4318`; `/v1/traces` is added).
    /// Unset, the standard `OTEL_EXPORTER_OTLP_ENDPOINT` and
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` variables turn export on; with neither, it is off.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// The `service.name` the spans carry.
    pub service_name: String,
}

/// Logging settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    pub filter: String,
    /// The access log: one line per HTTP request.
    pub access: bool,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Settings given on the command line; `None` leaves the lower layers' value.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata_dir_overwrite: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_secret: Option<String>,
}

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    MissingFile(PathBuf),
    /// A value that cannot be read, named as the user wrote it (the flag, the variable, or
    /// the file key).
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("invalid configuration: {0}")]
    Rule(String),
}

/// A figment error in the user's terms: `--listen: invalid socket address syntax`,
/// `HOOKWING_LISTEN: …`, `listen in hookwing.toml: …`.
fn describe(error: &figment::Error) -> String {
    let key = error.path.join(".");
    let place = match &error.metadata {
        Some(metadata) if metadata.name.contains("Overrides") => {
            format!("--{}", key.replace('_', "-"))
        }
        Some(metadata) if metadata.name.contains("environment") => {
            let ours = format!("HOOKWING_{}", error.path.join("__").to_ascii_uppercase());
            match HASURA_ALIASES.iter().find(|(_, aliased)| *aliased == key) {
                _ if key == "database_url" => "DATABASE_URL".into(),
                Some((hasura, _)) => format!("{ours} (or {hasura})"),
                None => ours,
            }
        }
        Some(metadata) => match &metadata.source {
            Some(source) => format!("{key} in {source}"),
            None => key.clone(),
        },
        None if key.is_empty() => "the configuration".into(),
        None => key.clone(),
    };
    format!("{place}: {}", error.kind)
}

impl Config {
    /// Loads every layer and validates the result.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::MissingFile(file.to_owned()));
            }
            figment = figment.merge(Toml::file(file));
        }
        let aliases: Vec<&str> = HASURA_ALIASES.iter().map(|(hasura, _)| *hasura).collect();
        let mut config: Config = figment
            .merge(Env::raw().only(&aliases).map(|name| {
                HASURA_ALIASES
                    .iter()
                    .find(|(hasura, _)| name.as_str().eq_ignore_ascii_case(hasura))
                    .map_or(name.as_str(), |(_, key)| key)
                    .into()
            }))
            .merge(
                Env::prefixed("HOOKWING_")
                    .filter(|key| {
                        // Keys keep the variable's case until figment lowercases them later.
                        let top = key.as_str().split("__").next().unwrap_or_default();
                        ENV_KEYS.iter().any(|known| known.eq_ignore_ascii_case(top))
                    })
                    .split("__"),
            )
            .merge(Env::raw().only(&["DATABASE_URL"]))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(|error| ConfigError::Invalid(describe(&error)))?;
        config.validate()?;
        config.notices = environment_notices();
        Ok(config)
    }

    /// The embedded defaults alone, ignoring the environment: a starting point for embedding
    /// the server and for tests.
    pub fn defaults() -> Self {
        Figment::from(Toml::string(DEFAULTS))
            .extract()
            .expect("embedded defaults are valid")
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let url = &self.database_url;
        let known = ["sqlite://", "postgres://", "postgresql://"];
        if !known.iter().any(|scheme| url.starts_with(scheme)) {
            return Err(ConfigError::Rule(format!(
                "database_url `{url}` must start with sqlite://, postgres:// or postgresql://"
            )));
        }
        if self.database.pool_size == 0 {
            return Err(ConfigError::Rule(
                "database.pool_size must be at least 1".into(),
            ));
        }
        if self.limits.max_body_bytes < 1024 || self.limits.max_response_bytes < 1024 {
            return Err(ConfigError::Rule(
                "limits must be at least 1024 bytes".into(),
            ));
        }
        let delivery = &self.delivery;
        if delivery.concurrency == 0 || delivery.batch_size == 0 || delivery.lease_secs == 0 {
            return Err(ConfigError::Rule(
                "delivery.concurrency, batch_size and lease_secs must be at least 1".into(),
            ));
        }
        let wasm = &self.wasm;
        if wasm.default_memory_mib == 0 || wasm.default_memory_mib > wasm.max_memory_mib {
            return Err(ConfigError::Rule(
                "wasm.default_memory_mib must be between 1 and wasm.max_memory_mib".into(),
            ));
        }
        if wasm.compile_timeout_secs == 0 || wasm.compile_memory_mib < 64 {
            return Err(ConfigError::Rule(
                "wasm.compile_timeout_secs must be at least 1 and wasm.compile_memory_mib at \
                 least 64"
                    .into(),
            ));
        }
        if wasm.kv_max_value_bytes == 0 || wasm.kv_max_keys == 0 || wasm.kv_max_bytes == 0 {
            return Err(ConfigError::Rule(
                "wasm.kv_max_value_bytes, wasm.kv_max_keys and wasm.kv_max_bytes must be at \
                 least 1"
                    .into(),
            ));
        }
        if wasm.max_concurrent_instances == 0 {
            return Err(ConfigError::Rule(
                "wasm.max_concurrent_instances must be at least 1".into(),
            ));
        }
        if self.admin_secret.as_deref() == Some("")
            || self.admin_secrets.iter().any(String::is_empty)
        {
            return Err(ConfigError::Rule("admin secrets must not be empty".into()));
        }
        Ok(())
    }

    /// The `jwt_secret` setting as the JSON text the verifier reads.
    pub fn jwt_setting(&self) -> Option<String> {
        self.jwt_secret.as_ref().map(json_text)
    }

    /// Every JWT setting, `jwt_secret` first, then `jwt_secrets`, each as JSON text.
    pub fn jwt_settings(&self) -> Vec<String> {
        self.jwt_setting()
            .into_iter()
            .chain(self.jwt_secrets.iter().map(json_text))
            .collect()
    }

    /// Every accepted admin secret.
    pub fn all_admin_secrets(&self) -> Vec<String> {
        self.admin_secret
            .iter()
            .chain(&self.admin_secrets)
            .cloned()
            .collect()
    }

    /// Whether the server runs without an admin secret.
    pub fn dev_mode(&self) -> bool {
        self.admin_secret.is_none() && self.admin_secrets.is_empty()
    }
}

#[cfg(test)]
#[expect(
    clippy::result_large_err,
    reason = "figment::Jail fixes the closures' error type"
)]
mod tests {
    use figment::Jail;

    use super::*;

    fn load(file: Option<&str>, overrides: &Overrides) -> Result<Config, ConfigError> {
        Config::load(file.map(Path::new), overrides)
    }

    #[test]
    fn embedded_defaults_match_the_documented_surface() {
        Jail::expect_with(|_| {
            let config = load(None, &Overrides::default()).expect("defaults load");
            assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
            assert_eq!(config.database_url, "sqlite://hookwing.db");
            assert!(config.dev_mode());
            Ok(())
        });
    }

    #[test]
    fn layers_apply_in_order_file_then_env_then_flags() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "hookwing.toml",
                "listen = \"127.0.0.1:9000\"\nadmin_secret = \"from-file\"\n\
                 [limits]\nmax_body_bytes = 2048\n",
            )?;
            let config = load(Some("hookwing.toml"), &Overrides::default()).expect("file");
            assert_eq!(config.listen.port(), 9000);
            assert_eq!(config.limits.max_body_bytes, 2048);
            assert_eq!(config.admin_secret.as_deref(), Some("from-file"));

            jail.set_env("HOOKWING_LISTEN", "127.0.0.1:9001");
            jail.set_env("HOOKWING_LIMITS__MAX_BODY_BYTES", "4096");
            jail.set_env("DATABASE_URL", "postgres://db/hookwing");
            // A HOOKWING_* variable that names no setting is not config; it is reported.
            jail.set_env("HOOKWING_WEBHOOK_TOKEN", "abc");
            let config = load(Some("hookwing.toml"), &Overrides::default()).expect("env");
            assert!(
                config
                    .notices
                    .iter()
                    .any(|n| n.contains("HOOKWING_WEBHOOK_TOKEN")),
                "{:?}",
                config.notices
            );
            assert_eq!(config.listen.port(), 9001);
            assert_eq!(config.limits.max_body_bytes, 4096);
            assert_eq!(config.database_url, "postgres://db/hookwing");
            assert_eq!(
                config.environment.get("HOOKWING_WEBHOOK_TOKEN"),
                Some("abc")
            );

            let flags = Overrides {
                listen: Some("127.0.0.1:9002".into()),
                admin_secret: Some("from-flag".into()),
                ..Overrides::default()
            };
            let config = load(Some("hookwing.toml"), &flags).expect("flags");
            assert_eq!(config.listen.port(), 9002);
            assert_eq!(config.admin_secret.as_deref(), Some("from-flag"));
            Ok(())
        });
    }

    #[test]
    fn hasura_variable_names_work_and_hookwings_win() {
        Jail::expect_with(|jail| {
            jail.set_env("HASURA_GRAPHQL_ADMIN_SECRET", "from-hasura");
            jail.set_env("HASURA_GRAPHQL_CORS_DOMAIN", "https://*.example.test");
            jail.set_env("HASURA_GRAPHQL_UNAUTHORIZED_ROLE", "anonymous");
            jail.set_env("HASURA_GRAPHQL_ADMIN_SECRETS", r#"["old", "new"]"#);
            jail.set_env(
                "HASURA_GRAPHQL_JWT_SECRETS",
                r#"[{"type": "HS256", "key": "k1"}, {"type": "HS512", "key": "k2"}]"#,
            );
            let config = load(None, &Overrides::default()).expect("aliases");
            assert_eq!(config.admin_secret.as_deref(), Some("from-hasura"));
            assert_eq!(config.cors_domain, "https://*.example.test");
            assert_eq!(config.unauthorized_role.as_deref(), Some("anonymous"));
            assert_eq!(config.admin_secrets, ["old", "new"]);
            assert_eq!(config.all_admin_secrets(), ["from-hasura", "old", "new"]);
            assert_eq!(config.jwt_settings().len(), 2);
            assert!(config.notices.is_empty(), "{:?}", config.notices);

            jail.set_env("HOOKWING_ADMIN_SECRET", "from-hookwing");
            let config = load(None, &Overrides::default()).expect("both");
            assert_eq!(config.admin_secret.as_deref(), Some("from-hookwing"));
            assert!(
                config
                    .notices
                    .iter()
                    .any(|n| n.contains("HASURA_GRAPHQL_ADMIN_SECRET")),
                "{:?}",
                config.notices
            );

            // A typo no longer starts the server in dev mode silently.
            jail.set_env("HOOKWING_ADMIN_SECRT", "typo");
            let config = load(None, &Overrides::default()).expect("typo");
            assert!(
                config
                    .notices
                    .iter()
                    .any(|n| n.contains("HOOKWING_ADMIN_SECRT"))
            );
            Ok(())
        });
    }

    #[test]
    fn invalid_settings_are_refused_with_the_reason() {
        Jail::expect_with(|jail| {
            let missing = load(Some("nope.toml"), &Overrides::default()).expect_err("missing");
            assert!(matches!(missing, ConfigError::MissingFile(_)));

            jail.create_file("typo.toml", "lisen = \"127.0.0.1:1\"\n")?;
            let typo = load(Some("typo.toml"), &Overrides::default()).expect_err("typo");
            assert!(typo.to_string().contains("lisen"), "{typo}");

            jail.set_env("DATABASE_URL", "mysql://x");
            let scheme = load(None, &Overrides::default()).expect_err("scheme");
            assert!(
                scheme.to_string().contains("must start with sqlite://"),
                "{scheme}"
            );

            jail.set_env("DATABASE_URL", "sqlite://ok.db");
            jail.set_env("HOOKWING_LIMITS__MAX_BODY_BYTES", "lots");
            let kind = load(None, &Overrides::default()).expect_err("type");
            let message = kind.to_string();
            jail.set_env("HOOKWING_LIMITS__MAX_BODY_BYTES", "2048");
            jail.set_env("HOOKWING_ADMIN_SECRET", "s");
            jail.set_env("HOOKWING_JWT_SECRET", r#"{"type": "HS256", "key": "k"}"#);
            let config = load(None, &Overrides::default()).expect("a JSON jwt_secret loads");
            let json: serde_json::Value =
                serde_json::from_str(&config.jwt_setting().expect("set")).expect("JSON");
            assert_eq!(json["type"], "HS256");
            assert!(
                message.to_lowercase().contains("max_body_bytes"),
                "{message}"
            );
            assert!(
                message.contains("HOOKWING_"),
                "names where the value came from: {message}"
            );
            Ok(())
        });
    }
}
