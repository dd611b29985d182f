//! WebAssembly handlers: uploaded components run in-process. Compile once (`Engine`,
//! `Component`, `InstancePre`), instantiate per call in a fresh `Store` with limits and a
//! deadline, and map what happened onto the same [`Reply`](super::Reply) classes webhooks
//! produce. The [`WasmHost`] is set up here; its upload/version catalogue is in `catalogue`,
//! the call path in `call`, the versions of the world in `world`, key-value state in `kv`.

/// Generated host bindings of the handler worlds, one module per version; public so
/// embedders (and the benchmark's bare-wasmtime baseline) can drive a handler component
/// without this host.
pub mod bindings;
mod call;
mod catalogue;
pub mod compiler;
mod component;
mod engine;
mod kv;
mod offload;
mod outbound;
mod pinned;
pub mod recording;
mod registry;
mod state;
mod world;

use std::sync::Arc;

use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

pub use catalogue::{Activation, HandlerInfo, KnownHandlers};
pub use compiler::CompileBudget;
pub use component::InvalidComponent;
pub use engine::{EngineSettings, tune_slot_reuse};
pub use kv::{KvLimits, StateWrites};
pub use registry::HandlerConfig;

use self::kv::KvService;
use self::registry::Registry;
use self::state::HostState;
use crate::store;

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

/// Three quarters of `instances`, at least one.
fn fair_share(instances: u32) -> usize {
    let instances = usize::try_from(instances).unwrap_or(usize::MAX);
    (instances - instances / 4).max(1)
}

/// Server-wide wasm settings.
#[derive(Debug, Clone)]
pub struct WasmSettings {
    pub engine: EngineSettings,
    pub max_handler_bytes: usize,
    pub default_memory_mib: u32,
    pub compile: CompileBudget,
    pub kv: KvLimits,
}

impl From<&crate::config::WasmConfig> for WasmSettings {
    fn from(wasm: &crate::config::WasmConfig) -> Self {
        Self {
            engine: EngineSettings {
                max_memory_bytes: wasm.max_memory_bytes(),
                max_concurrent_instances: wasm.max_concurrent_instances,
                cache_dir: Some(wasm.cache_dir.clone()),
            },
            max_handler_bytes: wasm.max_handler_bytes,
            default_memory_mib: wasm.default_memory_mib,
            compile: CompileBudget {
                program: wasm.compiler.clone(),
                timeout: std::time::Duration::from_secs(wasm.compile_timeout_secs),
                memory_bytes: wasm.compile_memory_mib << 20,
            },
            kv: KvLimits {
                max_value_bytes: wasm.kv_max_value_bytes,
                quota: store::StateQuota {
                    max_keys: i64::from(wasm.kv_max_keys),
                    max_bytes: i64::try_from(wasm.kv_max_bytes).unwrap_or(i64::MAX),
                },
            },
        }
    }
}

/// What the host measures.
#[derive(Clone)]
pub struct WasmMetrics {
    /// Time to instantiate a component for one call.
    pub instantiation: prometheus::Histogram,
    /// Key-value operations, by `operation` and `outcome`.
    pub state_operations: prometheus::HistogramVec,
}

impl From<&crate::telemetry::Metrics> for WasmMetrics {
    fn from(metrics: &crate::telemetry::Metrics) -> Self {
        Self {
            instantiation: metrics.wasm_instantiation.clone(),
            state_operations: metrics.handler_state.clone(),
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
    /// One permit per instance the pooling allocator holds: a call waits for one (within its
    /// deadline) instead of failing when the pool is full.
    instances: Arc<tokio::sync::Semaphore>,
    /// Where calls that keep computing run, off the request-serving threads.
    guests: Arc<offload::GuestThreads>,
    /// Handlers' key-value state.
    kv: Arc<KvService>,
}

impl WasmHost {
    /// How many instances one handler may hold at once: three quarters of the pool, so one
    /// handler saturating always leaves room for the others' calls.
    pub(crate) fn fair_share(&self) -> usize {
        fair_share(self.settings.engine.max_concurrent_instances)
    }

    /// Builds the engine and loads every stored handler's active version.
    pub async fn start(
        store: store::Store,
        settings: WasmSettings,
        metrics: WasmMetrics,
    ) -> Result<Self, WasmError> {
        let WasmMetrics {
            instantiation,
            state_operations,
        } = metrics;
        let engine = engine::build(&settings.engine)?;
        engine::start_epoch_ticker(&engine);
        let linker = Arc::new(linker(&engine)?);
        let kv = Arc::new(KvService::new(store.clone(), settings.kv, state_operations));
        let host = Self {
            engine,
            linker,
            registry: Registry::default(),
            store,
            instances: Arc::new(tokio::sync::Semaphore::new(
                usize::try_from(settings.engine.max_concurrent_instances).unwrap_or(usize::MAX),
            )),
            settings,
            instantiation,
            guests: Arc::new(offload::GuestThreads::start()?),
            kv,
        };
        host.reload().await?;
        Ok(host)
    }
}

/// The host functions handlers may import, for the server and the compiler's child alike.
fn linker(engine: &Engine) -> Result<Linker<HostState>, WasmError> {
    let mut linker = Linker::new(engine);
    let setup = |linker: &mut Linker<HostState>| -> wasmtime::Result<()> {
        wasmtime_wasi::p2::add_to_linker_async(linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
        use bindings::{v0_1, v0_2};
        v0_1::log::add_to_linker::<_, HasSelf<HostState>>(linker, |state| state)?;
        v0_1::config::add_to_linker::<_, HasSelf<HostState>>(linker, |state| state)?;
        v0_2::log::add_to_linker::<_, HasSelf<HostState>>(linker, |state| state)?;
        v0_2::config::add_to_linker::<_, HasSelf<HostState>>(linker, |state| state)?;
        v0_2::kv::add_to_linker::<_, HasSelf<HostState>>(linker, |state| state)?;
        Ok(())
    };
    setup(&mut linker).map_err(|e| WasmError::Engine(format!("{e:#}")))?;
    Ok(linker)
}
