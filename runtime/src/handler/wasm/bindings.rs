//! Host bindings of the `hookwing:action@0.1.0` world (the WIT lives in the repository's `wit/`).
//! One module per supported WIT version: a new major version gets a sibling module, so
//! components built against the old one keep working.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "hookwing:action/action-handler@0.1.0",
    exports: { default: async },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
    },
});

pub use self::hookwing::action::types::{ActionError, Event, HandlerError, Request};
pub use self::hookwing::action::{config, log};

/// The world's full name, as reported in validation errors.
pub const WORLD: &str = "hookwing:action/action-handler@0.1.0";
