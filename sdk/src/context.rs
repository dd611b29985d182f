use std::collections::BTreeMap;
use std::rc::Rc;

use crate::http::{HttpError, Request, Response};
use crate::kv::Kv;
use crate::testing::TestHost;

/// Delivery metadata of the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Stable across retries of one call: use it as your idempotency key.
    pub id: String,
    /// Counts from 1.
    pub attempt: u32,
    /// When the call was made, RFC 3339 UTC.
    pub created_at: String,
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected, handled.
    Warn,
    /// Something failed.
    Error,
}

/// Where the context's log, config, key-value and HTTP calls go: the server (inside a component) or an
/// in-memory test host (native unit tests).
#[derive(Clone)]
pub(crate) enum Host {
    #[cfg(target_arch = "wasm32")]
    Component,
    Test(Rc<TestHost>),
}

/// Everything about the call besides its input, and the host's services: logging, the
/// handler's config values, key-value state and outbound HTTP.
#[derive(Clone)]
pub struct Context {
    pub(crate) action: String,
    pub(crate) session_variables: BTreeMap<String, String>,
    pub(crate) request_query: String,
    pub(crate) event: Event,
    pub(crate) host: Host,
}

impl Context {
    /// The action's name.
    pub fn action(&self) -> &str {
        &self.action
    }

    /// A session variable of the caller (`x-hasura-role`, `x-hasura-user-id`, …); names are
    /// lower case.
    pub fn session_variable(&self, name: &str) -> Option<&str> {
        self.session_variables
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// All of the caller's session variables.
    pub fn session_variables(&self) -> &BTreeMap<String, String> {
        &self.session_variables
    }

    /// The GraphQL query the action was called from.
    pub fn request_query(&self) -> &str {
        &self.request_query
    }

    /// Delivery metadata: the event id (idempotency key) and the attempt number.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// Writes a log line, kept with this attempt's record.
    pub fn log(&self, level: Level, message: impl AsRef<str>) {
        match &self.host {
            #[cfg(target_arch = "wasm32")]
            Host::Component => crate::__private::log(level, message.as_ref()),
            Host::Test(host) => host.log(level, message.as_ref()),
        }
    }

    /// [`Context::log`] at [`Level::Debug`].
    pub fn debug(&self, message: impl AsRef<str>) {
        self.log(Level::Debug, message);
    }

    /// [`Context::log`] at [`Level::Info`].
    pub fn info(&self, message: impl AsRef<str>) {
        self.log(Level::Info, message);
    }

    /// [`Context::log`] at [`Level::Warn`].
    pub fn warn(&self, message: impl AsRef<str>) {
        self.log(Level::Warn, message);
    }

    /// [`Context::log`] at [`Level::Error`].
    pub fn error(&self, message: impl AsRef<str>) {
        self.log(Level::Error, message);
    }

    /// A value from the config the handler was uploaded with.
    pub fn config(&self, key: &str) -> Option<String> {
        match &self.host {
            #[cfg(target_arch = "wasm32")]
            Host::Component => crate::__private::config(key),
            Host::Test(host) => host.config(key),
        }
    }

    /// The handler's key-value state, kept by the server between calls.
    pub fn kv(&self) -> Kv<'_> {
        Kv { host: &self.host }
    }

    /// Sends an HTTP request. Only hosts in the handler's `allowed_hosts` are reachable; others
    /// fail with [`HttpError`].
    pub fn http(&self, request: Request) -> Result<Response, HttpError> {
        match &self.host {
            #[cfg(target_arch = "wasm32")]
            Host::Component => crate::__private::send(request),
            Host::Test(host) => host.send(request),
        }
    }
}

/// Reads the action's arguments into the handler's input type. A mismatch is the handler's
/// bug, not the caller's, and retrying cannot fix it: a rejection with code `invalid-input`.
pub(crate) fn decode_input<I: serde::de::DeserializeOwned>(
    input: &str,
) -> Result<I, crate::ActionError> {
    serde_json::from_str(input).map_err(|e| {
        crate::ActionError::new(format!("the handler cannot read its input: {e}"))
            .with_code("invalid-input")
    })
}

/// Writes the handler's output as JSON.
pub(crate) fn encode_output<O: serde::Serialize>(output: &O) -> Result<String, crate::ActionError> {
    serde_json::to_string(output).map_err(|e| {
        crate::ActionError::new(format!("the handler's output cannot be encoded: {e}"))
    })
}
