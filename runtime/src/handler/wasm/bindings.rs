//! Host bindings of the handler worlds (the WIT lives in the repository's `wit/`), one module
//! per supported version of the `hookwing:action` package: a component built against an
//! older version keeps working when a new one is published. Which version a component
//! implements is decided once, when it is compiled (`super::world`).

/// `hookwing:action@0.1.0` (`wit/0.1.0/`): log, config and `wasi:http`. Its world does not
/// declare the WASI interfaces that language runtimes import; the host links them anyway,
/// with no authority behind them, as it does for 0.2.0.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "hookwing:action/action-handler@0.1.0",
        exports: { default: async },
        with: {
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
        },
    });

    pub use self::hookwing::action::types::{ActionError, Event, HandlerError, Request};
    pub use self::hookwing::action::{config, log};

    /// The world's full name.
    pub const WORLD: &str = "hookwing:action/action-handler@0.1.0";
    /// The handler interface a component of this version exports.
    pub const HANDLER_EXPORT: &str = "hookwing:action/handler@0.1.0";
}

/// `hookwing:action@0.2.0` (`wit/world.wit`), the current version: 0.1.0 plus key-value
/// state, with every WASI interface the host links declared in the world.
pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "hookwing:action/action-handler@0.2.0",
        imports: { "hookwing:action/kv": async },
        exports: { default: async },
        with: {
            "wasi:cli": wasmtime_wasi::p2::bindings::cli,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
            "wasi:filesystem": wasmtime_wasi::p2::bindings::filesystem,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:random": wasmtime_wasi::p2::bindings::random,
            "wasi:sockets": wasmtime_wasi::p2::bindings::sockets,
        },
    });

    pub use self::hookwing::action::types::{ActionError, Event, HandlerError, Request};
    pub use self::hookwing::action::{config, kv, log};

    /// The world's full name.
    pub const WORLD: &str = "hookwing:action/action-handler@0.2.0";
    /// The handler interface a component of this version exports.
    pub const HANDLER_EXPORT: &str = "hookwing:action/handler@0.2.0";
}

/// The current version, the one the SDK builds against.
pub use v0_2 as current;

/// Every supported world, newest first, as named in validation errors.
pub const WORLDS: [&str; 2] = [v0_2::WORLD, v0_1::WORLD];
