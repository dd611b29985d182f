use std::time::Duration;

use serde_json::{Map, Value};

use crate::http::HttpError;

/// Why a handler produced no output: a rejection (the default) or a request to retry.
///
/// A **rejection** ([`ActionError::new`]) is the handler saying no — a webhook's 4xx. The client
/// gets one GraphQL error with this message and these extensions; the call is never retried.
///
/// A **retry** ([`ActionError::retry`]) is a failure a later attempt may fix — a webhook's 5xx
/// or 429. The call is retried under the action's retry policy and fails with `message` as its
/// reason when no attempt is left. An [`HttpError`] converts into one, so `?` on
/// [`Context::http`](crate::Context::http) retries on network trouble.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionError {
    /// The client's error message (rejection) or the failure's reason (retry).
    pub message: String,
    /// Shown to the client as the error's `extensions`; `code` defaults to `unexpected`.
    pub extensions: Map<String, Value>,
    retry: Option<Option<Duration>>,
}

impl ActionError {
    /// A rejection with `message` and no extensions.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            extensions: Map::new(),
            retry: None,
        }
    }

    /// A retryable failure.
    pub fn retry(reason: impl Into<String>) -> Self {
        Self {
            message: reason.into(),
            extensions: Map::new(),
            retry: Some(None),
        }
    }

    /// Makes this a retryable failure that waits at least `after` before the next attempt.
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry = Some(Some(after));
        self
    }

    /// Whether this asks for a retry rather than rejecting the call.
    pub fn is_retry(&self) -> bool {
        self.retry.is_some()
    }

    /// The wait asked for before the next attempt, if any.
    pub fn retry_delay(&self) -> Option<Duration> {
        self.retry.flatten()
    }

    /// Sets `extensions.code`, the machine-readable reason clients branch on.
    pub fn with_code(self, code: impl Into<String>) -> Self {
        self.with_extension("code", code.into())
    }

    /// Sets one extension field.
    pub fn with_extension(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extensions.insert(key.into(), value.into());
        self
    }

    /// `extensions.code`, if set.
    pub fn code(&self) -> Option<&str> {
        self.extensions.get("code").and_then(Value::as_str)
    }
}

impl From<HttpError> for ActionError {
    fn from(error: HttpError) -> Self {
        Self::retry(format!("HTTP request failed: {error}"))
    }
}

impl std::fmt::Display for ActionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ActionError {}
