//! Operator actions on stored events: list them (dead ones with their attempts), requeue one,
//! and delete finished ones by action or age (by hand, or by the retention task).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::events::{EventRecord, EventStatus, StoredEvent};
use super::schema::action_log;
use super::sql_types::{Id, Time};
use super::{Result, Store, on_connection};

/// Which events to list or delete.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub action: Option<String>,
    pub status: Option<EventStatus>,
    /// Only events created before this instant.
    pub created_before: Option<DateTime<Utc>>,
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

const FINISHED: [&str; 2] = ["completed", "error"];

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
            query
                .order(action_log::created_at.desc())
                .limit(limit)
                .load(conn)
                .await?
        });
        Ok(rows.into_iter().map(EventRecord::from).collect())
    }

    /// Puts a finished asynchronous event back in the queue, with a fresh retry budget.
    pub async fn requeue(&self, id: Uuid) -> Result<Requeued> {
        let Some(event) = self.event(id).await? else {
            return Ok(Requeued::NotFound);
        };
        if event.kind != "asynchronous" {
            return Ok(Requeued::Synchronous);
        }
        let updated = on_connection!(self, |conn| {
            diesel::update(action_log::table)
                .filter(action_log::id.eq(Id(id)))
                .filter(action_log::status.eq_any(FINISHED))
                .set((
                    action_log::status.eq(EventStatus::Created.as_str()),
                    action_log::next_attempt_at.eq(Time::now()),
                    action_log::retry_base.eq(action_log::attempts),
                    action_log::response_payload.eq(None::<super::sql_types::Json>),
                    action_log::errors.eq(None::<super::sql_types::Json>),
                    action_log::response_received_at.eq(None::<Time>),
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

    /// Deletes finished (completed or error) events matching `filter`, with their attempts.
    pub async fn delete_finished(&self, filter: &EventFilter) -> Result<usize> {
        Ok(on_connection!(self, |conn| {
            let mut query = diesel::delete(action_log::table)
                .filter(action_log::status.eq_any(FINISHED))
                .into_boxed();
            if let Some(action) = &filter.action {
                query = query.filter(action_log::action_name.eq(action.clone()));
            }
            if let Some(before) = filter.created_before {
                query = query.filter(action_log::created_at.lt(Time::from(before)));
            }
            query.execute(conn).await?
        }))
    }
}
