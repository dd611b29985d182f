//! Replay: run a stored event again, once, against a handler the operator chooses — the
//! active version, the version that ran it, a pinned `wasm://name@sha` or a webhook URL — and
//! compare the result with the stored one. By default nothing is written: the event, its
//! attempts and its result stay as they were. Asked to record, the replay is one more attempt
//! of the event, held and stored exactly as a delivery is, and its result becomes the event's.

use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{DispatchError, Dispatcher, Invocation, Verdict};
use crate::auth::{ClientHeaders, Session};
use crate::config::Environment;
use crate::handler::wasm::recording::Exchange;
use crate::handler::wasm::{KnownHandlers, StateWrites};
use crate::handler::{EventInfo, HandlerRef};
use crate::metadata::validate::ResolvedAction;
use crate::metadata::{Catalog, MetadataError};
use crate::store::{
    self, AttemptRecord, EventRecord, EventState, Finish, RequestDocument, Transition,
};

/// Which handler a replay runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ReplayTarget {
    /// The action's handler as it is now: for `wasm://name`, the active version.
    #[default]
    Current,
    /// The component version that last ran the event (the action's handler where no version
    /// ran it, or the action pins one).
    Same,
    /// Another handler: `wasm://name[@sha]` or an `http(s)://` URL, with the action's webhook
    /// settings and transforms.
    Handler(String),
}

impl<'de> Deserialize<'de> for ReplayTarget {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(match text.as_str() {
            "current" => Self::Current,
            "same" => Self::Same,
            _ => Self::Handler(text),
        })
    }
}

/// Where a replayed component's outbound HTTP requests go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplayMode {
    /// Out to the network, as in a delivery.
    #[default]
    Live,
    /// Nowhere: each is answered from the exchanges recorded with a stored attempt (the
    /// handler records them: `record_outbound_http`); one the recording lacks fails the replay.
    Recorded,
}

/// What a replay asks for.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayOptions {
    /// `current` (the default), `same`, `wasm://name[@sha]` or a webhook URL.
    #[serde(default)]
    pub handler: ReplayTarget,
    #[serde(default)]
    pub mode: ReplayMode,
    /// In `recorded` mode, the stored attempt whose recording answers (by default the last
    /// one that has a recording).
    #[serde(default)]
    pub from_attempt: Option<i32>,
    /// Store the replay as a new attempt of the event, and its result as the event's.
    #[serde(default)]
    pub record: bool,
}

/// Why an event could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no event {0}")]
    NotFound(Uuid),
    #[error("action `{0}` no longer exists")]
    ActionRemoved(String),
    #[error("{}", .0.error)]
    InvalidHandler(MetadataError),
    /// Only a finished event can be replayed on the record: a waiting one is the worker's.
    #[error("event {0} is still waiting or being delivered")]
    NotFinished(Uuid),
    /// A `recorded` replay of an event with no recorded attempt (or not the one asked for).
    #[error("{0}")]
    NotRecorded(String),
    /// The replay outlasted its hold on the event, and another node took it over.
    #[error("event {0} was taken over before the replay was recorded")]
    LeaseLost(Uuid),
    /// The replay's task ended without an answer (it panicked).
    #[error("the replay stopped before it answered: {0}")]
    Aborted(String),
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// What a replay did.
#[derive(Debug)]
pub struct Replayed {
    pub event: EventRecord,
    /// The handler that ran, as a `handler` value (`wasm://name@sha` once a version ran).
    pub handler: String,
    /// The output, or why there was none.
    pub result: Result<Value, DispatchError>,
    /// The attempt as it would be (or, recorded, was) stored.
    pub attempt: AttemptRecord,
    /// Whether the attempt and result were stored.
    pub recorded: bool,
    /// Where the component's requests went.
    pub mode: ReplayMode,
}

impl Replayed {
    /// The replay's result and the stored one as the GraphQL layer would answer them
    /// (`{"output": …}` or `{"errors": […]}`), and the JSON Patch (RFC 6902) from the stored
    /// result to the replay's; `stored` is null for an event that has no result yet.
    pub fn comparison(&self) -> Value {
        let replayed = match &self.result {
            Ok(output) => json!({"output": output}),
            Err(error) => json!({"errors": [error.to_error_json()]}),
        };
        // What the event held before: its errors, else its output (read from the columns, not
        // the status, which a recorded replay has moved to `processing`).
        let stored = match (&self.event.errors, &self.event.response_payload) {
            (Some(errors), _) => json!({"errors": errors}),
            (None, Some(output)) => json!({"output": output}),
            (None, None) => Value::Null,
        };
        let diff = json_patch::diff(&stored, &replayed);
        json!({
            "same": diff.0.is_empty(),
            "result": replayed,
            "stored": stored,
            "diff": diff,
        })
    }
}

/// What a replay resolves against: the metadata served, the server's environment and the
/// uploaded components.
pub struct ReplayContext<'a> {
    pub catalog: &'a Catalog,
    pub environment: &'a Environment,
    pub handlers: &'a KnownHandlers,
}

impl Dispatcher {
    /// Replays stored event `id` once, as [`ReplayOptions`] say. The handler sees the event as
    /// a delivery would show it: its id (a handler's idempotency key), the next attempt
    /// number, its input, session variables and request.
    pub async fn replay(
        &self,
        context: &ReplayContext<'_>,
        id: Uuid,
        options: &ReplayOptions,
    ) -> Result<Replayed, ReplayError> {
        let store = self.store();
        let event = store.event(id).await?.ok_or(ReplayError::NotFound(id))?;
        let action = context
            .catalog
            .actions
            .get(&event.action_name)
            .ok_or_else(|| ReplayError::ActionRemoved(event.action_name.clone()))?;
        // Read once, for what needs them: the version `same` names, and the recording.
        let attempts =
            if options.handler == ReplayTarget::Same || options.mode == ReplayMode::Recorded {
                store.attempts(id).await?
            } else {
                Vec::new()
            };
        let (resolved, version) = match &options.handler {
            ReplayTarget::Current => (Resolved::Served(action), None),
            ReplayTarget::Same => {
                let ran = attempts.iter().rev().find_map(|a| {
                    a.handler_version
                        .clone()
                        .filter(|_| action.handler.follows_active_version())
                });
                (Resolved::Served(action), ran)
            }
            ReplayTarget::Handler(handler) => {
                let resolved = context
                    .catalog
                    .action_with_handler(
                        &event.action_name,
                        handler,
                        context.environment,
                        context.handlers,
                    )
                    .ok_or_else(|| ReplayError::ActionRemoved(event.action_name.clone()))?
                    .map_err(ReplayError::InvalidHandler)?;
                (Resolved::Other(Box::new(resolved)), None)
            }
        };
        let action = resolved.get();
        let timeout = action.action.definition.timeout();
        let playback = match options.mode {
            ReplayMode::Live => None,
            ReplayMode::Recorded => Some(recording_of(&attempts, &event, action, options)?),
        };
        if options.record
            && !store
                .take_for_replay(id, self.node_id(), timeout + self.lease_grace)
                .await?
        {
            return Err(ReplayError::NotFinished(id));
        }
        // Held now: read it again, so that the attempt number and the result to restore are
        // the ones of the event as it was taken, not as it was before.
        let event = if options.record {
            store.event(id).await?.ok_or(ReplayError::NotFound(id))?
        } else {
            event
        };

        let session = Session::from_stored(&event.session_variables);
        let client_headers = ClientHeaders::from_stored(&event.request_headers);
        let request_query = RequestDocument::new(event.request_query.clone().unwrap_or_default());
        let call = Invocation {
            catalog: context.catalog,
            action,
            input: event.input_payload.clone(),
            session: &session,
            request_query: &request_query,
            client_headers: &client_headers,
            playback: playback.as_deref(),
            state_writes: if options.record {
                StateWrites::Persist
            } else {
                StateWrites::CallOnly
            },
        };
        let info = EventInfo {
            id,
            attempt: u32::try_from(event.attempts).unwrap_or(0).saturating_add(1),
            created_at: event.created_at,
        };
        let super::Attempt {
            verdict, record, ..
        } = self
            .run_attempt(
                &call,
                info,
                &event.session_variables,
                timeout,
                version.as_deref(),
            )
            .await;
        let (result, finish) = match verdict {
            Verdict::Done(result) => {
                let finish = super::finish_of(event.kind, &result);
                (result, finish)
            }
            Verdict::Retry { reason, .. } => {
                let result = Err(DispatchError::Failed {
                    reason,
                    attempts: 1,
                });
                let finish = super::finish_of(event.kind, &result);
                (result, finish)
            }
            // Cut short by shutdown: the event keeps the result it had (a finished event has
            // errors exactly when it ended in error).
            Verdict::Interrupted => (
                Err(DispatchError::Interrupted),
                Finish {
                    state: if event.errors.is_some() {
                        EventState::Error
                    } else {
                        EventState::Completed
                    },
                    response_payload: event.response_payload.clone(),
                    errors: event.errors.clone(),
                    announce: false,
                },
            ),
        };
        if options.record {
            self.record(&record, Transition::Finish(finish))
                .await
                .map_err(|error| match error {
                    DispatchError::Store(error) => ReplayError::Store(error),
                    _ => ReplayError::LeaseLost(id),
                })?;
        }
        let handler = ran_handler(&action.action.definition.handler, &record);
        Ok(Replayed {
            event,
            handler,
            result,
            attempt: record,
            recorded: options.record,
            mode: options.mode,
        })
    }
}

/// The recorded exchanges a `recorded` replay of `event` answers from.
fn recording_of(
    attempts: &[AttemptRecord],
    event: &EventRecord,
    action: &ResolvedAction,
    options: &ReplayOptions,
) -> Result<Vec<Exchange>, ReplayError> {
    if !matches!(action.handler, HandlerRef::Wasm(_)) {
        return Err(ReplayError::InvalidHandler(MetadataError::new(
            "validation-failed",
            "$.handler",
            "a replay in recorded mode runs a wasm:// handler: only a component's requests \
             pass through the host, to be recorded and answered",
        )));
    }
    let recorded = attempts
        .iter()
        .rev()
        .filter(|a| options.from_attempt.is_none_or(|n| a.attempt == n))
        .find_map(|a| a.http_exchanges.as_ref().map(|e| (a.attempt, e)));
    let Some((attempt, exchanges)) = recorded else {
        return Err(ReplayError::NotRecorded(match options.from_attempt {
            Some(n) => format!(
                "attempt {n} of event {} has no recorded exchanges",
                event.id
            ),
            None => format!(
                "event {} has no attempt with recorded exchanges (its handler records them \
                 with record_outbound_http)",
                event.id
            ),
        }));
    };
    serde_json::from_value(exchanges.clone()).map_err(|error| {
        ReplayError::NotRecorded(format!(
            "the recording of attempt {attempt} cannot be read: {error}"
        ))
    })
}

/// The handler a replay ran, as a `handler` value: a component named with the version that
/// ran (`wasm://name@sha`), a webhook as its URL template (never rendered: its variables may
/// hold secrets).
fn ran_handler(handler: &str, record: &AttemptRecord) -> String {
    match (handler.strip_prefix("wasm://"), &record.handler_version) {
        (Some(reference), Some(sha)) => {
            let name = reference
                .split_once('@')
                .map_or(reference, |(name, _)| name);
            format!("wasm://{name}@{sha}")
        }
        _ => handler.to_owned(),
    }
}

/// The action a replay runs: the one served, or the same with another handler.
enum Resolved<'a> {
    Served(&'a ResolvedAction),
    Other(Box<ResolvedAction>),
}

impl Resolved<'_> {
    fn get(&self) -> &ResolvedAction {
        match self {
            Self::Served(action) => action,
            Self::Other(action) => action,
        }
    }
}
