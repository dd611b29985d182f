//! The asynchronous delivery queue, in `action_log` itself: due events are claimed in batches
//! under a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas never claim the same row;
//! SQLite serialises writers), renewed while an attempt runs, and handed back on retry or
//! shutdown. Every transition is guarded by status and lease owner.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::events::{EventRecord, EventStatus, Rescheduled, StoredEvent, held_by};
use super::prepared::update;
use super::schema::action_log;
use super::sql_types::{Id, Time};
use super::{Backend, Result, Store, on_connection};

const ASYNC: &str = "asynchronous";

fn lease_end(lease: Duration) -> Time {
    Time::from(Utc::now() + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX))
}

impl Store {
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
                    .select(action_log::id)
                    .order($time.asc())
                    .limit(limit)
            };
        }
        macro_rules! due {
            () => {
                oldest!(EventStatus::Created, action_log::next_attempt_at, le)
            };
        }
        macro_rules! expired {
            () => {
                oldest!(EventStatus::Processing, action_log::lease_expires_at, lt)
            };
        }
        let claim = (
            action_log::status.eq(EventStatus::Processing.as_str()),
            action_log::locked_by.eq(owner),
            action_log::lease_expires_at.eq(until),
        );
        // Pick the rows (locking them against other replicas on PostgreSQL), then take them,
        // in one transaction.
        macro_rules! take {
            ($conn:expr, $due:expr, $expired:expr, $setup:expr) => {{
                use diesel_async::AsyncConnection;
                $conn
                    .transaction::<_, diesel::result::Error, _>(async |conn| {
                        if let Some(setup) = $setup {
                            diesel::sql_query(setup).execute(&mut *conn).await?;
                        }
                        let mut ids: Vec<Id> = $due.load(conn).await?;
                        if ids.len() < usize::try_from(limit).unwrap_or(0) {
                            let more: Vec<Id> = $expired.load(conn).await?;
                            ids.extend(more);
                            ids.truncate(usize::try_from(limit).unwrap_or(0));
                        }
                        if ids.is_empty() {
                            return Ok(Vec::new());
                        }
                        diesel::update(action_log::table.filter(action_log::id.eq_any(ids)))
                            .set(claim)
                            .returning(StoredEvent::as_returning())
                            .get_results(conn)
                            .await
                    })
                    .await?
            }};
        }
        let rows: Vec<StoredEvent> = match &self.backend {
            Backend::Postgres(backend) => {
                let mut conn = backend.connection().await?;
                // An ordered index scan stops after `limit` rows. Right after a burst of
                // inserts, before autovacuum has analysed the table, the planner may instead
                // pick a bitmap scan that visits every queued row (and every dead one the
                // claims left behind) on each claim.
                take!(
                    conn,
                    due!().for_update().skip_locked(),
                    expired!().for_update().skip_locked(),
                    Some("SET LOCAL enable_bitmapscan = off")
                )
            }
            Backend::Sqlite(backend) => {
                let mut conn = backend.connection().await?;
                take!(conn, due!(), expired!(), None::<&str>)
            }
        };
        Ok(rows.into_iter().map(EventRecord::from).collect())
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
                .filter(action_log::status.eq(EventStatus::Processing.as_str()))
                .filter(action_log::locked_by.eq(owner))
                .set(Rescheduled::at(now))
                .execute(conn)
                .await?
        }))
    }

    /// When the next waiting event falls due (or the next lease runs out), to sleep until then.
    pub async fn next_due_at(&self) -> Result<Option<DateTime<Utc>>> {
        let waiting: Option<Option<Time>> = on_connection!(self, |conn| {
            action_log::table
                .filter(action_log::kind.eq(ASYNC))
                .filter(action_log::status.eq(EventStatus::Created.as_str()))
                .select(action_log::next_attempt_at)
                .order(action_log::next_attempt_at.asc())
                .first(conn)
                .await
                .optional()?
        });
        let leased: Option<Option<Time>> = on_connection!(self, |conn| {
            action_log::table
                .filter(action_log::kind.eq(ASYNC))
                .filter(action_log::status.eq(EventStatus::Processing.as_str()))
                .select(action_log::lease_expires_at)
                .order(action_log::lease_expires_at.asc())
                .first(conn)
                .await
                .optional()?
        });
        Ok([waiting.flatten(), leased.flatten()]
            .into_iter()
            .flatten()
            .map(|t| t.0)
            .min())
    }
}

impl Store {
    /// Asynchronous events waiting and being delivered, for the queue-depth metric.
    pub async fn queue_depth(&self) -> Result<(i64, i64)> {
        let count = |status: EventStatus| async move {
            Ok::<i64, super::Error>(on_connection!(self, |conn| {
                action_log::table
                    .filter(action_log::kind.eq(ASYNC))
                    .filter(action_log::status.eq(status.as_str()))
                    .count()
                    .get_result(conn)
                    .await?
            }))
        };
        Ok((
            count(EventStatus::Created).await?,
            count(EventStatus::Processing).await?,
        ))
    }
}
