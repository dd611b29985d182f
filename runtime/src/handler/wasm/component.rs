//! Turning uploaded bytes into something callable, refusing anything that is not a component of
//! our world or that asks for interfaces handlers may not have.

use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use super::state::HostState;
use super::world::{self, HandlerPre, Mismatch};

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
    #[error("does not implement the world {worlds}: {0}", worlds = world::supported())]
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

/// Interfaces a handler may import: what the world `hookwing:action@0.2.0` declares (a unit
/// test holds the two together), which 0.1.0 components may import too. WASI filesystem, CLI
/// and sockets are there because language runtimes (Rust's std, CPython) import them
/// unconditionally; the context behind them grants nothing: no preopened directories, no
/// environment variables, no arguments, and every socket operation and name lookup denied.
/// Outbound traffic goes through `wasi:http` only.
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
) -> Result<HandlerPre, InvalidComponent> {
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
    let world = world::detect(&component, engine).map_err(|mismatch| match mismatch {
        Mismatch::NoHandler => InvalidComponent::WrongWorld(
            "it exports no `hookwing:action/handler` interface of a supported version".into(),
        ),
        Mismatch::MixedVersions { import, version } => InvalidComponent::WrongWorld(format!(
            "it exports the handler of version {version} but imports `{import}`: build it \
             against one version of the WIT package"
        )),
    })?;
    let instance_pre = linker
        .instantiate_pre(&component)
        .map_err(|e| InvalidComponent::WrongWorld(format!("{e:#}")))?;
    HandlerPre::new(world, instance_pre).map_err(|e| InvalidComponent::WrongWorld(format!("{e:#}")))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::ALLOWED_IMPORTS;

    /// Every interface the current world imports, as components name them.
    fn world_imports() -> BTreeSet<String> {
        let mut resolve = wit_parser::Resolve::default();
        let wit = concat!(env!("CARGO_MANIFEST_DIR"), "/../wit");
        let (package, _) = resolve.push_dir(wit).expect("the WIT parses");
        let world = resolve
            .select_world(&[package], Some("action-handler"))
            .expect("the world exists");
        resolve.worlds[world]
            .imports
            .keys()
            .map(|key| resolve.name_world_key(key))
            .collect()
    }

    /// The allow-list and the world say the same: each import of the world is allowed, and
    /// each allowed prefix is something the world imports.
    #[test]
    fn the_allowed_imports_are_what_the_world_declares() {
        let imports = world_imports();
        for import in &imports {
            assert!(
                ALLOWED_IMPORTS
                    .iter()
                    .any(|allowed| import.starts_with(allowed)),
                "the world imports {import}, which uploads may not"
            );
        }
        for allowed in ALLOWED_IMPORTS {
            assert!(
                imports.iter().any(|import| import.starts_with(allowed)),
                "{allowed} is allowed, but the world does not declare it"
            );
        }
        assert!(imports.contains("hookwing:action/kv@0.2.0"), "{imports:?}");
    }
}
