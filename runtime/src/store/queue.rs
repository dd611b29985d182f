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

/// One action's asynchronous queue, for the queue metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionQueue {
    pub action: String,
    /// Events waiting (`created`), due or backing off.
    pub waiting: i64,
    /// Events being delivered (`processing`).
    pub delivering: i64,
    /// How long the oldest due waiting event has been due; zero when none is.
    pub oldest_due_age: std::time::Duration,
}

impl Store {
    /// Each action's asynchronous queue: two grouped reads of the queue's own rows (the
    /// partial indexes on waiting and leased events), not of the whole log.
    pub async fn queue_by_action(&self) -> Result<Vec<ActionQueue>> {
        use diesel::dsl::{count_star, min};
        let now = Time::now();
        let depths: Vec<(String, String, i64)> = on_connection!(self, |conn| {
            action_log::table
                .filter(action_log::kind.eq(ASYNC))
                .filter(action_log::status.eq_any([
                    EventState::Created.as_str(),
                    EventState::Processing.as_str(),
                ]))
                .group_by((action_log::action_name, action_log::status))
                .select((action_log::action_name, action_log::status, count_star()))
                .load(conn)
                .await?
        });
        let oldest: Vec<(String, Option<Time>)> = on_connection!(self, |conn| {
            action_log::table
                .filter(action_log::kind.eq(ASYNC))
                .filter(action_log::status.eq(EventState::Created.as_str()))
                .filter(action_log::next_attempt_at.le(now))
                .group_by(action_log::action_name)
                .select((action_log::action_name, min(action_log::next_attempt_at)))
                .load(conn)
                .await?
        });
        let mut queues: std::collections::BTreeMap<String, ActionQueue> =
            std::collections::BTreeMap::new();
        let entry = |queues: &mut std::collections::BTreeMap<String, ActionQueue>, name: &str| {
            queues
                .entry(name.to_owned())
                .or_insert_with(|| ActionQueue {
                    action: name.to_owned(),
                    waiting: 0,
                    delivering: 0,
                    oldest_due_age: std::time::Duration::ZERO,
                })
                .clone()
        };
        for (action, status, count) in depths {
            let mut queue = entry(&mut queues, &action);
            if status == EventState::Created.as_str() {
                queue.waiting = count;
            } else {
                queue.delivering = count;
            }
            queues.insert(action, queue);
        }
        for (action, due) in oldest {
            let mut queue = entry(&mut queues, &action);
            if let Some(due) = due {
                queue.oldest_due_age = (Utc::now() - due.0).to_std().unwrap_or_default();
            }
            queues.insert(action, queue);
        }
        Ok(queues.into_values().collect())
    }
}
