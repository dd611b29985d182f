//! Delivery: persist the event, call the handler under the shared retry policy, check the
//! output, record every attempt and the final result. This is the one place where outcomes are
//! decided, so webhook and WASM handlers get identical records and identical errors.

mod output;
mod retry;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use tokio::time::Instant;
use uuid::Uuid;

pub use retry::RetryPolicy;

use crate::auth::{self, ClientHeaders, Session};
use crate::handler::http::{Webhook, WebhookCall};
use crate::handler::wasm::WasmHost;
use crate::handler::{ActionName, Delivery, EventInfo, HandlerRef, HandlerRequest, Reply};
use crate::metadata::Catalog;
use crate::metadata::validate::ResolvedAction;
use crate::server::metrics::Metrics;
use crate::store::{
    self, AfterAttempt, AttemptOutcome, AttemptRecord, EventStatus, Finish, NewEvent, Store,
};

/// Extra lease time beyond the action's timeout before another node may consider a
/// synchronous event abandoned.
const LEASE_GRACE: Duration = Duration::from_secs(30);

/// Why an action call did not produce an output. Each variant maps to one client-facing error
/// with a stable `code` (see `to_error_json`).
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The handler said no; its message and extensions go to the client as they are.
    #[error("{message}")]
    Rejected {
        message: String,
        extensions: Option<Value>,
    },
    /// Every attempt failed in a retryable way.
    #[error("handler failed after {attempts} attempt(s): {reason}")]
    Failed { reason: String, attempts: u32 },
    /// The handler's output does not fit the action's output type.
    #[error("handler output does not match the output type: {reason}")]
    InvalidOutput { reason: String },
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
                extensions,
            } => {
                let mut extensions = extensions.clone().unwrap_or_else(|| json!({}));
                if let Value::Object(map) = &mut extensions {
                    map.entry("code").or_insert_with(|| json!("unexpected"));
                }
                json!({"message": message, "extensions": extensions})
            }
            Self::Failed { reason, attempts } => json!({
                "message": "the action handler failed",
                "extensions": {"code": "unexpected", "internal": {"reason": reason, "attempts": attempts}},
            }),
            Self::InvalidOutput { reason } => json!({
                "message": format!("the action handler returned an invalid output: {reason}"),
                "extensions": {"code": "validation-failed"},
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
    pub request_query: &'a str,
    pub client_headers: &'a ClientHeaders,
}

/// Delivers action calls. One per server.
#[derive(Clone)]
pub struct Dispatcher {
    store: Store,
    node_id: String,
    webhook: Webhook,
    wasm: Arc<WasmHost>,
    metrics: Metrics,
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
        webhook: Webhook,
        wasm: Arc<WasmHost>,
        metrics: Metrics,
    ) -> Self {
        Self {
            store,
            node_id,
            webhook,
            wasm,
            metrics,
        }
    }

    /// Counts a call's final outcome.
    pub(crate) fn count_outcome(
        &self,
        action: &ResolvedAction,
        result: &Result<Value, DispatchError>,
    ) {
        let outcome = match result {
            Ok(_) => "success",
            Err(DispatchError::Rejected { .. }) => "rejected",
            Err(DispatchError::InvalidOutput { .. }) => "invalid_output",
            Err(DispatchError::Failed { .. }) => "failed",
            Err(DispatchError::LeaseLost | DispatchError::Store(_)) => "aborted",
        };
        self.metrics
            .invocations
            .with_label_values(&[&action.action.name, action.handler.kind(), outcome])
            .inc();
    }

    /// Runs a store operation, timing it.
    async fn timed<T>(&self, operation: &str, work: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let result = work.await;
        self.metrics.store_operation(operation, started.elapsed());
        result
    }

    /// Accepts an asynchronous action: the event is stored, workers (on any replica) are woken,
    /// and its id is returned at once. Delivery happens in [`worker`].
    pub async fn invoke_async(&self, call: Invocation<'_>) -> Result<Uuid, DispatchError> {
        let event = NewEvent {
            id: Uuid::now_v7(),
            action_name: call.action.action.name.clone(),
            kind: call.action.action.definition.kind,
            input_payload: call.input.clone(),
            request_headers: request_headers_json(call.client_headers),
            session_variables: call.session.variables_json(),
            created_at: Utc::now(),
            status: EventStatus::Created,
            locked_by: None,
            lease_expires_at: None,
            request_query: Some(call.request_query.to_owned()),
        };
        self.timed("insert_event", self.store.insert_event(&event))
            .await?;
        Ok(event.id)
    }

    /// Runs a synchronous action: the event is stored (and leased to this node) before the
    /// handler is called, every attempt is recorded, and the result is stored before it is
    /// returned. Retries happen inside the action's timeout budget.
    pub async fn invoke_sync(&self, call: Invocation<'_>) -> Result<Value, DispatchError> {
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
            status: EventStatus::Processing,
            locked_by: Some(self.node_id.clone()),
            lease_expires_at: Some(created_at + timeout + LEASE_GRACE),
            request_query: Some(call.request_query.to_owned()),
        };
        self.timed("insert_event", self.store.insert_event(&event))
            .await?;

        let result = self.attempts(&call, &event, started + timeout).await;
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
    ) -> Result<Value, DispatchError> {
        let policy = &call.action.retry;
        let mut attempt = 1;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let info = EventInfo {
                id: event.id,
                attempt,
                created_at: event.created_at,
            };
            let (verdict, record) = self
                .run_attempt(call, info, &event.session_variables, remaining)
                .await;
            let result = match verdict {
                Verdict::Done(result) => result,
                Verdict::Retry {
                    reason,
                    retry_after,
                } => {
                    let delay = policy.delay_after(attempt, retry_after);
                    let exhausted =
                        !policy.allows_after(attempt) || Instant::now() + delay >= deadline;
                    if !exhausted {
                        self.record(&record, AfterAttempt::Retry).await?;
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                        continue;
                    }
                    Err(DispatchError::Failed {
                        reason,
                        attempts: attempt,
                    })
                }
            };
            self.record(&record, AfterAttempt::Reply(Finish::of(&result)))
                .await?;
            return result;
        }
    }

    /// One attempt, the same for synchronous calls and the asynchronous worker: deliver to the
    /// handler within `timeout` and judge the reply. The caller stores the returned record
    /// together with what it decides the event's next state is ([`Self::record`]).
    async fn run_attempt(
        &self,
        call: &Invocation<'_>,
        event: EventInfo,
        session_variables: &Value,
        timeout: Duration,
    ) -> (Verdict, AttemptRecord) {
        let started_at = Utc::now();
        let clock = Instant::now();
        let delivery = if timeout.is_zero() {
            Delivery {
                reply: Reply::Failed {
                    reason: "the action's timeout elapsed".into(),
                    retry_after: None,
                },
                status_code: None,
                logs: Vec::new(),
            }
        } else {
            self.deliver(call, session_variables, event, timeout).await
        };
        let verdict = judge(call, delivery.reply);
        let outcome = verdict.describe().0.as_str();
        self.metrics
            .attempts
            .with_label_values(&[
                &call.action.action.name,
                call.action.handler.kind(),
                outcome,
            ])
            .observe(clock.elapsed().as_secs_f64());
        let (outcome, detail) = verdict.describe();
        let record = AttemptRecord {
            event_id: event.id,
            attempt: i32::try_from(event.attempt).unwrap_or(i32::MAX),
            started_at,
            finished_at: Utc::now(),
            outcome,
            status_code: delivery.status_code.map(i32::from),
            detail,
            logs: Value::Array(delivery.logs),
        };
        (verdict, record)
    }

    async fn deliver(
        &self,
        call: &Invocation<'_>,
        session_variables: &Value,
        event: EventInfo,
        timeout: Duration,
    ) -> Delivery {
        let request = HandlerRequest {
            action: ActionName {
                name: &call.action.action.name,
            },
            input: &call.input,
            session_variables,
            request_query: call.request_query,
            event,
        };
        match &call.action.handler {
            HandlerRef::Webhook(url) => {
                self.webhook
                    .call(WebhookCall {
                        url,
                        definition: &call.action.action.definition,
                        request: &request,
                        client_headers: call.client_headers,
                        timeout,
                    })
                    .await
            }
            HandlerRef::Wasm(wasm_ref) => self.wasm.call(wasm_ref, &request, timeout).await,
        }
    }

    /// Stores an attempt and the event's next state in one commit, while this node still
    /// holds the event; [`DispatchError::LeaseLost`] otherwise.
    async fn record(
        &self,
        record: &AttemptRecord,
        then: AfterAttempt,
    ) -> Result<(), DispatchError> {
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
    Done(Result<Value, DispatchError>),
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
}

impl Verdict {
    fn describe(&self) -> (AttemptOutcome, Option<String>) {
        match self {
            Self::Done(Ok(_)) => (AttemptOutcome::Success, None),
            Self::Done(Err(DispatchError::InvalidOutput { reason })) => {
                (AttemptOutcome::InvalidOutput, Some(reason.clone()))
            }
            Self::Done(Err(error)) => (AttemptOutcome::Rejected, Some(error.to_string())),
            Self::Retry { reason, .. } => (AttemptOutcome::Failed, Some(reason.clone())),
        }
    }
}

fn judge(call: &Invocation<'_>, reply: Reply) -> Verdict {
    match reply {
        Reply::Success { output } => {
            match output::check(call.catalog, &call.action.output, &output) {
                Ok(()) => Verdict::Done(Ok(output)),
                Err(reason) => Verdict::Done(Err(DispatchError::InvalidOutput { reason })),
            }
        }
        Reply::Rejected {
            message,
            extensions,
        } => Verdict::Done(Err(DispatchError::Rejected {
            message,
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

impl Finish {
    /// The terminal state a call's result leaves its event in.
    pub fn of(result: &Result<Value, DispatchError>) -> Self {
        match result {
            Ok(output) => Self {
                status: EventStatus::Completed,
                response_payload: Some(output.clone()),
                errors: None,
            },
            Err(error) => Self {
                status: EventStatus::Error,
                response_payload: None,
                errors: Some(json!([error.to_error_json()])),
            },
        }
    }
}
