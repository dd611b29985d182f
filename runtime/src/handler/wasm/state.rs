//! What one call's `Store` holds: an empty WASI context (no files, no environment, no network
//! but `wasi:http` through [`Outbound`]), resource limits, the handler's config values, its
//! key-value namespace, and the log lines the guest writes. The host interfaces are
//! implemented here once, for every version of the world.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings::{v0_1, v0_2};
use super::kv::{KvFailure, KvSession};
use super::outbound::{Outbound, OutboundPolicy, Tap};

/// Log lines kept per attempt; more are counted, not stored, so a chatty guest cannot grow the
/// attempt record without bound.
const MAX_LOG_LINES: usize = 200;
/// Bytes of one log line kept.
const MAX_LOG_LINE_BYTES: usize = 4096;
/// Bytes of stdout and of stderr captured per call.
const STDIO_CAPTURE_BYTES: usize = 64 * 1024;

/// Per-call host state.
pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: Outbound,
    pub limits: StoreLimits,
    config: Arc<BTreeMap<String, String>>,
    kv: KvSession,
    logs: Vec<Value>,
    dropped_lines: usize,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
    tag: LogTag,
}

/// Who is logging, for the server's own log lines.
#[derive(Debug, Clone)]
pub struct LogTag {
    pub handler: String,
    pub event_id: String,
}

impl HostState {
    /// A fresh state: nothing inherited from the server process.
    pub fn new(
        memory_limit: usize,
        config: Arc<BTreeMap<String, String>>,
        policy: Arc<OutboundPolicy>,
        tap: Tap,
        kv: KvSession,
        tag: LogTag,
    ) -> Self {
        let stdout = MemoryOutputPipe::new(STDIO_CAPTURE_BYTES);
        let stderr = MemoryOutputPipe::new(STDIO_CAPTURE_BYTES);
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false)
            .build();
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: Outbound {
                policy,
                denied: Arc::new(Mutex::new(Vec::new())),
                resolver: super::outbound::system_resolver(),
                trace_context: crate::traces::current_context_headers(),
                tap,
            },
            limits: StoreLimitsBuilder::new()
                .memory_size(memory_limit)
                .instances(16)
                .tables(16)
                .memories(4)
                .trap_on_grow_failure(true)
                .build(),
            config,
            kv,
            logs: Vec::new(),
            dropped_lines: 0,
            stdout,
            stderr,
            tag,
        }
    }

    /// Everything the guest logged or printed, for the attempt record.
    pub fn take_logs(&mut self) -> Vec<Value> {
        let mut logs = std::mem::take(&mut self.logs);
        for (stream, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let text = pipe.contents();
            if !text.is_empty() {
                logs.push(json!({"level": "info", "stream": stream,
                    "message": String::from_utf8_lossy(&text)}));
            }
        }
        if self.dropped_lines > 0 {
            logs.push(json!({"level": "warn",
                "message": format!("{} more log lines were dropped", self.dropped_lines)}));
        }
        logs
    }

    /// Why outbound requests were refused during this call.
    pub fn denied_requests(&self) -> Vec<String> {
        self.hooks
            .denied
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default()
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl HostState {
    /// One line the guest logged at `level`: to the server's log, and kept with the attempt.
    fn log_line(&mut self, level: &'static str, mut message: String) {
        if message.len() > MAX_LOG_LINE_BYTES {
            let mut cut = MAX_LOG_LINE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        tracing::info!(
            target: "hookwing::guest",
            handler = %self.tag.handler,
            event_id = %self.tag.event_id,
            level,
            "{message}"
        );
        if self.logs.len() < MAX_LOG_LINES {
            self.logs.push(json!({"level": level, "message": message}));
        } else {
            self.dropped_lines += 1;
        }
    }
}

/// `log` and `config` for each version of the world: the same records under another package
/// version.
macro_rules! log_and_config {
    ($($version:ident),+) => {$(
        impl $version::log::Host for HostState {
            fn log(&mut self, level: $version::log::Level, message: String) {
                use $version::log::Level;
                let level = match level {
                    Level::Trace => "trace",
                    Level::Debug => "debug",
                    Level::Info => "info",
                    Level::Warn => "warn",
                    Level::Error => "error",
                };
                self.log_line(level, message);
            }
        }

        impl $version::config::Host for HostState {
            fn get(&mut self, key: String) -> Option<String> {
                self.config.get(&key).cloned()
            }
        }
    )+};
}

log_and_config!(v0_1, v0_2);

fn to_wit(failure: KvFailure) -> v0_2::kv::Error {
    use v0_2::kv::Error;
    match failure {
        KvFailure::Invalid(message) => Error::Invalid(message),
        KvFailure::QuotaExceeded(message) => Error::QuotaExceeded(message),
        unavailable @ KvFailure::Unavailable => Error::Unavailable(unavailable.to_string()),
    }
}

impl v0_2::kv::Host for HostState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, v0_2::kv::Error> {
        self.kv.get(key).await.map_err(to_wit)
    }

    async fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> Result<(), v0_2::kv::Error> {
        self.kv.set(key, value, ttl_ms).await.map_err(to_wit)
    }

    async fn delete(&mut self, key: String) -> Result<bool, v0_2::kv::Error> {
        self.kv.delete(key).await.map_err(to_wit)
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
        ttl_ms: Option<u64>,
    ) -> Result<bool, v0_2::kv::Error> {
        self.kv
            .compare_and_swap(key, expected, new, ttl_ms)
            .await
            .map_err(to_wit)
    }
}
