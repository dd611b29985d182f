//! A snapshot of environment variables.
//!
//! Templates and `value_from_env` headers read from this snapshot rather than from the live
//! process environment, so a running server's behaviour cannot change under it, and an embedder
//! (or a test) can hand the server exactly the variables it should see.

use std::collections::HashMap;
use std::sync::Arc;

/// Environment variables visible to metadata.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: Arc<HashMap<String, String>>,
}

/// Prefixes of the server's own settings (Hookwing's, and Hasura's names for them). Metadata may
/// not read these variables: a header `value_from_env: HOOKWING_ADMIN_SECRET` would send the
/// admin secret to a webhook.
pub const RESERVED_PREFIXES: [&str; 2] = ["HASURA_GRAPHQL_", "HOOKWING_"];

/// The reserved prefix `name` starts with, if any.
pub fn reserved_prefix(name: &str) -> Option<&'static str> {
    RESERVED_PREFIXES
        .into_iter()
        .find(|prefix| name.starts_with(prefix))
}

impl Environment {
    /// The current process environment (variables that are not valid UTF-8 are skipped).
    pub fn from_process() -> Self {
        Self {
            vars: Arc::new(
                std::env::vars_os()
                    .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                    .collect(),
            ),
        }
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// This snapshot with `name` set to `value`.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.vars).insert(name.into(), value.into());
        self
    }
}
