//! The life of an event, owned here: its kind, its states, how an attempt ends, and every
//! transition between states — each one guarded write, named after what it does, used alike by
//! synchronous dispatch, the asynchronous worker, the operators' API and retention.
//!
//! ```text
//!              ┌──────────── reschedule / interrupt (async) ─────────────┐
//!              ▼                                                          │
//!  accept ─▶ created ──claim (async)──▶ processing ──record: finish──▶ completed | error
//!  (async)                               ▲  │  ▲                              │      ▲
//!  begin (sync) ─────────────────────────┘  │  └── record: retry (sync)       │      │
//!                                           └──── abandon (sync, lease ran out) ─────┘
//!  completed | error ──requeue (async)──▶ created        completed | error ──purge──▶ gone
//!  completed | error ──take for a recorded replay──▶ processing (then record: finish)
//! ```
//!
//! No state is without an exit: `created` is claimed; `processing` ends in a recorded attempt,
//! or — when its node vanished — is reclaimed when the lease runs out (asynchronous) or
//! abandoned (synchronous: the caller is gone, so it is finished as `error`, code
//! `abandoned`); the terminal states are purged by age or by an operator.
//!
//! Every write names the state it expects and, while an event is `processing`, the lease
//! owner it expects, so a node that lost its lease can never overwrite a newer result: the
//! guarded update matches no row, and the caller learns so from the `bool` it gets back.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::commit::{Then, Write};
use super::documents::DocumentRow;
use super::events::{
    AttemptRecord, AttemptRow, EventRecord, EventRow, Finished, NewEvent, Released, Rescheduled,
    StoredEvent, held_by,
};
use super::maintenance::EventFilter;
use super::prepared::update;
use super::schema::action_log;
use super::sql_types::{Id, Time, TimeType, UuidType};
use super::{Backend, Result, Store, on_connection};

/// Synchronous actions answer in the GraphQL response; asynchronous ones return an id and are
/// delivered by the worker. The names are those of Hasura's metadata and `action_log.kind`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    #[default]
    Synchronous,
    Asynchronous,
}

impl ActionKind {
    /// The name used in metadata and in `action_log.kind`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Synchronous => "synchronous",
            Self::Asynchronous => "asynchronous",
        }
    }

    pub(super) fn parse(text: &str) -> Option<Self> {
        [Self::Synchronous, Self::Asynchronous]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// Where an event is in its life. Names and meanings are Hasura's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventState {
    /// Accepted, waiting for a worker (asynchronous actions).
    Created,
    /// Leased to a node that is delivering it.
    Processing,
    /// The handler produced an output.
    Completed,
    /// Terminal failure: rejected, invalid output, or retries exhausted.
    Error,
}

impl EventState {
    /// Every state, in the order of an event's life.
    pub const ALL: [Self; 4] = [
        Self::Created,
        Self::Processing,
        Self::Completed,
        Self::Error,
    ];

    /// Completed or error: nothing will happen to it unless it is redelivered.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Error)
    }

    /// The value stored in `action_log.status`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Error => "error",
        }
    }

    pub(super) fn parse(text: &str) -> Option<Self> {
        [
            Self::Created,
            Self::Processing,
            Self::Completed,
            Self::Error,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

/// How one delivery attempt ended, as stored in `action_attempt.outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The handler returned an output that matched the action's output type.
    Success,
    /// The handler said no (webhook 4xx, guest error); never retried.
    Rejected,
    /// Transport failure, timeout, 5xx/429, unreadable reply; retryable.
    Failed,
    /// The handler answered, but not with the declared output type; never retried.
    InvalidOutput,
    /// Cut short by this node's shutdown; does not count against the retry budget.
    Interrupted,
    /// The node delivering it was lost (its lease ran out mid-call); written by whichever
    /// replica noticed.
    Abandoned,
}

impl AttemptOutcome {
    /// The value stored in `action_attempt.outcome`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::InvalidOutput => "invalid_output",
            Self::Interrupted => "interrupted",
            Self::Abandoned => "abandoned",
        }
    }

    pub(super) fn parse(text: &str) -> Option<Self> {
        [
            Self::Success,
            Self::Rejected,
            Self::Failed,
            Self::InvalidOutput,
            Self::Interrupted,
            Self::Abandoned,
        ]
        .into_iter()
        .find(|outcome| outcome.as_str() == text)
    }
}

/// The terminal state an event is finished in.
#[derive(Debug, Clone)]
pub struct Finish {
    /// `Completed` or `Error`.
    pub state: EventState,
    pub response_payload: Option<Value>,
    pub errors: Option<Value>,
    /// Whether subscribers on every replica are told. A synchronous call's caller gets the
    /// result in its reply, and nobody can subscribe to a synchronous event, so no replica is.
    pub announce: bool,
}

/// What a recorded attempt does to its `processing` event.
#[derive(Debug, Clone)]
pub enum Transition {
    /// Stays `processing` with the same node, which tries again (synchronous retries within
    /// the action's timeout).
    Retry,
    /// To `completed` or `error`; the lease is released.
    Finish(Finish),
    /// Back to `created`, due at the given time (asynchronous retries).
    Reschedule(DateTime<Utc>),
    /// Back to `created`, due now, the attempt not counted against the retry budget: this
    /// node's shutdown cut it short. `retry_base` is the event's, as claimed.
    Interrupt { retry_base: i32 },
}

/// What a redelivery request found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeued {
    Yes,
    NotFound,
    /// Synchronous events are not redelivered: their caller is gone.
    Synchronous,
    /// Still waiting or being delivered.
    NotFinished,
}

/// Which component version a redelivered event's attempts run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Version {
    /// The version that last ran it: a redelivery repeats what happened.
    #[default]
    Same,
    /// Whatever version is active when it is delivered: a fix uploaded since gets to run it.
    Current,
}

/// The outcome of [`Store::delete_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Yes,
    NotFound,
    /// Still waiting or being delivered.
    NotFinished,
}

const ASYNC: &str = ActionKind::Asynchronous.as_str();

/// An event id a claim picked, read by the query builder (PostgreSQL) or from SQL text
/// (SQLite, [`SQLITE_DUE`]).
#[derive(Queryable, QueryableByName)]
struct Claimable {
    #[diesel(sql_type = UuidType)]
    id: Id,
}

/// SQLite's claims of due events and of expired leases, each pinned to its partial index.
/// Without statistics SQLite's planner takes `status = …` to be selective, and picked the
/// listing index `(status, created_at)` instead, then sorted every waiting event to return the
/// oldest few: each claim cost time in proportion to the queue (30,000 waiting events
/// delivered at a third of the speed). `INDEXED BY` makes the plan part of the statement: if
/// the index could not serve it, preparing the statement fails instead of quietly scanning.
/// The states are literals so that the partial indexes' conditions visibly hold.
static SQLITE_DUE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    sqlite_oldest_sql(
        "action_log_due",
        EventState::Created,
        "next_attempt_at",
        "<=",
    )
});
static SQLITE_EXPIRED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    sqlite_oldest_sql(
        "action_log_leased",
        EventState::Processing,
        "lease_expires_at",
        "<",
    )
});

/// The ids of asynchronous events in `status` whose `time` has come (`reached` it: `<=` or
/// `<` the first parameter), oldest first, at most the second parameter, read from `index`.
fn sqlite_oldest_sql(index: &str, status: EventState, time: &str, reached: &str) -> String {
    format!(
        "SELECT id FROM action_log INDEXED BY {index} \
         WHERE status = '{status}' AND {time} {reached} ? AND kind = '{ASYNC}' \
         ORDER BY {time} LIMIT ?",
        status = status.as_str(),
    )
}

/// One of the SQLite claim statements, bound to the claim's time and batch size.
fn sqlite_oldest(
    sql: &str,
    now: Time,
    limit: i64,
) -> impl diesel::query_dsl::LoadQuery<'static, diesel::SqliteConnection, Claimable> {
    diesel::sql_query(sql.to_owned())
        .bind::<TimeType, _>(now)
        .bind::<diesel::sql_types::BigInt, _>(limit)
}

const FINISHED: [&str; 2] = [EventState::Completed.as_str(), EventState::Error.as_str()];

fn lease_end(lease: Duration) -> Time {
    Time::from(Utc::now() + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX))
}

/// The error a synchronous event is finished with when its node was lost mid-call.
fn abandoned_error() -> Value {
    json!([{
        "message": "the node running this action was lost before the handler answered",
        "extensions": {"code": "abandoned"},
    }])
}

impl Store {
    /// Persists a new event; an asynchronous one wakes the workers of every replica. Nothing
    /// is delivered before this returns.
    pub async fn insert_event(&self, event: &NewEvent) -> Result<()> {
        let announce = event.status == EventState::Created;
        let row = EventRow::new(event);
        self.committer
            .commit(Write::Insert {
                row,
                document: event.request_query.as_ref().map(DocumentRow::new),
                announce,
                // An asynchronous event's id is the reply: it must be on disk first.
                durable: announce,
            })
            .await?;
        if announce {
            self.signals.new_events.notify_one();
        }
        Ok(())
    }

    /// Records one attempt, counts it on the event and moves the event on as `then` says —
    /// all in one commit, and only if `owner` still holds the event. Returns `false` when the
    /// lease was lost (nothing is written then).
    pub async fn record_attempt(
        &self,
        owner: &str,
        record: &AttemptRecord,
        then: Transition,
    ) -> Result<bool> {
        let announce = matches!(&then, Transition::Finish(finish) if finish.announce);
        let then = match then {
            Transition::Retry => Then::Held,
            Transition::Finish(finish) => Then::Finished {
                columns: Finished::new(&finish),
                announce,
            },
            Transition::Reschedule(at) => Then::Rescheduled(Rescheduled::at(Time::from(at))),
            Transition::Interrupt { retry_base } => {
                Then::Released(Released::now(retry_base.saturating_add(1)))
            }
        };
        let held = self
            .committer
            .commit(Write::Attempt {
                owner: owner.to_owned(),
                row: AttemptRow::new(record),
                then,
            })
            .await?;
        if held && announce {
            // A send error only means nobody in this process is subscribed.
            let _ = self.signals.results.send(record.event_id);
        }
        Ok(held)
    }

    /// Moves a `processing` event held by `owner` to its terminal state without an attempt
    /// (its action no longer exists) and releases the lease. Returns `false` when the lease
    /// was lost.
    pub async fn finish_event(&self, id: Uuid, owner: &str, finish: &Finish) -> Result<bool> {
        let columns = Finished::new(finish);
        let updated = on_connection!(self, |conn| {
            update(action_log::table, &columns, held_by(Id(id), owner))
                .execute(conn)
                .await?
        });
        Ok(updated == 1)
    }

    /// Claims up to `limit` due asynchronous events for `owner`: those waiting whose time has
    /// come, and those whose previous owner's lease ran out (it crashed or stalled).
    pub async fn claim_due(
        &self,
        owner: &str,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<EventRecord>> {
        let now = Time::now();
        let until = lease_end(lease);
        // Two queries, each walking its own partial index in order and stopping at `limit`:
        // waiting events that are due, oldest first, then events whose lease ran out.
        // The ids of asynchronous events in `$status` whose `$time` has come (`$reached`:
        // `le` or `lt`), oldest first.
        macro_rules! oldest {
            ($status:expr, $time:expr, $reached:ident) => {
                action_log::table
                    .filter(action_log::status.eq($status.as_str()))
                    .filter($time.$reached(now))
                    .filter(action_log::kind.eq(ASYNC))
                    .select((action_log::id,))
                    .order($time.asc())
                    .limit(limit)
            };
        }
        macro_rules! due {
            () => {
                oldest!(EventState::Created, action_log::next_attempt_at, le)
            };
        }
        macro_rules! expired {
            () => {
                oldest!(EventState::Processing, action_log::lease_expires_at, lt)
            };
        }
        // Pick the rows (locking them against other replicas on PostgreSQL), then take them,
        // in the transaction `$conn` is in; written once for both backends, through the
        // async (`diesel_async`, `[.await]`) or the blocking (`diesel`, `[]`) query traits.
        macro_rules! take {
            ($conn:ident, $owner:expr, $due:expr, $expired:expr,
             $($dsl:ident)::+, [$($wait:tt)*]) => {{
                let limit = usize::try_from(limit).unwrap_or(0);
                let mut ids: Vec<Claimable> = $($dsl)::+::load($due, $conn)$($wait)*?;
                if ids.len() < limit {
                    let more: Vec<Claimable> = $($dsl)::+::load($expired, $conn)$($wait)*?;
                    ids.extend(more);
                    ids.truncate(limit);
                }
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let ids = ids.into_iter().map(|claimable| claimable.id);
                let claimed = diesel::update(action_log::table.filter(action_log::id.eq_any(ids)))
                    .set((
                        action_log::status.eq(EventState::Processing.as_str()),
                        action_log::locked_by.eq($owner),
                        action_log::lease_expires_at.eq(until),
                    ))
                    .returning(StoredEvent::as_returning());
                $($dsl)::+::get_results(claimed, $conn)$($wait)*
            }};
        }
        let rows: Vec<StoredEvent> = match &self.backend {
            Backend::Postgres(backend) => {
                use diesel_async::AsyncConnection;
                let mut conn = backend.connection().await?;
                conn.transaction::<_, diesel::result::Error, _>(async |conn| {
                    // An ordered index scan stops after `limit` rows. Right after a burst of
                    // inserts, before autovacuum has analysed the table, the planner may
                    // instead pick a bitmap scan that visits every queued row (and every dead
                    // one the claims left behind) on each claim.
                    diesel::sql_query("SET LOCAL enable_bitmapscan = off")
                        .execute(&mut *conn)
                        .await?;
                    take!(
                        conn,
                        owner,
                        due!().for_update().skip_locked(),
                        expired!().for_update().skip_locked(),
                        diesel_async::RunQueryDsl,
                        [.await]
                    )
                })
                .await?
            }
            Backend::Sqlite(backend) => {
                let mut conn = backend.connection().await?;
                let owner = owner.to_owned();
                // IMMEDIATE: the write lock up front. A deferred transaction reads first, and
                // its write then fails at once ("database is locked", busy timeout or not)
                // whenever another write committed meanwhile, which the hot path's writer
                // does all the time; each such failure cost a claim and a back-off.
                conn.spawn_blocking(move |conn| {
                    conn.immediate_transaction(|conn| {
                        take!(
                            conn,
                            &owner,
                            sqlite_oldest(&SQLITE_DUE, now, limit),
                            sqlite_oldest(&SQLITE_EXPIRED, now, limit),
                            diesel::RunQueryDsl,
                            []
                        )
                    })
                })
                .await?
            }
        };
        self.records(rows).await
    }

    /// Extends `owner`'s lease on an event it is delivering; `false` if the lease was lost.
    pub async fn renew_lease(&self, id: Uuid, owner: &str, lease: Duration) -> Result<bool> {
        let until = lease_end(lease);
        let updated = on_connection!(self, |conn| {
            update(
                action_log::table,
                action_log::lease_expires_at.eq(until),
                held_by(Id(id), owner),
            )
            .execute(conn)
            .await?
        });
        Ok(updated == 1)
    }

    /// Hands every event `owner` holds back to the queue, due now: a graceful shutdown, so
    /// another replica (or the next start) need not wait for the leases to run out.
    pub async fn release_leases(&self, owner: &str) -> Result<usize> {
        let now = Time::now();
        Ok(on_connection!(self, |conn| {
            diesel::update(action_log::table)
                .filter(action_log::kind.eq(ASYNC))
                .filter(action_log::status.eq(EventState::Processing.as_str()))
                .filter(action_log::locked_by.eq(owner))
                .set(Rescheduled::at(now))
                .execute(conn)
                .await?
        }))
    }

    /// Puts a finished asynchronous event back in the queue, with a fresh retry budget. With
    /// [`Version::Same`] its attempts keep running the component version that last ran it;
    /// with [`Version::Current`] the next one runs the active version (and its retries keep
    /// that).
    pub async fn requeue(&self, id: Uuid, version: Version) -> Result<Requeued> {
        let Some(event) = self.event(id).await? else {
            return Ok(Requeued::NotFound);
        };
        if event.kind != ActionKind::Asynchronous {
            return Ok(Requeued::Synchronous);
        }
        let held = match version {
            Version::Current => None,
            Version::Same => self.ran_version(id, 0, true).await?,
        };
        let updated = on_connection!(self, |conn| {
            diesel::update(action_log::table)
                .filter(action_log::id.eq(Id(id)))
                .filter(action_log::status.eq_any(FINISHED))
                .set((
                    action_log::status.eq(EventState::Created.as_str()),
                    action_log::next_attempt_at.eq(Time::now()),
                    action_log::retry_base.eq(action_log::attempts),
                    action_log::response_payload.eq(None::<super::sql_types::Json>),
                    action_log::errors.eq(None::<super::sql_types::Json>),
                    action_log::response_received_at.eq(None::<Time>),
                    action_log::handler_version.eq(held.as_deref()),
                ))
                .execute(conn)
                .await?
        });
        Ok(if updated == 1 {
            Requeued::Yes
        } else {
            Requeued::NotFinished
        })
    }

    /// Holds a finished event for `owner` for a replay whose attempt is to be recorded: it is
    /// `processing` under a lease, like an event being delivered, so the attempt and the new
    /// result are stored by [`Self::record_attempt`] under the same guard. Returns `false`
    /// when the event is not finished (nothing is written then).
    pub async fn take_for_replay(&self, id: Uuid, owner: &str, lease: Duration) -> Result<bool> {
        let until = lease_end(lease);
        let updated = on_connection!(self, |conn| {
            diesel::update(action_log::table)
                .filter(action_log::id.eq(Id(id)))
                .filter(action_log::status.eq_any(FINISHED))
                .set((
                    action_log::status.eq(EventState::Processing.as_str()),
                    action_log::locked_by.eq(owner),
                    action_log::lease_expires_at.eq(until),
                ))
                .execute(conn)
                .await?
        });
        Ok(updated == 1)
    }

    /// Deletes finished (completed or error) events matching `filter`, with their attempts.
    pub async fn delete_finished(&self, filter: &EventFilter) -> Result<usize> {
        Ok(on_connection!(self, |conn| {
            let mut query = diesel::delete(action_log::table)
                .filter(action_log::status.eq_any(FINISHED))
                .into_boxed();
            if let Some(action) = &filter.action {
                query = query.filter(action_log::action_name.eq(action.clone()));
            }
            if let Some(status) = filter.status {
                query = query.filter(action_log::status.eq(status.as_str()));
            }
            if let Some(before) = filter.created_before {
                query = query.filter(action_log::created_at.lt(Time::from(before)));
            }
            if let Some(after) = filter.created_after {
                query = query.filter(action_log::created_at.ge(Time::from(after)));
            }
            query.execute(conn).await?
        }))
    }

    /// Deletes one finished event and its attempts; a waiting or running one is left alone.
    pub async fn delete_event(&self, id: Uuid) -> Result<Deleted> {
        let deleted = on_connection!(self, |conn| {
            diesel::delete(action_log::table)
                .filter(action_log::id.eq(Id(id)))
                .filter(action_log::status.eq_any(FINISHED))
                .execute(conn)
                .await?
        });
        if deleted == 1 {
            return Ok(Deleted::Yes);
        }
        Ok(match self.event(id).await? {
            Some(_) => Deleted::NotFinished,
            None => Deleted::NotFound,
        })
    }

    /// Deletes every event of an action (and, by cascade, its attempts).
    pub async fn delete_events_of_action(&self, action: &str) -> Result<usize> {
        let deleted = on_connection!(self, |conn| {
            diesel::delete(action_log::table.filter(action_log::action_name.eq(action)))
                .execute(conn)
                .await?
        });
        Ok(deleted)
    }

    /// Finishes every synchronous event whose lease ran out — its node died or was cut off
    /// mid-call, and its caller is gone — as `error` with code `abandoned`, recording an
    /// attempt that says so. Any replica may run this; the guard on state and lease makes
    /// each event finish once. Returns how many were finished.
    pub async fn abandon_expired(&self, limit: i64) -> Result<usize> {
        use diesel_async::AsyncConnection;
        let now = Time::now();
        macro_rules! abandon {
            ($conn:expr, $expired:expr) => {{
                $conn
                    .transaction::<_, diesel::result::Error, _>(async |conn| {
                        let expired: Vec<(Id, i32, Option<Time>)> = $expired.load(conn).await?;
                        for (id, attempts, lease_expired_at) in &expired {
                            let attempt = attempts.saturating_add(1);
                            let since = lease_expired_at
                                .as_ref()
                                .map_or_else(|| "an unknown time".to_owned(), |t| t.0.to_rfc3339());
                            let record = AttemptRecord {
                                event_id: id.0,
                                attempt,
                                started_at: now.0,
                                finished_at: now.0,
                                outcome: AttemptOutcome::Abandoned,
                                status_code: None,
                                detail: Some(format!(
                                    "the node delivering it was lost: its lease ran out at {since}"
                                )),
                                logs: json!([]),
                                handler_version: None,
                                http_exchanges: None,
                            };
                            diesel::insert_into(super::schema::action_attempt::table)
                                .values(AttemptRow::new(&record))
                                .execute(&mut *conn)
                                .await?;
                            let finish = Finish {
                                state: EventState::Error,
                                response_payload: None,
                                errors: Some(abandoned_error()),
                                announce: false,
                            };
                            diesel::update(action_log::table)
                                .filter(action_log::id.eq(*id))
                                .set((action_log::attempts.eq(attempt), Finished::new(&finish)))
                                .execute(&mut *conn)
                                .await?;
                        }
                        Ok(expired.len())
                    })
                    .await?
            }};
        }
        macro_rules! expired {
            () => {
                action_log::table
                    .filter(action_log::status.eq(EventState::Processing.as_str()))
                    .filter(action_log::lease_expires_at.lt(now))
                    .filter(action_log::kind.eq(ActionKind::Synchronous.as_str()))
                    .select((
                        action_log::id,
                        action_log::attempts,
                        action_log::lease_expires_at,
                    ))
                    .order(action_log::lease_expires_at.asc())
                    .limit(limit)
            };
        }
        Ok(match &self.backend {
            Backend::Postgres(backend) => {
                let mut conn = backend.connection().await?;
                abandon!(conn, expired!().for_update().skip_locked())
            }
            Backend::Sqlite(backend) => {
                let mut conn = backend.connection().await?;
                abandon!(conn, expired!())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;
    use diesel::sql_types::{BigInt, Text};
    use diesel_migrations::MigrationHarness;

    use super::{SQLITE_DUE, SQLITE_EXPIRED, Time, TimeType};

    #[derive(QueryableByName)]
    struct PlanStep {
        #[diesel(sql_type = Text)]
        detail: String,
    }

    /// The plan SQLite makes for `sql` on the migrated schema, one line per step.
    fn plan(conn: &mut SqliteConnection, sql: &str) -> Vec<String> {
        diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .bind::<TimeType, _>(Time::now())
            .bind::<BigInt, _>(64)
            .load::<PlanStep>(conn)
            .expect("the claim statement prepares on the migrated schema")
            .into_iter()
            .map(|step| step.detail)
            .collect()
    }

    #[test]
    fn sqlite_claims_read_their_partial_index_in_order_without_sorting_the_queue() {
        let mut conn = SqliteConnection::establish(":memory:").expect("in-memory SQLite");
        conn.run_pending_migrations(crate::store::sqlite::MIGRATIONS)
            .expect("migrations");
        for (sql, index) in [
            (&*SQLITE_DUE, "action_log_due"),
            (&*SQLITE_EXPIRED, "action_log_leased"),
        ] {
            let steps = plan(&mut conn, sql);
            assert!(
                steps.iter().any(|step| step.contains(index)),
                "{index} is read: {steps:?}"
            );
            assert!(
                !steps.iter().any(|step| step.contains("TEMP B-TREE")),
                "nothing is sorted: {steps:?}"
            );
        }
    }
}
