//! WebAssembly handlers: uploaded components run in-process. Compile once (`Engine`,
//! `Component`, `InstancePre`), instantiate per call in a fresh `Store` with limits and a
//! deadline, and map what happened onto the same [`Reply`] classes webhooks produce.

pub mod api;
/// Generated host bindings of the handler world; public so embedders (and the benchmark's
/// bare-wasmtime baseline) can drive a handler component without this host.
pub mod bindings;
mod component;
mod engine;
mod outbound;
mod registry;
mod state;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Engine, Store, UpdateDeadline};

pub use component::InvalidComponent;
pub use engine::{EngineSettings, tune_slot_reuse};
pub use registry::HandlerConfig;

use self::bindings::{ActionError, Event, HandlerError, Request};
use self::registry::{Loaded, Registry, Resolved};
use self::state::{HostState, LogTag};
use super::{Delivery, HandlerRequest, Reply};
use crate::store::{self, StoredHandler};

/// Failures of the wasm host itself (not of a guest).
#[derive(Debug, thiserror::Error)]
pub enum WasmError {
    #[error("cannot set up the wasm engine: {0}")]
    Engine(String),
    #[error("handler `{name}` ({sha256}) cannot be loaded: {reason}")]
    Load {
        name: String,
        sha256: String,
        reason: String,
    },
    #[error(transparent)]
    Invalid(#[from] InvalidComponent),
    #[error("invalid handler config: {0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// `wasm://name` or `wasm://name@sha256-prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmRef {
    pub name: String,
    pub pin: Option<String>,
}

impl WasmRef {
    /// Parses what follows `wasm://`.
    pub fn parse(rest: &str) -> Result<Self, String> {
        let (name, pin) = match rest.split_once('@') {
            Some((name, pin)) => (name, Some(pin)),
            None => (rest, None),
        };
        if !is_valid_handler_name(name) {
            return Err(format!(
                "`{name}` is not a valid handler name (letters, digits, - and _)"
            ));
        }
        if let Some(pin) = pin
            && (pin.len() < 8 || !pin.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(format!(
                "`{pin}` is not a sha256 prefix (at least 8 hex digits)"
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            pin: pin.map(str::to_ascii_lowercase),
        })
    }
}

/// Handler names: what fits in a URL path segment without escaping.
pub fn is_valid_handler_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The stored handler versions, as metadata validation sees them: an action may only name a
/// handler (version) that exists.
#[derive(Debug, Clone, Default)]
pub struct KnownHandlers {
    versions: Vec<(String, String)>,
}

impl KnownHandlers {
    pub fn from_stored(versions: &[StoredHandler]) -> Self {
        Self {
            versions: versions
                .iter()
                .map(|v| (v.name.clone(), v.sha256.clone()))
                .collect(),
        }
    }

    /// Whether `wasm_ref` names a stored handler, or a stored version of it when pinned.
    pub fn contains(&self, wasm_ref: &WasmRef) -> bool {
        self.versions.iter().any(|(name, sha256)| {
            *name == wasm_ref.name
                && wasm_ref
                    .pin
                    .as_deref()
                    .is_none_or(|pin| sha256.starts_with(pin))
        })
    }
}

/// Server-wide wasm settings.
#[derive(Debug, Clone)]
pub struct WasmSettings {
    pub engine: EngineSettings,
    pub max_handler_bytes: usize,
    pub default_memory_mib: u32,
}

/// What is known about one stored handler version, for the API.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HandlerInfo {
    pub name: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub uploaded_at: chrono::DateTime<chrono::Utc>,
    pub active: bool,
    pub config: Value,
}

impl HandlerInfo {
    fn from_stored(stored: &StoredHandler, active: bool) -> Self {
        Self {
            name: stored.name.clone(),
            sha256: stored.sha256.clone(),
            size_bytes: stored.size_bytes,
            uploaded_at: stored.uploaded_at.0,
            active,
            config: stored.config.clone(),
        }
    }
}

/// Runs WebAssembly handlers. One per server.
pub struct WasmHost {
    engine: Engine,
    linker: Arc<Linker<HostState>>,
    registry: Registry,
    store: store::Store,
    settings: WasmSettings,
    instantiation: prometheus::Histogram,
}

impl WasmHost {
    /// Builds the engine and loads every stored handler's active version.
    pub async fn start(
        store: store::Store,
        settings: WasmSettings,
        instantiation: prometheus::Histogram,
    ) -> Result<Self, WasmError> {
        let engine = engine::build(&settings.engine)?;
        engine::start_epoch_ticker(&engine);
        let linker = Arc::new(linker(&engine)?);
        let host = Self {
            engine,
            linker,
            registry: Registry::default(),
            store,
            settings,
            instantiation,
        };
        host.reload().await?;
        Ok(host)
    }

    /// Re-reads the stored handlers and swaps in their active versions.
    pub async fn reload(&self) -> Result<(), WasmError> {
        let versions = self.store.handler_versions().await?;
        let current = self.registry.active();
        let mut active = HashMap::new();
        for stored in &versions {
            if active.contains_key(&stored.name) {
                continue; // older version of a name already seen
            }
            let loaded = match current.get(&stored.name) {
                Some(loaded) if loaded.sha256 == stored.sha256 && same_config(loaded, stored) => {
                    loaded.clone()
                }
                _ => Arc::new(self.load(stored).await?),
            };
            active.insert(stored.name.clone(), loaded);
        }
        self.registry.replace(active, versions);
        Ok(())
    }

    async fn load(&self, stored: &StoredHandler) -> Result<Loaded, WasmError> {
        let load_error = |reason: String| WasmError::Load {
            name: stored.name.clone(),
            sha256: stored.sha256.clone(),
            reason,
        };
        let bytes = self
            .store
            .handler_wasm(&stored.name, &stored.sha256)
            .await?
            .ok_or_else(|| load_error("its bytes are gone from the store".into()))?;
        let config: HandlerConfig = serde_json::from_value(stored.config.clone())
            .map_err(|e| load_error(format!("stored config: {e}")))?;
        let pre = self
            .compile(bytes)
            .await
            .map_err(|e| load_error(e.to_string()))?;
        Ok(Loaded::new(
            &stored.name,
            &stored.sha256,
            pre,
            &config,
            self.settings.default_memory_mib,
        ))
    }

    async fn compile(
        &self,
        bytes: Vec<u8>,
    ) -> Result<bindings::ActionHandlerPre<HostState>, InvalidComponent> {
        let engine = self.engine.clone();
        let linker = self.linker.clone();
        let max = self.settings.max_handler_bytes;
        tokio::task::spawn_blocking(move || component::compile(&engine, &linker, &bytes, max))
            .await
            .unwrap_or_else(|e| {
                Err(InvalidComponent::Invalid(format!(
                    "compilation panicked: {e}"
                )))
            })
    }

    /// Validates, compiles and stores a new version of `name`, then activates it.
    pub async fn upload(
        &self,
        name: &str,
        bytes: Vec<u8>,
        config: HandlerConfig,
    ) -> Result<HandlerInfo, WasmError> {
        if let Some(mib) = config.memory_limit_mib {
            let max = self.settings.engine.max_memory_bytes >> 20;
            if mib == 0 || usize::try_from(mib).unwrap_or(usize::MAX) > max {
                return Err(WasmError::Config(format!(
                    "memory_limit_mib must be between 1 and {max}"
                )));
            }
        }
        if config.max_concurrency == Some(0) {
            return Err(WasmError::Config(
                "max_concurrency must be at least 1".into(),
            ));
        }
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let config_json =
            serde_json::to_value(&config).map_err(|e| WasmError::Config(e.to_string()))?;
        let pre = self.compile(bytes.clone()).await?;
        self.store
            .put_handler(name, &sha256, &bytes, &config_json)
            .await?;
        let loaded = Loaded::new(
            name,
            &sha256,
            pre,
            &config,
            self.settings.default_memory_mib,
        );
        let mut active = HashMap::clone(&self.registry.active());
        active.insert(name.to_owned(), Arc::new(loaded));
        let versions = self.store.handler_versions().await?;
        self.registry.replace(active, versions);
        self.info(name)
            .ok_or_else(|| WasmError::Config("the upload vanished".into()))
    }

    /// Deletes every version of `name`; false if there was none.
    pub async fn delete(&self, name: &str) -> Result<bool, WasmError> {
        let deleted = self.store.delete_handler(name).await? > 0;
        let mut active = HashMap::clone(&self.registry.active());
        active.remove(name);
        let versions = self.store.handler_versions().await?;
        self.registry.replace(active, versions);
        Ok(deleted)
    }

    /// The active version of every handler.
    pub fn list(&self) -> Vec<HandlerInfo> {
        let active = self.registry.active();
        let mut seen = std::collections::HashSet::new();
        self.registry
            .versions()
            .iter()
            .filter(|v| seen.insert(v.name.clone()))
            .map(|v| {
                HandlerInfo::from_stored(
                    v,
                    active.get(&v.name).is_some_and(|a| a.sha256 == v.sha256),
                )
            })
            .collect()
    }

    /// The active version of `name`.
    pub fn info(&self, name: &str) -> Option<HandlerInfo> {
        self.list().into_iter().find(|info| info.name == name)
    }

    /// Every stored version of `name`, newest first.
    pub fn versions_of(&self, name: &str) -> Vec<HandlerInfo> {
        let active = self.registry.active();
        self.registry
            .versions()
            .iter()
            .filter(|v| v.name == name)
            .map(|v| {
                HandlerInfo::from_stored(v, active.get(name).is_some_and(|a| a.sha256 == v.sha256))
            })
            .collect()
    }

    /// The stored handler versions, for metadata validation.
    pub fn known(&self) -> KnownHandlers {
        KnownHandlers::from_stored(&self.registry.versions())
    }

    async fn resolve(&self, wasm_ref: &WasmRef) -> Result<Arc<Loaded>, String> {
        match self
            .registry
            .resolve(&wasm_ref.name, wasm_ref.pin.as_deref())
        {
            Resolved::Ready(loaded) => Ok(loaded),
            Resolved::Missing => Err(format!(
                "no wasm handler `{}` is uploaded",
                display(wasm_ref)
            )),
            Resolved::NotLoaded(stored) => {
                let loaded = Arc::new(self.load(&stored).await.map_err(|e| e.to_string())?);
                self.registry.remember_pinned(loaded.clone());
                Ok(loaded)
            }
        }
    }

    /// Makes one attempt; never fails, every problem is a [`Reply::Failed`].
    pub async fn call(
        &self,
        wasm_ref: &WasmRef,
        request: &HandlerRequest<'_>,
        timeout: Duration,
    ) -> Delivery {
        let deadline = Instant::now() + timeout;
        let loaded = match self.resolve(wasm_ref).await {
            Ok(loaded) => loaded,
            Err(reason) => return failed(reason, Vec::new()),
        };
        let _permit = match &loaded.concurrency {
            Some(semaphore) => {
                match tokio::time::timeout(timeout, semaphore.clone().acquire_owned()).await {
                    Ok(Ok(permit)) => Some(permit),
                    _ => {
                        return failed(
                            format!(
                                "handler `{}` stayed at its max_concurrency until the deadline",
                                loaded.name
                            ),
                            Vec::new(),
                        );
                    }
                }
            }
            None => None,
        };
        let tag = LogTag {
            handler: loaded.name.clone(),
            event_id: request.event.id.to_string(),
        };
        let state = HostState::new(
            loaded.memory_limit,
            loaded.config.clone(),
            loaded.policy.clone(),
            tag,
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        // Yield to tokio every tick so a busy guest shares its thread; trap at the deadline.
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(wasmtime::Error::new(DeadlineExceeded))
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store.set_epoch_deadline(1);

        let wit_request = to_wit(request);
        let outcome = tokio::time::timeout(timeout, async {
            let started = Instant::now();
            let instance = loaded.pre.instantiate_async(&mut store).await?;
            self.instantiation.observe(started.elapsed().as_secs_f64());
            instance
                .hookwing_action_handler()
                .call_handle(&mut store, &wit_request)
                .await
        })
        .await;
        let denied = store.data().denied_requests();
        let mut logs = store.data_mut().take_logs();
        for reason in &denied {
            logs.push(serde_json::json!({"level": "warn", "message": format!("outbound request refused: {reason}")}));
        }
        let reply = match outcome {
            Err(_) => Reply::Failed {
                reason: deadline_reason(timeout),
                retry_after: None,
            },
            Ok(Err(error)) => Reply::Failed {
                reason: describe_trap(&error, timeout, &loaded),
                retry_after: None,
            },
            Ok(Ok(Ok(output))) => match serde_json::from_str::<Value>(&output) {
                Ok(output) => Reply::Success { output },
                Err(e) => Reply::Failed {
                    reason: format!("wasm handler returned output that is not JSON: {e}"),
                    retry_after: None,
                },
            },
            Ok(Ok(Err(HandlerError::Reject(rejection)))) => rejected(rejection, &mut logs),
            Ok(Ok(Err(HandlerError::Retry(retry)))) => Reply::Failed {
                reason: format!("wasm handler asked for a retry: {}", retry.reason),
                retry_after: retry.after_ms.map(Duration::from_millis),
            },
        };
        Delivery {
            reply,
            status_code: None,
            logs,
        }
    }
}

/// Whether a loaded version is still what the store holds (same bytes, same config).
fn same_config(loaded: &Loaded, stored: &StoredHandler) -> bool {
    serde_json::from_value::<HandlerConfig>(stored.config.clone())
        .is_ok_and(|config| config == loaded.handler_config)
}

fn display(wasm_ref: &WasmRef) -> String {
    match &wasm_ref.pin {
        Some(pin) => format!("{}@{pin}", wasm_ref.name),
        None => wasm_ref.name.clone(),
    }
}

fn linker(engine: &Engine) -> Result<Linker<HostState>, WasmError> {
    let mut linker = Linker::new(engine);
    let setup = |linker: &mut Linker<HostState>| -> wasmtime::Result<()> {
        wasmtime_wasi::p2::add_to_linker_async(linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
        bindings::log::add_to_linker::<_, HasSelf<HostState>>(linker, |state| state)?;
        bindings::config::add_to_linker::<_, HasSelf<HostState>>(linker, |state| state)?;
        Ok(())
    };
    setup(&mut linker).map_err(|e| WasmError::Engine(format!("{e:#}")))?;
    Ok(linker)
}

/// Raised from the epoch callback when a call runs past its deadline.
#[derive(Debug)]
struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline exceeded")
    }
}

impl std::error::Error for DeadlineExceeded {}

fn deadline_reason(timeout: Duration) -> String {
    format!(
        "wasm handler did not finish within {} ms",
        timeout.as_millis()
    )
}

fn describe_trap(error: &wasmtime::Error, timeout: Duration, loaded: &Loaded) -> String {
    if error.downcast_ref::<DeadlineExceeded>().is_some() {
        return deadline_reason(timeout);
    }
    let text = shorten(&format!("{error:?}"));
    if text.contains("forcing trap when growing memory") {
        return format!(
            "wasm handler ran out of memory (limit {} MiB): {error:#}",
            loaded.memory_limit >> 20
        );
    }
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::StackOverflow) => "wasm handler overflowed its stack".into(),
        Some(trap) => format!("wasm handler trapped ({trap}): {text}"),
        None => format!("wasm handler failed: {text}"),
    }
}

/// A trap's report with its backtrace cut to the innermost frames: enough to locate the fault,
/// not a 10,000-line attempt record after a deep recursion.
fn shorten(report: &str) -> String {
    const MAX_LINES: usize = 12;
    let lines: Vec<&str> = report.lines().collect();
    if lines.len() <= MAX_LINES {
        return report.to_owned();
    }
    let cause = lines
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty())
        .copied()
        .unwrap_or_default();
    format!(
        "{}\n    … {} more lines …\n{}",
        lines[..MAX_LINES].join("\n"),
        lines.len() - MAX_LINES - 1,
        cause
    )
}

fn rejected(rejection: ActionError, logs: &mut Vec<Value>) -> Reply {
    let extensions =
        rejection
            .extensions
            .and_then(|text| match serde_json::from_str::<Value>(&text) {
                Ok(value @ Value::Object(_)) => Some(value),
                _ => {
                    logs.push(serde_json::json!({"level": "warn",
                "message": "the rejection's extensions are not a JSON object; they were dropped"}));
                    None
                }
            });
    Reply::Rejected {
        message: rejection.message,
        extensions,
    }
}

fn failed(reason: String, logs: Vec<Value>) -> Delivery {
    Delivery {
        reply: Reply::Failed {
            reason,
            retry_after: None,
        },
        status_code: None,
        logs,
    }
}

fn to_wit(request: &HandlerRequest<'_>) -> Request {
    let session_variables = request
        .session_variables
        .as_object()
        .map(|vars| {
            vars.iter()
                .map(|(name, value)| {
                    let value = value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_owned);
                    (name.clone(), value)
                })
                .collect()
        })
        .unwrap_or_default();
    Request {
        action: request.action.name.to_owned(),
        input: request.input.to_string(),
        session_variables,
        request_query: request.request_query.to_owned(),
        event: Event {
            id: request.event.id.to_string(),
            attempt: request.event.attempt,
            created_at: request
                .event
                .created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        },
    }
}
