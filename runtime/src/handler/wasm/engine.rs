//! The one wasmtime `Engine` of a server: compiled code is shared by every handler and every
//! call, instances come from a pre-reserved pool, and an epoch ticker bounds guest CPU time.

use std::path::Path;
use std::time::Duration;

use wasmtime::{
    Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
};

use super::WasmError;

/// How often the epoch advances: the granularity of guest deadlines and of yielding to tokio.
/// A guest that has computed for a whole tick moves off the request-serving thread at the next
/// one (`offload`): it holds that thread for less than two ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Guest stack limit; deep recursion traps here instead of overflowing the host stack.
const MAX_WASM_STACK: usize = 1 << 20;

/// Engine-wide sizing; serialisable, for the compiler's child process (`compiler`), which
/// must build the very same engine.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EngineSettings {
    /// Largest linear memory any handler may be given.
    pub max_memory_bytes: usize,
    /// Instances that may run at once across all handlers.
    pub max_concurrent_instances: u32,
    /// Where compiled artifacts are cached; `None` disables the cache.
    pub cache_dir: Option<std::path::PathBuf>,
}

/// Builds the engine: pooling allocator when the address space allows it, on-demand
/// allocation otherwise (some sandboxes cap virtual memory), and the on-disk artifact cache.
pub fn build(settings: &EngineSettings) -> Result<Engine, WasmError> {
    let mut config = base_config(settings)?;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(settings.max_concurrent_instances)
        .total_core_instances(settings.max_concurrent_instances * 4)
        .total_memories(settings.max_concurrent_instances * 2)
        .total_tables(settings.max_concurrent_instances * 4)
        .total_stacks(settings.max_concurrent_instances)
        .max_memory_size(settings.max_memory_bytes);
    tune_slot_reuse(&mut pool);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    match Engine::new(&config) {
        Ok(engine) => {
            tracing::debug!("wasm engine uses the pooling allocator");
            Ok(engine)
        }
        Err(error) => {
            tracing::warn!(
                error = %error,
                "cannot reserve address space for the wasm instance pool; \
                 allocating instances on demand (slower instantiation)"
            );
            let mut config = base_config(settings)?;
            config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
            Engine::new(&config).map_err(|e| WasmError::Engine(format!("{e:#}")))
        }
    }
}

/// Bytes of a slot's linear memory reset in place (memset) instead of being returned to the
/// kernel when a call ends. A Rust handler touches about a megabyte per call.
const MEMORY_KEEP_RESIDENT: usize = 2 << 20;

/// How a pool slot is made clean for the next call. By default wasmtime returns a finished
/// call's pages to the kernel (`madvise`); in a multi-threaded server every such call makes the
/// kernel interrupt every other core to flush its TLB, and the next call page-faults the
/// memory back in. Resetting the first megabytes in place (only the pages actually touched,
/// found with `PAGEMAP_SCAN` where the kernel has it) avoids both for ordinary calls. Each warm
/// slot keeps up to [`MEMORY_KEEP_RESIDENT`] resident; anything a call grew beyond that is
/// still returned at once (not batched), so a memory bomb's pages never linger.
pub fn tune_slot_reuse(pool: &mut PoolingAllocationConfig) {
    pool.linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
        .table_keep_resident(64 << 10)
        .pagemap_scan(wasmtime::Enabled::Auto);
}

fn base_config(settings: &EngineSettings) -> Result<Config, WasmError> {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .max_wasm_stack(MAX_WASM_STACK);
    if let Some(dir) = &settings.cache_dir {
        config.cache(Some(cache(dir)?));
    }
    Ok(config)
}

fn cache(dir: &Path) -> Result<Cache, WasmError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        WasmError::Engine(format!("cannot create cache dir {}: {e}", dir.display()))
    })?;
    let dir = std::path::absolute(dir).map_err(|e| {
        WasmError::Engine(format!("cannot resolve cache dir {}: {e}", dir.display()))
    })?;
    let mut cache_config = CacheConfig::new();
    cache_config.with_directory(dir);
    Cache::new(cache_config).map_err(|e| WasmError::Engine(format!("artifact cache: {e:#}")))
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is dropped.
pub fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("hookwing-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("the OS can start one thread");
}
