//! What operators select events by, and the listing they read. Requeueing and deleting are
//! transitions, in [`super::lifecycle`].

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::events::{EventRecord, StoredEvent};
use super::lifecycle::EventState;
use super::schema::action_log;
use super::sql_types::Time;
use super::{Backend, Result, Store};

/// Which events to list or delete.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub action: Option<String>,
    pub status: Option<EventState>,
    /// Only events created before this instant.
    pub created_before: Option<DateTime<Utc>>,
    /// Only events created at or after this instant.
    pub created_after: Option<DateTime<Utc>>,
}

impl Store {
    /// Events matching `filter`, newest first.
    ///
    /// Each state is read on its own, newest first from the index led by it
    /// (`action_log_by_status`, or `action_log_by_action_status` with an action), and without
    /// a state the four lists, read in one snapshot, are merged. Two indexes serve every mix
    /// of filters this way, each read in order up to the page's end. Indexes led by the action
    /// or by the time alone would serve the listings without a state in one read, but each
    /// change of an event's state costs every index of the table an entry (on PostgreSQL no
    /// such update is HOT), and those two cost asynchronous delivery 12–17% of its rate
    /// (docs/BENCHMARKS.md).
    pub async fn list_events(&self, filter: &EventFilter, limit: i64) -> Result<Vec<EventRecord>> {
        let states = match filter.status {
            Some(state) => vec![state],
            None => EventState::ALL.to_vec(),
        };
        // The newest events of each state, read in `$conn`'s transaction.
        macro_rules! newest_of_each {
            ($conn:ident) => {{
                let mut rows = Vec::new();
                for state in &states {
                    let mut query = action_log::table
                        .select(StoredEvent::as_select())
                        .filter(action_log::status.eq(state.as_str()))
                        .into_boxed();
                    if let Some(action) = &filter.action {
                        query = query.filter(action_log::action_name.eq(action.clone()));
                    }
                    if let Some(before) = filter.created_before {
                        query = query.filter(action_log::created_at.lt(Time::from(before)));
                    }
                    if let Some(after) = filter.created_after {
                        query = query.filter(action_log::created_at.ge(Time::from(after)));
                    }
                    let newest: Vec<StoredEvent> = query
                        .order(action_log::created_at.desc())
                        .limit(limit)
                        .load($conn)
                        .await?;
                    rows.extend(newest);
                }
                Ok::<_, diesel::result::Error>(rows)
            }};
        }
        // One snapshot for all the states: read one after the other, an event that changed
        // state in between (claimed, finished, requeued) would be listed twice, or not at all.
        let mut rows: Vec<StoredEvent> = match &self.backend {
            Backend::Postgres(backend) => {
                let mut conn = backend.connection().await?;
                conn.build_transaction()
                    .read_only()
                    .repeatable_read()
                    .run(async |conn| newest_of_each!(conn))
                    .await?
            }
            Backend::Sqlite(backend) => {
                use diesel_async::AsyncConnection;
                // In WAL mode a transaction reads one snapshot, from its first read on.
                let mut conn = backend.connection().await?;
                conn.transaction(async |conn| newest_of_each!(conn)).await?
            }
        };
        // Stable: events created at the same instant keep the order of their states.
        rows.sort_by_key(|row| std::cmp::Reverse(row.created_at()));
        rows.truncate(usize::try_from(limit).unwrap_or(0));
        self.records(rows).await
    }
}
