//! The baseline for WASM dispatch: bare wasmtime, no server. One engine with the pooling
//! allocator, the component pre-instantiated once, then per call a fresh `Store` with an empty
//! WASI context, instantiate and call `handle`: the least any host can do per call.
//!
//! Beside it, in the same process and the same loop, the server's own WASM dispatch
//! (`WasmHost::call`: sandbox, limits, deadline, logs, payload in and output out), so the two
//! are compared under identical conditions.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use hookwing::handler::wasm::bindings::current::{
    self as bindings, ActionHandlerPre, Event, Request,
};
use serde::{Deserialize, Serialize};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::load::Latencies;

/// Both loops' results, as the child process reports them.
#[derive(Debug, Serialize, Deserialize)]
pub struct WasmCalls {
    pub bare: RawResult,
    pub hosted: RawResult,
}

/// What one loop measured.
#[derive(Debug, Serialize, Deserialize)]
pub struct RawResult {
    pub calls: u64,
    pub seconds: f64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub peak_rss: Option<u64>,
}

struct RawState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
}

impl WasiView for RawState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RawState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: wasmtime_wasi_http::default_hooks(),
        }
    }
}

impl bindings::log::Host for RawState {
    fn log(&mut self, _level: bindings::log::Level, _message: String) {}
}

impl bindings::config::Host for RawState {
    fn get(&mut self, _key: String) -> Option<String> {
        None
    }
}

/// The baseline handler keeps no state; a bare host need not offer any.
impl bindings::kv::Host for RawState {
    async fn get(&mut self, _key: String) -> Result<Option<Vec<u8>>, bindings::kv::Error> {
        Ok(None)
    }

    async fn set(
        &mut self,
        _key: String,
        _value: Vec<u8>,
        _ttl_ms: Option<u64>,
    ) -> Result<(), bindings::kv::Error> {
        Ok(())
    }

    async fn delete(&mut self, _key: String) -> Result<bool, bindings::kv::Error> {
        Ok(false)
    }

    async fn compare_and_swap(
        &mut self,
        _key: String,
        _expected: Option<Vec<u8>>,
        _new: Option<Vec<u8>>,
        _ttl_ms: Option<u64>,
    ) -> Result<bool, bindings::kv::Error> {
        Ok(false)
    }
}

fn engine() -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // The server's slot-reuse tuning, so the baseline is the best a bare host does.
    let mut pool = PoolingAllocationConfig::new();
    hookwing::handler::wasm::tune_slot_reuse(&mut pool);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Ok(Engine::new(&config)?)
}

fn pre(engine: &Engine, wasm: &[u8]) -> anyhow::Result<ActionHandlerPre<RawState>> {
    let component = Component::new(engine, wasm)?;
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    bindings::log::add_to_linker::<_, HasSelf<RawState>>(&mut linker, |state| state)?;
    bindings::config::add_to_linker::<_, HasSelf<RawState>>(&mut linker, |state| state)?;
    bindings::kv::add_to_linker::<_, HasSelf<RawState>>(&mut linker, |state| state)?;
    Ok(ActionHandlerPre::new(linker.instantiate_pre(&component)?)?)
}

fn request(n: u64) -> Request {
    Request {
        action: "userLogin".into(),
        input: r#"{"username":"ada","password":"secret"}"#.into(),
        session_variables: vec![("x-hasura-role".into(), "admin".into())],
        request_query:
            "mutation { userLogin(username: \"ada\", password: \"secret\") { accessToken userId } }"
                .into(),
        event: Event {
            id: format!("0193a5d0-0000-7000-8000-{n:012}"),
            attempt: 1,
            created_at: "2026-11-27T00:00:00.000000Z".into(),
        },
    }
}

/// Calls `call` in a loop for `duration`, one call at a time, timing each.
async fn timed_loop(
    duration: Duration,
    mut call: impl AsyncFnMut(u64) -> anyhow::Result<()>,
) -> anyhow::Result<RawResult> {
    let mut latencies = Latencies::default();
    let started = Instant::now();
    let mut calls = 0_u64;
    while started.elapsed() < duration || calls == 0 {
        let call_started = Instant::now();
        call(calls).await?;
        latencies.record(call_started.elapsed());
        calls += 1;
    }
    Ok(RawResult {
        calls,
        seconds: started.elapsed().as_secs_f64(),
        mean_us: latencies.mean_us(),
        p50_us: latencies.percentile_us(50.0),
        p99_us: latencies.percentile_us(99.0),
        peak_rss: crate::child::peak_rss_of("self"),
    })
}

/// Bare wasmtime: a fresh store, instantiate, call.
async fn bare(wasm: &[u8], duration: Duration) -> anyhow::Result<RawResult> {
    let engine = engine()?;
    let pre = pre(&engine, wasm)?;
    timed_loop(duration, async |n| {
        let state = RawState {
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
        };
        let mut store = Store::new(&engine, state);
        let instance = pre.instantiate_async(&mut store).await?;
        let output = instance
            .hookwing_action_handler()
            .call_handle(&mut store, &request(n))
            .await?;
        if !output
            .as_deref()
            .is_ok_and(|out| out.contains("token-for-ada"))
        {
            bail!("the handler did not answer as expected: {output:?}");
        }
        Ok(())
    })
    .await
}

/// The server's WASM dispatch, on a scratch store.
async fn hosted(wasm: &[u8], duration: Duration) -> anyhow::Result<RawResult> {
    use hookwing::handler::wasm::{HandlerConfig, WasmHost, WasmRef};
    use hookwing::handler::{ActionName, EventInfo, HandlerRequest, Reply};

    let scratch = tempfile::tempdir()?;
    let url = format!("sqlite://{}", scratch.path().join("host.db").display());
    let store =
        hookwing::store::Store::connect(&url, &hookwing::store::StoreOptions { pool_size: 2 })
            .await?;
    let mut config = hookwing::Config::defaults();
    config.wasm.cache_dir = scratch.path().join("cache");
    let settings = hookwing::handler::wasm::WasmSettings::from(&config.wasm);
    let metrics = hookwing::telemetry::Metrics::new();
    let host = WasmHost::start(store, settings, (&metrics).into()).await?;
    host.upload("user-login", wasm.to_vec(), HandlerConfig::default())
        .await?;
    let handler = WasmRef::parse("user-login").map_err(anyhow::Error::msg)?;
    let input = serde_json::json!({"username": "ada", "password": "secret"});
    let session = serde_json::json!({"x-hasura-role": "admin"});
    let query = request(0).request_query;
    let created_at = chrono::Utc::now();
    let client_headers = hookwing::auth::ClientHeaders::default();
    let context = hookwing::handler::CallContext {
        client_headers: &client_headers,
        playback: None,
        state_writes: hookwing::handler::wasm::StateWrites::Persist,
    };
    timed_loop(duration, async |n| {
        let request = HandlerRequest {
            action: ActionName { name: "userLogin" },
            input: &input,
            session_variables: &session,
            request_query: &query,
            event: EventInfo {
                // Event ids are made by the dispatcher, not by the handler call.
                id: uuid::Uuid::from_u128(u128::from(n)),
                attempt: 1,
                created_at,
            },
        };
        let delivery = host
            .call(&handler, &request, &context, Duration::from_secs(5))
            .await;
        match delivery.reply {
            Reply::Success { output } if output["accessToken"] == "token-for-ada" => Ok(()),
            reply => bail!("the handler did not answer as expected: {reply:?}"),
        }
    })
    .await
}

/// Runs the bare loop, then the hosted one, each for `duration`.
pub async fn run(wasm_path: &str, duration: Duration) -> anyhow::Result<WasmCalls> {
    let wasm = std::fs::read(wasm_path).with_context(|| format!("read {wasm_path}"))?;
    let bare = bare(&wasm, duration).await?;
    let hosted = hosted(&wasm, duration).await?;
    Ok(WasmCalls { bare, hosted })
}
