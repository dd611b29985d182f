//! Black-box tests of the whole server: it runs for real on port 0, against a real SQLite file
//! or a real PostgreSQL database, calling real webhook endpoints.

mod harness;

mod actions;
mod async_actions;
mod auth;
mod bad_input;
mod browser;
mod codegen;
mod conformance;
mod console;
mod cors;
mod envelopes;
mod faults;
mod graphql_http;
mod handler_state;
mod hasura_fixtures;
mod hasura_metadata;
mod hasura_projects;
mod hostile;
mod kriti;
mod lifecycle;
mod metadata_api;
mod metrics;
mod operations;
mod replay;
mod replicas;
mod traces;
mod transforms;
mod wasm_handlers;
mod webhook_contract;
