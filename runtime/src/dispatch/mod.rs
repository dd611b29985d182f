//! Delivery: persist the event, call the handler under the shared retry policy, check the
//! output, record every attempt and the final result. This is the one place where outcomes are
//! decided, so webhook and WASM handlers get identical records and identical errors.

pub mod replay;
pub mod worker;

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::auth::{self, ClientHeaders, Session};
use crate::handler::{
    ActionName, CallContext, Delivery, EventInfo, HandlerRequest, Handlers, Reply,
};
use crate::metadata::Catalog;
use crate::metadata::output::{self, OutputError};
use crate::metadata::validate::ResolvedAction;
use crate::store::{
    self, ActionKind, AttemptOutcome, AttemptRecord, EventState, Finish, NewEvent, RequestDocument,
    Store, Transition,
};
use crate::telemetry::Metrics;

/// Why an action call did not produce an output. Each variant maps to one client-facing error
/// with a stable `code` (see `to_error_json`).
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The handler said no; its message and extensions go to the client as they are
    /// (without extensions, Hasura's: its top-level `code`, or `unexpected`, at path `$`).
    #[error("{message}")]
    Rejected {
        message: String,
        code: Option<String>,
        extensions: Option<Value>,
    },
    /// Every attempt failed in a retryable way.
    #[error("handler failed after {attempts} attempt(s): {reason}")]
    Failed { reason: String, attempts: u32 },
    /// The handler's output does not fit the action's output type.
    #[error("handler output does not match the output type: {0}")]
    InvalidOutput(OutputError),
    /// This node's shutdown cut the call short after the grace period.
    #[error("the server shut down before the handler answered")]
    Interrupted,
    /// Another node took the event over (its lease expired); its result stands.
    #[error("the event's lease was lost to another node")]
    LeaseLost,
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl DispatchError {
    /// The error as one GraphQL error object, `{"message", "extensions"}`. Details meant for
    /// operators only sit under `extensions.internal`; the GraphQL layer removes them for
    /// callers who are not admins.
    pub fn to_error_json(&self) -> Value {
        match self {
            Self::Rejected {
                message,
                code,
                extensions,
            } => {
                let extensions = extensions.clone().unwrap_or_else(
                    || json!({"code": code.as_deref().unwrap_or("unexpected"), "path": "$"}),
                );
                json!({"message": message, "extensions": extensions})
            }
            Self::Failed { reason, attempts } => json!({
                "message": "the action handler failed",
                "extensions": {"code": "unexpected", "internal": {"reason": reason, "attempts": attempts}},
            }),
            Self::InvalidOutput(error) => json!({
                "message": error.message,
                "extensions": {"code": "unexpected", "path": "$", "internal": {"reason": error.detail}},
            }),
            Self::Interrupted => json!({
                "message": self.to_string(),
                "extensions": {"code": "interrupted"},
            }),
            Self::LeaseLost => json!({
                "message": "the action was taken over by another node",
                "extensions": {"code": "unexpected"},
            }),
            Self::Store(error) => json!({
                "message": "database query error",
                "extensions": {"code": "unexpected", "internal": {"error": error.to_string()}},
            }),
        }
    }
}

/// One call of an action, as the GraphQL layer hands it over.
pub struct Invocation<'a> {
    pub catalog: &'a Catalog,
    pub action: &'a ResolvedAction,
    pub input: Value,
    pub session: &'a Session,
    pub request_query: &'a RequestDocument,
    pub client_headers: &'a ClientHeaders,
    /// A replay in `recorded` mode: the recorded exchanges that answer the component's
    /// outbound requests.
    pub playback: Option<&'a [crate::handler::wasm::recording::Exchange]>,
    /// Whether a component's key-value writes are stored: not by a replay that records
    /// nothing.
    pub state_writes: crate::handler::wasm::StateWrites,
}

/// Delivers action calls. One per server.
#[derive(Clone)]
pub struct Dispatcher {
    store: Store,
    node_id: String,
    handlers: Handlers,
    metrics: Metrics,
    /// How long past its action's timeout a synchronous event stays leased to this node:
    /// once that has run out too, any replica finishes the event as abandoned.
    lease_grace: Duration,
    /// Cancelled when shutdown's grace period is over: attempts still running are cut short
    /// and recorded as interrupted.
    interrupt: CancellationToken,
    /// Synchronous calls in flight, which shutdown waits for.
    in_flight: TaskTracker,
}

impl Dispatcher {
    /// The store events are recorded in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// This node's name as lease owner.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// A dispatcher recording into `store` as lease owner `node_id`.
    pub fn new(
        store: Store,
        node_id: String,
        handlers: Handlers,
        metrics: Metrics,
        lease_grace: Duration,
    ) -> Self {
        Self {
            store,
            node_id,
            handlers,
            metrics,
            lease_grace,
            interrupt: CancellationToken::new(),
            in_flight: TaskTracker::new(),
        }
    }

    /// Cuts short every attempt still running on this node (shutdown, after the grace
    /// period). Each is recorded as `interrupted`: an asynchronous event goes back to the
    /// queue without losing a retry; a synchronous one is finished, its caller told why.
    pub fn interrupt(&self) {
        self.interrupt.cancel();
    }

    /// Waits until no synchronous call is in flight, for at most `grace`; then interrupts
    /// what is left and waits, for at most `settle`, until it is recorded.
    pub async fn drain_sync_calls(&self, grace: Duration, settle: Duration) {
        self.in_flight.close();
        if tokio::time::timeout(grace, self.in_flight.wait())
            .await
            .is_err()
        {
            self.interrupt();
            let _ = tokio::time::timeout(settle, self.in_flight.wait()).await;
        }
    }

    /// Counts a call's final outcome.
    pub(crate) fn count_outcome<T>(
        &self,
        action: &ResolvedAction,
        result: &Result<T, DispatchError>,
    ) {
        let outcome = match result {
            Ok(_) => "success",
            Err(DispatchError::Rejected { .. }) => "rejected",
            Err(DispatchError::InvalidOutput(_)) => "invalid_output",
            Err(DispatchError::Failed { .. }) => "failed",
            Err(
                DispatchError::Interrupted | DispatchError::LeaseLost | DispatchError::Store(_),
            ) => "aborted",
        };
        self.metrics
            .invocations
            .with_label_values(&[&action.action.name, action.handler.kind(), outcome])
            .inc();
    }

    /// Runs a store operation, timing it.
    async fn timed<T>(&self, operation: &str, work: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let span = tracing::debug_span!(
            target: crate::traces::TARGET,
            "store",
            db.operation.name = operation,
            db.system.name = self.store.backend_name(),
        );
        let result = tracing::Instrument::instrument(work, span).await;
        self.metrics.store_operation(operation, started.elapsed());
        result
    }

    /// Accepts an asynchronous action: the event is stored, workers (on any replica) are woken,
    /// and its id is returned at once. Delivery happens in [`worker`].
    #[tracing::instrument(
        target = "hookwing::trace",
        level = "debug",
        name = "action",
        skip_all,
        fields(action = %call.action.action.name, kind = "asynchronous")
    )]
    pub async fn invoke_async(&self, call: Invocation<'_>) -> Result<Uuid, DispatchError> {
        let event = NewEvent {
            id: Uuid::now_v7(),
            action_name: call.action.action.name.clone(),
            kind: call.action.action.definition.kind,
            input_payload: call.input.clone(),
            request_headers: request_headers_json(call.client_headers),
            session_variables: call.session.variables_json(),
            created_at: Utc::now(),
            status: EventState::Created,
            locked_by: None,
            lease_expires_at: None,
            request_query: Some(call.request_query.clone()),
        };
        self.timed("insert_event", self.store.insert_event(&event))
            .await?;
        Ok(event.id)
    }

    /// Runs a synchronous action: the event is stored (and leased to this node) before the
    /// handler is called, every attempt is recorded, and the result is stored before it is
    /// returned. Retries happen inside the action's timeout budget.
    #[tracing::instrument(
        target = "hookwing::trace",
        level = "debug",
        name = "action",
        skip_all,
        fields(action = %call.action.action.name, kind = "synchronous")
    )]
    pub async fn invoke_sync(&self, call: Invocation<'_>) -> Result<SyncOutput, DispatchError> {
        let definition = &call.action.action.definition;
        let timeout = definition.timeout();
        let started = Instant::now();
        let created_at = Utc::now();
        let event = NewEvent {
            id: Uuid::now_v7(),
            action_name: call.action.action.name.clone(),
            kind: definition.kind,
            input_payload: call.input.clone(),
            request_headers: request_headers_json(call.client_headers),
            session_variables: call.session.variables_json(),
            created_at,
            status: EventState::Processing,
            locked_by: Some(self.node_id.clone()),
            lease_expires_at: Some(created_at + timeout + self.lease_grace),
            request_query: Some(call.request_query.clone()),
        };
        let result = self
            .in_flight
            .track_future(async {
                self.timed("insert_event", self.store.insert_event(&event))
                    .await?;
                self.attempts(&call, &event, started + timeout).await
            })
            .await;
        self.count_outcome(call.action, &result);
        result
    }

    /// Runs attempts until one is final or the budget is spent; the last attempt's record
    /// and the event's result are stored in one commit.
    async fn attempts(
        &self,
        call: &Invocation<'_>,
        event: &NewEvent,
        deadline: Instant,
    ) -> Result<SyncOutput, DispatchError> {
        let policy = &call.action.retry;
        let mut attempt = 1;
        // Retries run the component version the first attempt ran.
        let mut version: Option<String> = None;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let info = EventInfo {
                id: event.id,
                attempt,
                created_at: event.created_at,
            };
            let Attempt {
                verdict,
                record,
                set_cookies,
            } = self
                .run_attempt(
                    call,
                    info,
                    &event.session_variables,
                    remaining,
                    version.as_deref(),
                )
                .await;
            if version.is_none() {
                version.clone_from(&record.handler_version);
            }
            let result = match verdict {
                Verdict::Done(result) => result,
                Verdict::Interrupted => Err(DispatchError::Interrupted),
                Verdict::Retry {
                    reason,
                    retry_after,
                } => {
                    let delay = policy.delay_after(attempt, retry_after);
                    let exhausted =
                        !policy.allows_after(attempt) || Instant::now() + delay >= deadline;
                    if !exhausted {
                        self.record(&record, Transition::Retry).await?;
                        tokio::select! {
                            () = tokio::time::sleep(delay) => {}
                            () = self.interrupt.cancelled() => {
                                return self.interrupted_between_attempts(event.id).await;
                            }
                        }
                        attempt += 1;
                        continue;
                    }
                    Err(DispatchError::Failed {
                        reason,
                        attempts: attempt,
                    })
                }
            };
            if let Err(error) = &result {
                tracing::warn!(
                    action = %call.action.action.name,
                    event_id = %event.id,
                    attempts = attempt,
                    %error,
                    "synchronous call failed"
                );
            }
            let finish = finish_of(ActionKind::Synchronous, &result);
            self.record(&record, Transition::Finish(finish)).await?;
            return result.map(|output| SyncOutput {
                output,
                set_cookies,
            });
        }
    }

    /// Finishes a synchronous event that shutdown interrupted while it waited to retry.
    async fn interrupted_between_attempts(&self, id: Uuid) -> Result<SyncOutput, DispatchError> {
        let result = Err(DispatchError::Interrupted);
        let finish = finish_of(ActionKind::Synchronous, &result);
        if !self.store.finish_event(id, &self.node_id, &finish).await? {
            return Err(DispatchError::LeaseLost);
        }
        Err(DispatchError::Interrupted)
    }

    /// One attempt, the same for synchronous calls and the asynchronous worker: deliver to the
    /// handler within `timeout` and judge the reply. The caller stores the returned record
    /// together with what it decides the event's next state is ([`Self::record`]).
    #[tracing::instrument(
        target = "hookwing::trace",
        level = "debug",
        name = "attempt",
        skip_all,
        fields(
            action = %call.action.action.name,
            handler.kind = call.action.handler.kind(),
            event.id = %event.id,
            attempt = event.attempt,
            outcome = tracing::field::Empty,
        )
    )]
    /// `version` holds a component handler to that version (the sha256 an earlier attempt of
    /// the event ran); `None` runs the active one.
    pub(crate) async fn run_attempt(
        &self,
        call: &Invocation<'_>,
        event: EventInfo,
        session_variables: &Value,
        timeout: Duration,
        version: Option<&str>,
    ) -> Attempt {
        let started_at = Utc::now();
        let clock = Instant::now();
        let delivery = if timeout.is_zero() {
            Some(Delivery {
                reply: Reply::Failed {
                    reason: "the action's timeout elapsed".into(),
                    retry_after: None,
                },
                status_code: None,
                logs: Vec::new(),
                set_cookies: Vec::new(),
                version: None,
                http_exchanges: None,
            })
        } else {
            tokio::select! {
                delivery = self.deliver(call, session_variables, event, timeout, version) => Some(delivery),
                () = self.interrupt.cancelled() => None,
            }
        };
        let (verdict, status_code, logs, set_cookies, ran, http_exchanges) = match delivery {
            Some(delivery) => (
                judge(call, delivery.reply),
                delivery.status_code,
                delivery.logs,
                delivery.set_cookies,
                delivery.version,
                delivery.http_exchanges,
            ),
            None => (
                Verdict::Interrupted,
                None,
                Vec::new(),
                Vec::new(),
                None,
                None,
            ),
        };
        // Deliveries are counted; a replay that records nothing is an operator's trial run
        // (its key-value writes are kept for the call only, as it is not recorded either).
        if call.state_writes == crate::handler::wasm::StateWrites::Persist {
            let outcome = verdict.describe().0.as_str();
            self.metrics
                .attempts
                .with_label_values(&[
                    &call.action.action.name,
                    call.action.handler.kind(),
                    outcome,
                ])
                .observe(clock.elapsed().as_secs_f64());
        }
        let (outcome, detail) = verdict.describe();
        tracing::Span::current().record("outcome", outcome.as_str());
        if outcome != AttemptOutcome::Success {
            tracing::warn!(
                action = %call.action.action.name,
                event_id = %event.id,
                attempt = event.attempt,
                outcome = outcome.as_str(),
                reason = detail.as_deref().unwrap_or(""),
                "attempt did not succeed"
            );
        }
        let record = AttemptRecord {
            event_id: event.id,
            attempt: i32::try_from(event.attempt).unwrap_or(i32::MAX),
            started_at,
            finished_at: Utc::now(),
            outcome,
            status_code: status_code.map(i32::from),
            detail,
            logs: Value::Array(logs),
            handler_version: ran,
            http_exchanges,
        };
        Attempt {
            verdict,
            record,
            set_cookies,
        }
    }

    async fn deliver(
        &self,
        call: &Invocation<'_>,
        session_variables: &Value,
        event: EventInfo,
        timeout: Duration,
        version: Option<&str>,
    ) -> Delivery {
        let request = HandlerRequest {
            action: ActionName {
                name: &call.action.action.name,
            },
            input: &call.input,
            session_variables,
            request_query: call.request_query.text(),
            event,
        };
        let context = CallContext {
            client_headers: call.client_headers,
            playback: call.playback,
            state_writes: call.state_writes,
        };
        let held = version.and_then(|sha256| call.action.handler.at_version(sha256));
        self.handlers
            .call(
                held.as_ref().unwrap_or(&call.action.handler),
                &request,
                &context,
                call.action.response_transform.as_deref(),
                timeout,
            )
            .await
    }

    /// Stores an attempt and the event's next state in one commit, while this node still
    /// holds the event; [`DispatchError::LeaseLost`] otherwise.
    async fn record(&self, record: &AttemptRecord, then: Transition) -> Result<(), DispatchError> {
        if self
            .timed(
                "record_attempt",
                self.store.record_attempt(&self.node_id, record, then),
            )
            .await?
        {
            Ok(())
        } else {
            Err(DispatchError::LeaseLost)
        }
    }
}

/// What one attempt means for the event.
pub(crate) enum Verdict {
    /// Final: an output, a rejection or an invalid output.
    Done(Result<Value, DispatchError>),
    /// Failed in a way worth another attempt, if the policy allows one.
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Cut short by this node's shutdown.
    Interrupted,
}

impl Verdict {
    fn describe(&self) -> (AttemptOutcome, Option<String>) {
        match self {
            Self::Done(Ok(_)) => (AttemptOutcome::Success, None),
            Self::Done(Err(DispatchError::InvalidOutput(error))) => {
                (AttemptOutcome::InvalidOutput, Some(error.detail.clone()))
            }
            // What the handler's rejection keeps for operators (a failed transform's
            // reason) belongs in the attempt record, beside the message the client saw.
            Self::Done(Err(
                error @ DispatchError::Rejected {
                    extensions: Some(extensions),
                    ..
                },
            )) => {
                let detail = match extensions["internal"]["reason"].as_str() {
                    Some(reason) => format!("{error}: {reason}"),
                    None => error.to_string(),
                };
                (AttemptOutcome::Rejected, Some(detail))
            }
            Self::Done(Err(error)) => (AttemptOutcome::Rejected, Some(error.to_string())),
            Self::Retry { reason, .. } => (AttemptOutcome::Failed, Some(reason.clone())),
            Self::Interrupted => (
                AttemptOutcome::Interrupted,
                Some("cut short by this node's shutdown".into()),
            ),
        }
    }
}

fn judge(call: &Invocation<'_>, reply: Reply) -> Verdict {
    match reply {
        Reply::Success { output } => {
            match output::check(call.catalog, &call.action.output, &output) {
                Ok(()) => Verdict::Done(Ok(output)),
                Err(error) => Verdict::Done(Err(DispatchError::InvalidOutput(error))),
            }
        }
        Reply::Rejected {
            message,
            code,
            extensions,
        } => Verdict::Done(Err(DispatchError::Rejected {
            message,
            code,
            extensions,
        })),
        Reply::Failed {
            reason,
            retry_after,
        } => Verdict::Retry {
            reason,
            retry_after,
        },
    }
}

/// The client's headers as stored in `action_log.request_headers` (Hasura's column). Secrets
/// a client sent are not written to the database.
fn request_headers_json(headers: &ClientHeaders) -> Value {
    const SECRETS: [&str; 4] = [
        "authorization",
        "cookie",
        "x-hasura-admin-secret",
        "x-hookwing-admin-secret",
    ];
    Value::Object(
        headers
            .iter()
            .map(|(name, value)| {
                let value = if SECRETS.contains(&name) {
                    auth::REDACTED
                } else {
                    value
                };
                (name.to_owned(), Value::String(value.to_owned()))
            })
            .collect(),
    )
}

/// A synchronous call's result.
#[derive(Debug, Clone)]
pub struct SyncOutput {
    /// The handler's output, checked against the output type.
    pub output: Value,
    /// The `Set-Cookie` headers of the reply, for the client's HTTP response.
    pub set_cookies: Vec<String>,
}

/// One attempt: its verdict, its record, and what the client's response gets from it.
pub(crate) struct Attempt {
    pub(crate) verdict: Verdict,
    pub(crate) record: AttemptRecord,
    pub(crate) set_cookies: Vec<String>,
}

/// The terminal state a call's result leaves its event in. Only asynchronous results are
/// announced: nobody can subscribe to a synchronous event, whose caller gets the reply.
pub(crate) fn finish_of(kind: ActionKind, result: &Result<Value, DispatchError>) -> Finish {
    let announce = kind == ActionKind::Asynchronous;
    match result {
        Ok(output) => Finish {
            state: EventState::Completed,
            response_payload: Some(output.clone()),
            errors: None,
            announce,
        },
        Err(error) => Finish {
            state: EventState::Error,
            response_payload: None,
            errors: Some(json!([error.to_error_json()])),
            announce,
        },
    }
}
