//! Turning uploaded bytes into something callable, refusing anything that is not a component of
//! our world or that asks for interfaces handlers may not have.

use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use super::bindings::{ActionHandlerPre, WORLD};
use super::state::HostState;

/// Why an upload was refused. Each message is meant for the person who built the component.
/// Serialisable: the compiler's child process (`compiler`) answers with one.
#[derive(Debug, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum InvalidComponent {
    #[error("the handler is empty")]
    Empty,
    #[error("the handler is {size} bytes; the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("not WebAssembly: the file does not start with the wasm magic number")]
    NotWasm,
    #[error(
        "a core WebAssembly module, not a component: build for the wasm32-wasip2 target \
         (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule,
    #[error("not a valid component: {0}")]
    Invalid(String),
    #[error("imports `{0}`, which handlers may not use{hint}", hint = import_hint(.0))]
    DisallowedImport(String),
    #[error("does not implement the world {WORLD}: {0}")]
    WrongWorld(String),
    #[error("over the compile budget: {0}")]
    OverBudget(String),
}

fn import_hint(name: &str) -> &'static str {
    if name.starts_with("wasi:") {
        " (handlers get WASI io, clocks, random, cli, filesystem and sockets without any \
         authority, and wasi:http to allow-listed hosts)"
    } else {
        " (handlers may import hookwing:action interfaces and WASI only)"
    }
}

/// Interfaces a handler may import. WASI filesystem, CLI and sockets are allowed because
/// language runtimes (Rust's std, CPython) import them unconditionally; the context behind them
/// grants nothing: no preopened directories, no environment variables, no arguments, and every
/// socket operation and name lookup denied. Outbound traffic goes through `wasi:http` only.
const ALLOWED_IMPORTS: [&str; 9] = [
    "hookwing:action/",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:cli/",
    "wasi:filesystem/",
    "wasi:sockets/",
    "wasi:http/types@",
    "wasi:http/outgoing-handler@",
];

/// The checks that need no compiler: size, and the magic number of a component.
pub fn check_header(bytes: &[u8], max_bytes: usize) -> Result<(), InvalidComponent> {
    if bytes.is_empty() {
        return Err(InvalidComponent::Empty);
    }
    if bytes.len() > max_bytes {
        return Err(InvalidComponent::TooLarge {
            size: bytes.len(),
            limit: max_bytes,
        });
    }
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => Err(InvalidComponent::CoreModule),
        Some([0, b'a', b's', b'm', ..]) => Ok(()),
        _ => Err(InvalidComponent::NotWasm),
    }
}

/// Checks `bytes` and compiles them (through the engine's artifact cache). CPU-heavy: call it
/// from a blocking thread.
pub fn compile(
    engine: &Engine,
    linker: &Linker<HostState>,
    bytes: &[u8],
    max_bytes: usize,
) -> Result<ActionHandlerPre<HostState>, InvalidComponent> {
    check_header(bytes, max_bytes)?;
    let component =
        Component::new(engine, bytes).map_err(|e| InvalidComponent::Invalid(format!("{e:#}")))?;
    for (name, _) in component.component_type().imports(engine) {
        if !ALLOWED_IMPORTS
            .iter()
            .any(|allowed| name.starts_with(allowed))
        {
            return Err(InvalidComponent::DisallowedImport(name.to_owned()));
        }
    }
    let instance_pre = linker
        .instantiate_pre(&component)
        .map_err(|e| InvalidComponent::WrongWorld(format!("{e:#}")))?;
    ActionHandlerPre::new(instance_pre).map_err(|e| InvalidComponent::WrongWorld(format!("{e:#}")))
}
