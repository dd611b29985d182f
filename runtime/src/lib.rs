//! Hookwing gives a GraphQL API *actions*: custom queries and mutations whose logic runs in an
//! HTTP webhook or an in-process WebAssembly component, with every call persisted as an event.
//!
//! The request path reads top to bottom: [`api`] (the HTTP edge) → [`graphql`] → [`dispatch`]
//! → [`store`] (persist) → [`handler`] (`http` | `wasm`) → [`store`] (record) → back up.
//! [`live`] holds what is served, [`metadata`] what it is made from; `docs/ARCHITECTURE.md`
//! walks through the layers.

pub mod api;
pub mod auth;
pub mod cli;
pub mod codegen;
pub mod config;
pub mod dev;
pub mod dispatch;
pub mod graphql;
pub mod handler;
pub mod kriti;
pub mod live;
pub mod metadata;
pub mod ops;
pub mod remote;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod traces;

pub use config::Config;

/// Installs ring as the process-wide TLS crypto provider; calling it again is harmless. The
/// server calls it at start. Both the webhook client and guests' outbound `wasi:http` use
/// rustls, and rustls needs exactly one provider chosen before the first TLS configuration is
/// built — embedders that build their own clients first must call this before.
pub fn install_crypto_provider() {
    // Err only means a provider is installed already, which is all we need.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
pub use server::Running;

/// Starts the server with every endpoint on an already bound listener (bind port 0 to let the
/// OS choose), after connecting the store and loading metadata. The returned server must be
/// awaited or spawned.
pub async fn serve(
    config: Config,
    listener: std::net::TcpListener,
) -> Result<Running, server::StartError> {
    server::serve(config, listener, api::configure).await
}
