//! `/v1/events`: the event store for operators (admin only) — list events (failed ones with
//! every attempt), redeliver one, and clear finished ones by action or age.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{AppState, admin};
use crate::store::{AttemptRecord, EventFilter, EventRecord, EventStatus, Requeued};

/// Query parameters of `GET` and `DELETE /v1/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    action: Option<String>,
    status: Option<String>,
    /// Only events created more than this many seconds ago.
    older_than_secs: Option<i64>,
    limit: Option<i64>,
}

impl Selection {
    fn filter(&self) -> Result<EventFilter, String> {
        let status = match self.status.as_deref() {
            None => None,
            Some("created") => Some(EventStatus::Created),
            Some("processing") => Some(EventStatus::Processing),
            Some("completed") => Some(EventStatus::Completed),
            Some("error") => Some(EventStatus::Error),
            Some(other) => {
                return Err(format!(
                    "unknown status `{other}` (created, processing, completed, error)"
                ));
            }
        };
        Ok(EventFilter {
            action: self.action.clone(),
            status,
            created_before: self
                .older_than_secs
                .map(|secs| Utc::now() - chrono::Duration::seconds(secs)),
        })
    }
}

fn event_json(event: &EventRecord, attempts: &[AttemptRecord]) -> Value {
    json!({
        "id": event.id,
        "action_name": event.action_name,
        "kind": event.kind,
        "status": event.status.as_str(),
        "attempts": event.attempts,
        "created_at": event.created_at,
        "response_received_at": event.response_received_at,
        "input_payload": event.input_payload,
        "session_variables": event.session_variables,
        "response_payload": event.response_payload,
        "errors": event.errors,
        "attempt_log": attempts.iter().map(|a| json!({
            "attempt": a.attempt,
            "started_at": a.started_at,
            "finished_at": a.finished_at,
            "outcome": a.outcome.as_str(),
            "status_code": a.status_code,
            "detail": a.detail,
            "logs": a.logs,
        })).collect::<Vec<_>>(),
    })
}

fn store_failure(error: &crate::store::Error) -> HttpResponse {
    tracing::error!(%error, "events API");
    admin::error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "unexpected",
        "database query error",
    )
}

/// `GET /v1/events?action=&status=&older_than_secs=&limit=` (newest first, 50 by default).
pub async fn list(state: web::Data<AppState>, selection: web::Query<Selection>) -> HttpResponse {
    let filter = match selection.filter() {
        Ok(filter) => filter,
        Err(reason) => return admin::error(StatusCode::BAD_REQUEST, "invalid-request", reason),
    };
    let limit = selection.limit.unwrap_or(50).clamp(1, 1000);
    let events = match state.store.list_events(&filter, limit).await {
        Ok(events) => events,
        Err(error) => return store_failure(&error),
    };
    let mut listed = Vec::with_capacity(events.len());
    for event in &events {
        match state.store.attempts(event.id).await {
            Ok(attempts) => listed.push(event_json(event, &attempts)),
            Err(error) => return store_failure(&error),
        }
    }
    HttpResponse::Ok().json(json!({"events": listed}))
}

/// `POST /v1/events/{id}/redeliver`: a finished asynchronous event goes back in the queue with
/// a fresh retry budget; its earlier attempts stay on record.
pub async fn redeliver(state: web::Data<AppState>, id: web::Path<Uuid>) -> HttpResponse {
    let id = id.into_inner();
    match state.store.requeue(id).await {
        Ok(Requeued::Yes) => {
            if let Err(error) = state.store.announce_new_event().await {
                tracing::warn!(%error, "cannot wake workers; they will poll");
            }
            HttpResponse::Ok().json(json!({"redelivering": id}))
        }
        Ok(Requeued::NotFound) => admin::error(
            StatusCode::NOT_FOUND,
            "not-exists",
            format!("no event {id}"),
        ),
        Ok(Requeued::Synchronous) => admin::error(
            StatusCode::BAD_REQUEST,
            "not-supported",
            "synchronous events are not redelivered: their caller has gone",
        ),
        Ok(Requeued::NotFinished) => admin::error(
            StatusCode::CONFLICT,
            "not-finished",
            format!("event {id} is still waiting or being delivered"),
        ),
        Err(error) => store_failure(&error),
    }
}

/// `DELETE /v1/events?action=&older_than_secs=`: removes finished events and their attempts;
/// waiting ones are never touched.
pub async fn clear(state: web::Data<AppState>, selection: web::Query<Selection>) -> HttpResponse {
    let filter = match selection.filter() {
        Ok(filter) => filter,
        Err(reason) => return admin::error(StatusCode::BAD_REQUEST, "invalid-request", reason),
    };
    match state.store.delete_finished(&filter).await {
        Ok(deleted) => HttpResponse::Ok().json(json!({"deleted": deleted})),
        Err(error) => store_failure(&error),
    }
}
