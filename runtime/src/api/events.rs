//! `/v1/events`: the event store for operators (admin only) — list events with every attempt,
//! read one, redeliver one or a selection, and delete one or a selection of finished ones.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::admin::require_admin;
use super::error::{AdminError, Envelope};
use crate::server::AppState;
use crate::store::{
    AttemptRecord, Deleted, EventFilter, EventRecord, EventState, Requeued, Version,
};

/// Registers `/v1/events`.
pub fn configure(config: &mut web::ServiceConfig) {
    config.service(
        Envelope::Admin
            .scope("/v1/events")
            .wrap(actix_web::middleware::from_fn(require_admin))
            .service(
                web::resource("")
                    .route(web::get().to(list))
                    .route(web::delete().to(clear))
                    .default_service(Envelope::Admin.method_not_allowed()),
            )
            .service(
                web::resource("/redeliver")
                    .route(web::post().to(redeliver_selection))
                    .default_service(Envelope::Admin.method_not_allowed()),
            )
            .service(
                web::resource("/replay")
                    .route(web::post().to(super::replay::replay_selection))
                    .default_service(Envelope::Admin.method_not_allowed()),
            )
            .service(
                web::resource("/{id}")
                    .route(web::get().to(get))
                    .route(web::delete().to(delete))
                    .default_service(Envelope::Admin.method_not_allowed()),
            )
            .service(
                web::resource("/{id}/redeliver")
                    .route(web::post().to(redeliver))
                    .default_service(Envelope::Admin.method_not_allowed()),
            )
            .service(
                web::resource("/{id}/replay")
                    .route(web::post().to(super::replay::replay_one))
                    .default_service(Envelope::Admin.method_not_allowed()),
            ),
    );
}

/// Query parameters of `GET` and `DELETE /v1/events`, and of the bulk redelivery and replay.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Selection {
    action: Option<String>,
    status: Option<String>,
    /// Only events created more than this many seconds ago.
    older_than_secs: Option<i64>,
    /// Only events created at or after this instant (RFC 3339).
    since: Option<DateTime<Utc>>,
    /// Only events created before this instant (RFC 3339).
    until: Option<DateTime<Utc>>,
    limit: Option<i64>,
    /// On redelivery: the component version the attempts run (`same`, the default, or
    /// `current`).
    handler: Option<Version>,
}

/// Query parameters of `POST /v1/events/{id}/redeliver`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedeliverOne {
    /// The component version the attempts run: `same` (the default) or `current`.
    handler: Option<Version>,
}

impl Selection {
    /// At most this many events.
    pub(super) fn limit(&self) -> Option<i64> {
        self.limit
    }

    /// The selection, for listing, deleting or replaying: `handler` belongs to redeliveries
    /// alone (a replay names its handler in its body).
    pub(super) fn listing(&self) -> Result<EventFilter, AdminError> {
        if self.handler.is_some() {
            return Err(AdminError::new(
                StatusCode::BAD_REQUEST,
                "invalid-request",
                "`handler` applies to redeliveries only",
            ));
        }
        self.filter()
    }

    fn filter(&self) -> Result<EventFilter, AdminError> {
        let status = match self.status.as_deref() {
            None => None,
            Some("created") => Some(EventState::Created),
            Some("processing") => Some(EventState::Processing),
            Some("completed") => Some(EventState::Completed),
            Some("error") => Some(EventState::Error),
            Some(other) => {
                return Err(AdminError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid-request",
                    format!("unknown status `{other}` (created, processing, completed, error)"),
                ));
            }
        };
        let older_than = self
            .older_than_secs
            .map(|secs| Utc::now() - chrono::Duration::seconds(secs));
        Ok(EventFilter {
            action: self.action.clone(),
            status,
            // Both bounds given: the earlier one holds.
            created_before: match (older_than, self.until) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            created_after: self.since,
        })
    }
}

/// One attempt as the events API shows it.
pub(super) fn attempt_json(attempt: &AttemptRecord) -> Value {
    json!({
        "attempt": attempt.attempt,
        "started_at": attempt.started_at,
        "finished_at": attempt.finished_at,
        "duration_ms": (attempt.finished_at - attempt.started_at).num_milliseconds(),
        "outcome": attempt.outcome.as_str(),
        "status_code": attempt.status_code,
        "detail": attempt.detail,
        "logs": attempt.logs,
        "handler_version": attempt.handler_version,
        "http_exchanges": attempt.http_exchanges,
    })
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
        "attempt_log": attempts.iter().map(attempt_json).collect::<Vec<_>>(),
        // The component version that first ran it (its retries run the same).
        "handler_version": attempts.iter().find_map(|a| a.handler_version.as_deref()),
    })
}

fn store_failure(error: &crate::store::Error) -> AdminError {
    AdminError::store("events API", error)
}

/// `GET /v1/events?action=&status=&older_than_secs=&limit=` (newest first, 50 by default).
async fn list(
    state: web::Data<AppState>,
    selection: web::Query<Selection>,
) -> Result<HttpResponse, AdminError> {
    let filter = selection.listing()?;
    let limit = selection.limit.unwrap_or(50).clamp(1, 1000);
    let events = state
        .store
        .list_events(&filter, limit)
        .await
        .map_err(|e| store_failure(&e))?;
    let ids: Vec<Uuid> = events.iter().map(|event| event.id).collect();
    let attempts = state
        .store
        .attempts_of(&ids)
        .await
        .map_err(|e| store_failure(&e))?;
    let listed: Vec<Value> = events
        .iter()
        .map(|event| event_json(event, attempts.get(&event.id).map_or(&[], Vec::as_slice)))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"events": listed})))
}

/// `GET /v1/events/{id}`: one event with every attempt.
async fn get(state: web::Data<AppState>, id: web::Path<Uuid>) -> Result<HttpResponse, AdminError> {
    let id = id.into_inner();
    let event = state
        .store
        .event(id)
        .await
        .map_err(|e| store_failure(&e))?
        .ok_or_else(|| no_event(id))?;
    let attempts = state
        .store
        .attempts(id)
        .await
        .map_err(|e| store_failure(&e))?;
    Ok(HttpResponse::Ok().json(event_json(&event, &attempts)))
}

fn no_event(id: Uuid) -> AdminError {
    AdminError::new(
        StatusCode::NOT_FOUND,
        "not-exists",
        format!("no event {id}"),
    )
}

async fn wake_workers(state: &AppState) {
    if let Err(error) = state.store.announce_new_event().await {
        tracing::warn!(%error, "cannot wake workers; they will poll");
    }
}

/// `POST /v1/events/{id}/redeliver?handler=same|current`: a finished asynchronous event goes
/// back in the queue with a fresh retry budget; its earlier attempts stay on record. A
/// component handler runs the version that last ran it (`same`) or the active one (`current`).
async fn redeliver(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    options: web::Query<RedeliverOne>,
) -> Result<HttpResponse, AdminError> {
    let id = id.into_inner();
    match state
        .store
        .requeue(id, options.handler.unwrap_or_default())
        .await
    {
        Ok(Requeued::Yes) => {
            wake_workers(&state).await;
            Ok(HttpResponse::Ok().json(json!({"redelivering": id})))
        }
        Ok(Requeued::NotFound) => Err(no_event(id)),
        Ok(Requeued::Synchronous) => Err(AdminError::new(
            StatusCode::BAD_REQUEST,
            "not-supported",
            "synchronous events are not redelivered: their caller has gone",
        )),
        Ok(Requeued::NotFinished) => Err(AdminError::new(
            StatusCode::CONFLICT,
            "not-finished",
            format!("event {id} is still waiting or being delivered"),
        )),
        Err(error) => Err(store_failure(&error)),
    }
}

/// `POST /v1/events/redeliver?action=&status=&since=&until=&older_than_secs=&limit=`: every
/// finished asynchronous event of the selection (newest first, at most `limit`, 100 by
/// default) goes back in the queue, as [`redeliver`] does for one. Answers which were requeued
/// and how many of the selection were skipped (synchronous, or no longer finished).
async fn redeliver_selection(
    state: web::Data<AppState>,
    selection: web::Query<Selection>,
) -> Result<HttpResponse, AdminError> {
    let filter = selection.filter()?;
    if filter.status.is_some_and(|status| !status.is_finished()) {
        return Err(AdminError::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "only finished events (status completed or error) are redelivered",
        ));
    }
    let limit = selection.limit.unwrap_or(100).clamp(1, 1000);
    let events = state
        .store
        .list_events(&filter, limit)
        .await
        .map_err(|e| store_failure(&e))?;
    let mut redelivering = Vec::new();
    let mut skipped = 0_usize;
    for event in events.iter().filter(|e| e.status.is_finished()) {
        match state
            .store
            .requeue(event.id, selection.handler.unwrap_or_default())
            .await
        {
            Ok(Requeued::Yes) => redelivering.push(event.id),
            Ok(_) => skipped += 1,
            Err(error) => return Err(store_failure(&error)),
        }
    }
    skipped += events.iter().filter(|e| !e.status.is_finished()).count();
    if !redelivering.is_empty() {
        wake_workers(&state).await;
    }
    tracing::info!(
        redelivered = redelivering.len(),
        skipped,
        "events redelivered by selection"
    );
    Ok(HttpResponse::Ok().json(json!({"redelivering": redelivering, "skipped": skipped})))
}

/// `DELETE /v1/events/{id}`: removes one finished event and its attempts.
async fn delete(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AdminError> {
    let id = id.into_inner();
    match state.store.delete_event(id).await {
        Ok(Deleted::Yes) => {
            state
                .store
                .prune_documents()
                .await
                .map_err(|e| store_failure(&e))?;
            Ok(HttpResponse::Ok().json(json!({"deleted": 1})))
        }
        Ok(Deleted::NotFound) => Err(no_event(id)),
        Ok(Deleted::NotFinished) => Err(AdminError::new(
            StatusCode::CONFLICT,
            "not-finished",
            format!("event {id} is still waiting or being delivered"),
        )),
        Err(error) => Err(store_failure(&error)),
    }
}

/// `DELETE /v1/events?action=&status=&since=&until=&older_than_secs=`: removes finished events
/// and their attempts; waiting ones are never touched.
async fn clear(
    state: web::Data<AppState>,
    selection: web::Query<Selection>,
) -> Result<HttpResponse, AdminError> {
    let filter = selection.listing()?;
    let deleted = state
        .store
        .delete_finished(&filter)
        .await
        .map_err(|e| store_failure(&e))?;
    if deleted > 0 {
        state
            .store
            .prune_documents()
            .await
            .map_err(|e| store_failure(&e))?;
    }
    Ok(HttpResponse::Ok().json(json!({"deleted": deleted})))
}
