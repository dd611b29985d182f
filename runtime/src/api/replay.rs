//! `POST /v1/events/{id}/replay` and `POST /v1/events/replay?…`: run stored events again
//! against a chosen handler and compare with what is stored (admin only; registered by
//! [`super::events`], under its scope).

use actix_web::HttpResponse;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use futures::StreamExt;
use serde_json::{Value, json};
use uuid::Uuid;

use super::error::AdminError;
use super::events::{Selection, attempt_json};
use crate::dispatch::replay::{ReplayContext, ReplayError, ReplayOptions, Replayed};
use crate::handler::wasm::KnownHandlers;
use crate::live::Live;
use crate::server::AppState;

/// Events replayed at once by a bulk replay; its lines still come in the selection's order.
const BULK_CONCURRENCY: usize = 4;

/// The options in a request body; an empty body asks for the defaults.
fn options(body: &Bytes) -> Result<ReplayOptions, AdminError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ReplayOptions::default());
    }
    serde_json::from_slice(body).map_err(|error| {
        AdminError::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            format!("invalid replay options: {error}"),
        )
    })
}

/// One replay as the API answers it.
fn replayed_json(replayed: &Replayed) -> Value {
    let event = &replayed.event;
    let mut body = json!({
        "event_id": event.id,
        "action_name": event.action_name,
        "kind": event.kind,
        "handler": replayed.handler,
        "handler_version": replayed.attempt.handler_version,
        "outcome": replayed.attempt.outcome.as_str(),
        "recorded": replayed.recorded,
        "mode": replayed.mode,
        "attempt": attempt_json(&replayed.attempt),
    });
    if let (Value::Object(body), Value::Object(comparison)) = (&mut body, replayed.comparison()) {
        body.extend(comparison);
    }
    body
}

fn replay_failure(error: &ReplayError) -> AdminError {
    let (status, code) = match error {
        ReplayError::NotFound(_) => (StatusCode::NOT_FOUND, "not-exists"),
        ReplayError::ActionRemoved(_) => (StatusCode::CONFLICT, "action-removed"),
        ReplayError::InvalidHandler(invalid) => {
            return AdminError::new(StatusCode::BAD_REQUEST, "invalid-handler", &invalid.error);
        }
        ReplayError::NotFinished(_) => (StatusCode::CONFLICT, "not-finished"),
        ReplayError::NotRecorded(_) => (StatusCode::CONFLICT, "not-recorded"),
        ReplayError::LeaseLost(_) => (StatusCode::CONFLICT, "lease-lost"),
        ReplayError::Aborted(reason) => {
            tracing::error!(%reason, "a replay stopped before it answered");
            return AdminError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "unexpected",
                "the replay stopped before it answered",
            );
        }
        ReplayError::Store(error) => return AdminError::store("replay", error),
    };
    AdminError::new(status, code, error.to_string())
}

/// What a request's replays resolve against, read once per request: the metadata served
/// and the uploaded components when it arrived (a bulk replay sees one snapshot of both).
struct Basis {
    live: Arc<Live>,
    handlers: KnownHandlers,
}

impl Basis {
    fn now(state: &AppState) -> Arc<Self> {
        Arc::new(Self {
            live: state.live(),
            handlers: state.wasm.known(),
        })
    }
}

/// Replays `id` on a task of its own: a client that hangs up does not cut a replay short,
/// so a recorded one never leaves its event held until the lease runs out.
async fn replay(
    state: &web::Data<AppState>,
    basis: &Arc<Basis>,
    id: Uuid,
    options: &ReplayOptions,
) -> Result<Replayed, ReplayError> {
    let state = state.clone();
    let basis = basis.clone();
    let options = options.clone();
    let task = tokio::spawn(async move {
        let context = ReplayContext {
            catalog: &basis.live.catalog,
            environment: &state.config.environment,
            handlers: &basis.handlers,
        };
        state.dispatcher().replay(&context, id, &options).await
    });
    task.await
        .unwrap_or_else(|error| Err(ReplayError::Aborted(error.to_string())))
}

/// `POST /v1/events/{id}/replay` with `{"handler"?, "record"?}`: runs the event once and
/// answers the result, the stored one and the diff between them.
pub async fn replay_one(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: Bytes,
) -> Result<HttpResponse, AdminError> {
    let options = options(&body)?;
    let replayed = replay(&state, &Basis::now(&state), id.into_inner(), &options)
        .await
        .map_err(|error| replay_failure(&error))?;
    Ok(HttpResponse::Ok().json(replayed_json(&replayed)))
}

/// `POST /v1/events/replay?action=&status=&since=&until=&older_than_secs=&limit=` with the
/// same body: replays every event of the selection (newest first, at most `limit`, 100 by
/// default) and streams one JSON line per event as it is done (`application/x-ndjson`), then
/// a summary line, `{"done": true, "replayed", "same", "different", "failed"}`. An event that
/// could not be replayed gets a line with its `error`, and the others go on.
pub async fn replay_selection(
    state: web::Data<AppState>,
    selection: web::Query<Selection>,
    body: Bytes,
) -> Result<HttpResponse, AdminError> {
    let options = options(&body)?;
    let filter = selection.listing()?;
    let limit = selection.limit().unwrap_or(100).clamp(1, 1000);
    let events = state
        .store
        .list_events(&filter, limit)
        .await
        .map_err(|error| AdminError::store("replay", &error))?;
    let total = events.len();
    let basis = Basis::now(&state);
    let lines = futures::stream::iter(events.into_iter().enumerate())
        .map(move |(index, event)| {
            let state = state.clone();
            let basis = basis.clone();
            let options = options.clone();
            async move {
                let outcome = replay(&state, &basis, event.id, &options).await;
                let mut line = match &outcome {
                    Ok(replayed) => replayed_json(replayed),
                    Err(error) => {
                        let failure = replay_failure(error);
                        json!({"event_id": event.id, "action_name": event.action_name,
                               "error": failure.body()})
                    }
                };
                line["index"] = json!(index);
                line["total"] = json!(total);
                line
            }
        })
        .buffered(BULK_CONCURRENCY)
        .scan(Tally::default(), move |tally, line| {
            tally.count(&line);
            let mut out = ndjson(&line);
            if tally.seen == total {
                out.extend_from_slice(&ndjson(&tally.summary()));
            }
            futures::future::ready(Some(Ok::<_, actix_web::Error>(Bytes::from(out))))
        });
    let empty = (total == 0).then(|| Ok(Bytes::from(ndjson(&Tally::default().summary()))));
    let body = futures::stream::iter(empty).chain(lines);
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .streaming(body))
}

fn ndjson(line: &Value) -> Vec<u8> {
    let mut bytes = line.to_string().into_bytes();
    bytes.push(b'\n');
    bytes
}

/// The counts a bulk replay ends with.
#[derive(Default)]
struct Tally {
    seen: usize,
    same: usize,
    different: usize,
    failed: usize,
}

impl Tally {
    fn count(&mut self, line: &Value) {
        self.seen += 1;
        match line["same"].as_bool() {
            Some(true) => self.same += 1,
            Some(false) => self.different += 1,
            None => self.failed += 1,
        }
    }

    fn summary(&self) -> Value {
        json!({"done": true, "replayed": self.same + self.different, "same": self.same,
               "different": self.different, "failed": self.failed})
    }
}
