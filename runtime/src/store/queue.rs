//! Reads of the asynchronous delivery queue, which lives in `action_log` itself: when the
//! next event falls due, and how deep the queue is. Claiming, renewing and handing back are
//! transitions, in [`super::lifecycle`].

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::lifecycle::{ActionKind, EventState};
use super::schema::action_log;
use super::sql_types::Time;
use super::{Result, Store, on_connection};

const ASYNC: &str = ActionKind::Asynchronous.as_str();

impl Store {
    /// When the next waiting event falls due (or the next lease runs out), to sleep until then.
    pub async fn next_due_at(&self) -> Result<Option<DateTime<Utc>>> {
        let waiting: Option<Option<Time>> = on_connection!(self, |conn| {
            action_log::table
                .filter(action_log::kind.eq(ASYNC))
                .filter(action_log::status.eq(EventState::Created.as_str()))
                .select(action_log::next_attempt_at)
                .order(action_log::next_attempt_at.asc())
                .first(conn)
                .await
                .optional()?
        });
        let leased: Option<Option<Time>> = on_connection!(self, |conn| {
            action_log::table
                .filter(action_log::kind.eq(ASYNC))
                .filter(action_log::status.eq(EventState::Processing.as_str()))
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
        let count = |status: EventState| async move {
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
            count(EventState::Created).await?,
            count(EventState::Processing).await?,
        ))
    }
}
