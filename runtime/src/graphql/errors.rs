//! GraphQL errors are built here, and only here, each with a stable `extensions.code`.

use async_graphql::{ErrorExtensionValues, Response, ServerError, Value as GqlValue};
use serde_json::{Value, json};

use crate::dispatch::DispatchError;

/// The error a failed action call shows its caller. `extensions.internal` (handler URLs,
/// transport errors, database errors) is kept for admins and dev mode only.
pub fn dispatch_error(error: &DispatchError, reveal_internal: bool) -> async_graphql::Error {
    let body = error.to_error_json();
    if !reveal_internal {
        tracing::warn!(%error, "action call failed");
    }
    let message = body["message"]
        .as_str()
        .unwrap_or("unexpected error")
        .to_owned();
    let mut extensions = ErrorExtensionValues::default();
    if let Some(fields) = body["extensions"].as_object() {
        for (name, value) in fields {
            if name == "internal" && !reveal_internal {
                continue;
            }
            if let Ok(value) = GqlValue::from_json(value.clone()) {
                extensions.set(name, value);
            }
        }
    }
    async_graphql::Error {
        message,
        source: None,
        extensions: Some(extensions),
    }
}

/// Puts every error in Hasura's shape. Errors async-graphql produced itself (unknown fields,
/// wrong argument types, depth limits) get the code `validation-failed`, so clients can rely
/// on `extensions.code`. Errors built here (an action's) keep their extensions as they are —
/// a handler's extensions without a code stay without one, as in Hasura — and, as in Hasura,
/// carry no `locations` or `path`: an action's error is about the whole call.
pub fn with_codes(mut response: Response) -> Response {
    for error in &mut response.errors {
        // What async-graphql says when a role's schema has no such root, in Hasura's words.
        let missing_root = match error.message.as_str() {
            "Schema is not configured for mutations." => Some("no mutations exist"),
            "Schema is not configured for subscriptions." => Some("no subscriptions exist"),
            _ => None,
        };
        if let Some(message) = missing_root {
            error.message = message.into();
            let extensions = error
                .extensions
                .get_or_insert_with(ErrorExtensionValues::default);
            extensions.set("path", "$");
            extensions.set("code", "validation-failed");
        }
        if error.extensions.is_some() {
            error.locations.clear();
            error.path.clear();
        } else {
            ensure_code(error, "validation-failed");
        }
    }
    // async-graphql reports a missing root once per place it notices it; one is the error.
    response.errors.dedup();
    response
}

/// Sets `extensions.code` unless the error already has one.
pub fn ensure_code(error: &mut ServerError, code: &str) {
    let extensions = error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code);
    }
}

/// A whole error response body, for requests that never reached GraphQL execution.
pub fn request_error(message: impl Into<String>, code: &str) -> Value {
    json!({"errors": [{"message": message.into(), "extensions": {"code": code}}]})
}
