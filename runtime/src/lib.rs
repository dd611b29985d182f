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
pub mod server;
pub mod store;

pub use config::Config;
pub use server::{Running, serve};
