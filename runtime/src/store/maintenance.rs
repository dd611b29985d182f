//! What operators select events by, and the listing they read. Requeueing and deleting are
//! transitions, in [`super::lifecycle`].

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::events::{EventRecord, StoredEvent};
use super::lifecycle::EventState;
use super::schema::action_log;
use super::sql_types::Time;
use super::{Result, Store, on_connection};

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
    pub async fn list_events(&self, filter: &EventFilter, limit: i64) -> Result<Vec<EventRecord>> {
        let rows: Vec<StoredEvent> = on_connection!(self, |conn| {
            let mut query = action_log::table
                .select(StoredEvent::as_select())
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
            query
                .order(action_log::created_at.desc())
                .limit(limit)
                .load(conn)
                .await?
        });
        self.records(rows).await
    }
}
