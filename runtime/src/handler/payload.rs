//! The request every handler receives, whatever its transport: Hasura's action payload plus an
//! `event` block whose `id` is stable across retries (the handler's idempotency key).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// `{"action": {"name"}, "input", "session_variables", "request_query", "event"}`.
#[derive(Debug, Clone, Serialize)]
pub struct HandlerRequest<'a> {
    pub action: ActionName<'a>,
    pub input: &'a Value,
    pub session_variables: &'a Value,
    pub request_query: &'a str,
    pub event: EventInfo,
}

/// `{"name": …}`, as in Hasura's payload.
#[derive(Debug, Clone, Serialize)]
pub struct ActionName<'a> {
    pub name: &'a str,
}

/// Delivery metadata for one attempt.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct EventInfo {
    pub id: Uuid,
    pub attempt: u32,
    pub created_at: DateTime<Utc>,
}
