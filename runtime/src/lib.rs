//! Hookwing gives a GraphQL API *actions*: custom queries and mutations whose logic runs in an
//! HTTP webhook or an in-process WebAssembly component, with every call persisted as an event.
//!
//! The request path reads top to bottom: [`graphql`] → [`store`] (persist) → [`dispatch`]
//! (attempts and retries) → [`handler`] (`http` | `wasm`) → [`store`] (record) → [`graphql`].
//! [`metadata`], [`auth`] and [`config`] sit beside it.

pub mod auth;
pub mod cli;
pub mod config;
pub mod dispatch;
pub mod graphql;
pub mod handler;
pub mod metadata;
pub mod ops;
pub mod remote;
pub mod server;
pub mod store;

pub use config::Config;

/// Installs ring as the process-wide TLS crypto provider; calling it again is harmless. The
/// server calls it at start. Both the webhook client and guests' outbound `wasi:http` use
/// rustls, and rustls needs exactly one provider chosen before the first TLS configuration is
/// built — embedders that build their own clients first must call this before.
pub fn install_crypto_provider() {
    // Err only means a provider is installed already, which is all we need.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
pub use server::{Running, serve};
