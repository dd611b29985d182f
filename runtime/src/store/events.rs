//! Events (`action_log`) and their delivery attempts (`action_attempt`): their rows, the
//! columns each transition sets, and the reads. The transitions themselves are in
//! [`super::lifecycle`].

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;
use uuid::Uuid;

use super::documents::{self, RequestDocument};
use super::lifecycle::{ActionKind, AttemptOutcome, EventState, Finish};
use super::prepared::row_batch;
use super::schema::{action_attempt, action_log};
use super::sql_types::{Id, Json, Time};
use super::{Result, Store, on_connection};

/// An invocation to persist before anything is delivered.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: Uuid,
    pub action_name: String,
    pub kind: ActionKind,
    pub input_payload: Value,
    pub request_headers: Value,
    pub session_variables: Value,
    pub created_at: DateTime<Utc>,
    pub status: EventState,
    /// The node holding the lease, for events inserted already `processing`.
    pub locked_by: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// The request's GraphQL document, for the handler payload's `request_query`.
    pub request_query: Option<RequestDocument>,
}

/// One finished delivery attempt.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub event_id: Uuid,
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub outcome: AttemptOutcome,
    /// HTTP status for webhooks.
    pub status_code: Option<i32>,
    /// Why it failed or was rejected, for operators.
    pub detail: Option<String>,
    /// Log lines the handler emitted during this attempt.
    pub logs: Value,
    /// The sha256 of the component version that ran it (`None` for webhooks).
    pub handler_version: Option<String>,
    /// The component's outbound HTTP exchanges, when its handler records them.
    pub http_exchanges: Option<Value>,
}

/// An event as read back from the store.
#[derive(Debug, Clone)]
pub struct EventRecord {
    pub id: Uuid,
    pub action_name: String,
    pub kind: ActionKind,
    pub input_payload: Value,
    pub request_headers: Value,
    pub session_variables: Value,
    pub response_payload: Option<Value>,
    pub errors: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub response_received_at: Option<DateTime<Utc>>,
    pub status: EventState,
    pub attempts: i32,
    pub locked_by: Option<String>,
    pub request_query: Option<String>,
    /// Attempts made before an operator last requeued the event; retry budgets count from here.
    pub retry_base: i32,
    /// The component version a redelivery holds the event's next attempts to (`same`); `None`
    /// lets them run the version their first attempt since then runs.
    pub handler_version: Option<String>,
}

row_batch! {
    // `None` is NULL, not DEFAULT: every row has the same shape, so SQLite prepares its
    // INSERT once; PostgreSQL inserts a batch of rows with one statement (`EventBatch`).
    #[derive(Insertable)]
    #[diesel(table_name = action_log, treat_none_as_default_value = false)]
    pub(super) struct EventRow into action_log as EventBatch {
        id: Id,
        action_name: String,
        input_payload: Json,
        request_headers: Json,
        session_variables: Json,
        created_at: Time,
        status: &'static str,
        kind: &'static str,
        attempts: i32,
        locked_by: Option<String>,
        lease_expires_at: Option<Time>,
        next_attempt_at: Option<Time>,
        request_document: Option<String>,
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = action_log)]
pub(super) struct StoredEvent {
    id: Id,
    action_name: String,
    kind: String,
    input_payload: Json,
    request_headers: Json,
    session_variables: Json,
    response_payload: Option<Json>,
    errors: Option<Json>,
    created_at: Time,
    response_received_at: Option<Time>,
    status: String,
    attempts: i32,
    locked_by: Option<String>,
    /// Only events stored before documents had a table of their own.
    request_query: Option<String>,
    retry_base: i32,
    request_document: Option<String>,
    handler_version: Option<String>,
}

impl StoredEvent {
    /// When the event was accepted: the order listings merge in.
    pub(super) fn created_at(&self) -> Time {
        self.created_at
    }
}

row_batch! {
    #[derive(Insertable)]
    #[diesel(table_name = action_attempt, treat_none_as_default_value = false)]
    pub(super) struct AttemptRow into action_attempt as AttemptBatch {
        pub(super) event_id: Id,
        pub(super) attempt: i32,
        started_at: Time,
        finished_at: Time,
        duration_ms: i64,
        outcome: &'static str,
        status_code: Option<i32>,
        detail: Option<String>,
        logs: Json,
        handler_version: Option<String>,
        http_exchanges: Option<Json>,
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = action_attempt)]
struct StoredAttempt {
    event_id: Id,
    attempt: i32,
    started_at: Time,
    finished_at: Time,
    outcome: String,
    status_code: Option<i32>,
    detail: Option<String>,
    logs: Json,
    handler_version: Option<String>,
    http_exchanges: Option<Json>,
}

impl From<StoredAttempt> for AttemptRecord {
    fn from(row: StoredAttempt) -> Self {
        Self {
            event_id: row.event_id.0,
            attempt: row.attempt,
            started_at: row.started_at.0,
            finished_at: row.finished_at.0,
            // The CHECK constraint admits only known outcomes.
            outcome: AttemptOutcome::parse(&row.outcome).unwrap_or(AttemptOutcome::Failed),
            status_code: row.status_code,
            detail: row.detail,
            logs: row.logs.0,
            handler_version: row.handler_version,
            http_exchanges: row.http_exchanges.map(|json| json.0),
        }
    }
}

impl From<StoredEvent> for EventRecord {
    fn from(row: StoredEvent) -> Self {
        Self {
            id: row.id.0,
            action_name: row.action_name,
            // The CHECK constraint admits only known kinds.
            kind: ActionKind::parse(&row.kind).unwrap_or_default(),
            input_payload: row.input_payload.0,
            request_headers: row.request_headers.0,
            session_variables: row.session_variables.0,
            response_payload: row.response_payload.map(|j| j.0),
            errors: row.errors.map(|j| j.0),
            created_at: row.created_at.0,
            response_received_at: row.response_received_at.map(|t| t.0),
            // The CHECK constraint admits only known statuses.
            status: EventState::parse(&row.status).unwrap_or(EventState::Error),
            attempts: row.attempts,
            locked_by: row.locked_by,
            request_query: row.request_query,
            retry_base: row.retry_base,
            handler_version: row.handler_version,
        }
    }
}

/// The columns a terminal state sets; the lease is released.
// Sets every column every time, so one prepared statement serves all (`prepared::update`).
#[derive(AsChangeset, diesel::query_builder::QueryId)]
#[diesel(table_name = action_log, treat_none_as_null = true)]
pub(super) struct Finished {
    status: &'static str,
    response_payload: Option<Json>,
    errors: Option<Json>,
    response_received_at: Option<Time>,
    locked_by: Option<String>,
    lease_expires_at: Option<Time>,
    next_attempt_at: Option<Time>,
}

impl Finished {
    pub(super) fn new(finish: &Finish) -> Self {
        Self {
            status: finish.state.as_str(),
            response_payload: finish.response_payload.clone().map(Json),
            errors: finish.errors.clone().map(Json),
            response_received_at: Some(Time::now()),
            locked_by: None,
            lease_expires_at: None,
            next_attempt_at: None,
        }
    }
}

/// The columns that hand an event back to the queue, due at `next_attempt_at`.
// Sets every column every time, so one prepared statement serves all (`prepared::update`).
#[derive(AsChangeset, diesel::query_builder::QueryId)]
#[diesel(table_name = action_log, treat_none_as_null = true)]
pub(super) struct Rescheduled {
    status: &'static str,
    locked_by: Option<String>,
    lease_expires_at: Option<Time>,
    next_attempt_at: Option<Time>,
}

impl Rescheduled {
    pub(super) fn at(due: Time) -> Self {
        Self {
            status: EventState::Created.as_str(),
            locked_by: None,
            lease_expires_at: None,
            next_attempt_at: Some(due),
        }
    }
}

/// The columns that hand an interrupted event back to the queue, due now, with its retry
/// budget moved past the attempt that was cut short.
// Sets every column every time, so one prepared statement serves all (`prepared::update`).
#[derive(AsChangeset, diesel::query_builder::QueryId)]
#[diesel(table_name = action_log, treat_none_as_null = true)]
pub(super) struct Released {
    status: &'static str,
    locked_by: Option<String>,
    lease_expires_at: Option<Time>,
    next_attempt_at: Option<Time>,
    retry_base: i32,
}

impl Released {
    pub(super) fn now(retry_base: i32) -> Self {
        Self {
            status: EventState::Created.as_str(),
            locked_by: None,
            lease_expires_at: None,
            next_attempt_at: Some(Time::now()),
            retry_base,
        }
    }
}

impl EventRow {
    pub(super) fn new(event: &NewEvent) -> Self {
        Self {
            id: Id(event.id),
            action_name: event.action_name.clone(),
            input_payload: Json(event.input_payload.clone()),
            request_headers: Json(event.request_headers.clone()),
            session_variables: Json(event.session_variables.clone()),
            created_at: Time::from(event.created_at),
            status: event.status.as_str(),
            kind: event.kind.as_str(),
            attempts: 0,
            locked_by: event.locked_by.clone(),
            lease_expires_at: event.lease_expires_at.map(Time::from),
            // Asynchronous events are due at once; synchronous ones are delivered inline.
            next_attempt_at: (event.status == EventState::Created)
                .then(|| Time::from(event.created_at)),
            request_document: event
                .request_query
                .as_ref()
                .map(|document| document.sha256().to_owned()),
        }
    }
}

impl AttemptRow {
    pub(super) fn new(record: &AttemptRecord) -> Self {
        Self {
            event_id: Id(record.event_id),
            attempt: record.attempt,
            started_at: Time::from(record.started_at),
            finished_at: Time::from(record.finished_at),
            duration_ms: (record.finished_at - record.started_at).num_milliseconds(),
            outcome: record.outcome.as_str(),
            status_code: record.status_code,
            detail: record.detail.clone(),
            logs: Json(record.logs.clone()),
            handler_version: record.handler_version.clone(),
            http_exchanges: record.http_exchanges.clone().map(Json),
        }
    }
}

/// Matches the `action_log` row of event `id` only while `owner` holds it in `processing`:
/// the guard on every write a delivering node makes, so a node that lost its lease matches
/// nothing.
#[diesel::dsl::auto_type(no_type_alias)]
pub(super) fn held_by<'a>(id: Id, owner: &'a str) -> _ {
    let processing: &'static str = PROCESSING;
    action_log::id
        .eq(id)
        .and(action_log::status.eq(processing))
        .and(action_log::locked_by.eq(owner))
}

const PROCESSING: &str = EventState::Processing.as_str();

impl Store {
    /// The events of `rows`, their request documents read in one query.
    pub(super) async fn records(&self, rows: Vec<StoredEvent>) -> Result<Vec<EventRecord>> {
        let mut shas: Vec<String> = rows
            .iter()
            .filter(|row| row.request_query.is_none())
            .filter_map(|row| row.request_document.clone())
            .collect();
        shas.sort_unstable();
        shas.dedup();
        let texts = documents::load(self, shas).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let document = row.request_document.clone();
                let mut record = EventRecord::from(row);
                if record.request_query.is_none() {
                    record.request_query = document.and_then(|sha| texts.get(&sha).cloned());
                }
                record
            })
            .collect())
    }

    /// Reads one event.
    pub async fn event(&self, id: Uuid) -> Result<Option<EventRecord>> {
        let row: Option<StoredEvent> = on_connection!(self, |conn| {
            action_log::table
                .find(Id(id))
                .select(StoredEvent::as_select())
                .first(conn)
                .await
                .optional()?
        });
        Ok(self.records(row.into_iter().collect()).await?.pop())
    }

    /// Reads the attempts of one event, oldest first.
    pub async fn attempts(&self, id: Uuid) -> Result<Vec<AttemptRecord>> {
        Ok(self
            .attempts_of(&[id])
            .await?
            .remove(&id)
            .unwrap_or_default())
    }

    /// The component version `event`'s next attempt must run: the one a redelivery asked it to
    /// keep, else the one its first attempt since the last requeue ran; `None` for the active
    /// version (nothing ran it yet).
    pub async fn held_version(&self, event: &EventRecord) -> Result<Option<String>> {
        if event.handler_version.is_some() {
            return Ok(event.handler_version.clone());
        }
        if event.attempts <= event.retry_base {
            return Ok(None);
        }
        self.ran_version(event.id, event.retry_base, false).await
    }

    /// The component version of `id`'s first attempt after attempt `after` that ran one (its
    /// last, if `last`); `None` if none did.
    pub(super) async fn ran_version(
        &self,
        id: Uuid,
        after: i32,
        last: bool,
    ) -> Result<Option<String>> {
        let id = Id(id);
        Ok(on_connection!(self, |conn| {
            let query = action_attempt::table
                .filter(action_attempt::event_id.eq(id))
                .filter(action_attempt::attempt.gt(after))
                .filter(action_attempt::handler_version.is_not_null())
                .select(action_attempt::handler_version)
                .into_boxed();
            let query = if last {
                query.order(action_attempt::attempt.desc())
            } else {
                query.order(action_attempt::attempt.asc())
            };
            query.first::<Option<String>>(conn).await.optional()?
        })
        .flatten())
    }

    /// Reads the attempts of several events at once (one query, not one per event), oldest
    /// first within each event; events without attempts are absent from the map.
    pub async fn attempts_of(
        &self,
        ids: &[Uuid],
    ) -> Result<std::collections::HashMap<Uuid, Vec<AttemptRecord>>> {
        let mut by_event: std::collections::HashMap<Uuid, Vec<AttemptRecord>> =
            std::collections::HashMap::with_capacity(ids.len());
        if ids.is_empty() {
            return Ok(by_event);
        }
        let keys: Vec<Id> = ids.iter().copied().map(Id).collect();
        let rows: Vec<StoredAttempt> = on_connection!(self, |conn| {
            action_attempt::table
                .filter(action_attempt::event_id.eq_any(&keys))
                .order((action_attempt::event_id, action_attempt::attempt.asc()))
                .select(StoredAttempt::as_select())
                .load(conn)
                .await?
        });
        for attempt in rows.into_iter().map(AttemptRecord::from) {
            by_event.entry(attempt.event_id).or_default().push(attempt);
        }
        Ok(by_event)
    }

    /// The most recent events of an action, newest first.
    pub async fn events_of_action(&self, action: &str, limit: i64) -> Result<Vec<EventRecord>> {
        let filter = super::maintenance::EventFilter {
            action: Some(action.to_owned()),
            ..Default::default()
        };
        self.list_events(&filter, limit).await
    }
}
