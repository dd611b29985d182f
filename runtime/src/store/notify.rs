//! Wake-ups between replicas: a new asynchronous event (workers should claim) and a finished
//! one (subscriptions should answer). PostgreSQL carries them with `NOTIFY`/`LISTEN`, so every
//! replica hears every other; SQLite has one server, which wakes itself in-process.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{Notify, broadcast};
use uuid::Uuid;

use diesel_async::AsyncPgConnection;

use super::{Backend, Result, Store};

pub(super) const EVENTS_CHANNEL: &str = "hookwing_events";
pub(super) const RESULTS_CHANNEL: &str = "hookwing_results";
const METADATA_CHANNEL: &str = "hookwing_metadata";

/// In-process fan-out of store notifications, fed by this process and (on PostgreSQL) by others.
#[derive(Debug)]
pub struct Signals {
    /// Woken when asynchronous events may be waiting. `notify_one` keeps a permit when the
    /// worker is busy claiming, so a wake-up between its query and its wait is not lost.
    pub new_events: Notify,
    /// Ids of events that reached a terminal state.
    pub results: broadcast::Sender<Uuid>,
    /// Woken when another replica changed the metadata or the uploaded handlers.
    pub metadata: Notify,
}

impl Default for Signals {
    fn default() -> Self {
        Self {
            new_events: Notify::new(),
            results: broadcast::channel(1024).0,
            metadata: Notify::new(),
        }
    }
}

/// Sends `notifications` in a transaction of their own that does not wait for the disk:
/// PostgreSQL serialises the commits of all transactions that NOTIFY, holding a global lock
/// while each one's commit is flushed, so a NOTIFY inside a data transaction would cap the
/// whole database at one commit per flush. A wake-up needs no durability.
pub(super) async fn send(
    conn: &mut AsyncPgConnection,
    notifications: &[(&str, String)],
) -> Result<()> {
    use diesel_async::{AsyncConnection, RunQueryDsl};
    if notifications.is_empty() {
        return Ok(());
    }
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        diesel::sql_query("SET LOCAL synchronous_commit = off")
            .execute(&mut *conn)
            .await?;
        for (channel, payload) in notifications {
            diesel::sql_query("SELECT pg_notify($1, $2)")
                .bind::<diesel::sql_types::Text, _>(*channel)
                .bind::<diesel::sql_types::Text, _>(payload)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    })
    .await?;
    Ok(())
}

impl Store {
    /// Tells every replica an asynchronous event was inserted.
    pub async fn announce_new_event(&self) -> Result<()> {
        self.signals.new_events.notify_one();
        self.notify(EVENTS_CHANNEL, "").await
    }

    /// Tells every replica event `id` is finished.
    pub async fn announce_result(&self, id: Uuid) -> Result<()> {
        // A send error only means nobody in this process is subscribed.
        let _ = self.signals.results.send(id);
        self.notify(RESULTS_CHANNEL, &id.to_string()).await
    }

    /// Tells the other replicas the metadata or the handlers changed.
    pub async fn announce_metadata_change(&self) -> Result<()> {
        self.notify(METADATA_CHANNEL, "").await
    }

    async fn notify(&self, channel: &str, payload: &str) -> Result<()> {
        if let Backend::Postgres(backend) = &self.backend {
            let mut conn = backend.connection().await?;
            send(&mut conn, &[(channel, payload.to_owned())]).await?;
        }
        Ok(())
    }

    /// The notifications, shared: for tasks that must not keep anything else alive.
    pub fn signals_handle(&self) -> std::sync::Arc<Signals> {
        std::sync::Arc::clone(&self.signals)
    }

    /// This process's view of the notifications.
    pub fn signals(&self) -> &Signals {
        &self.signals
    }

    /// On PostgreSQL, relays other replicas' notifications into [`Signals`] until the store
    /// is dropped, reconnecting after database restarts. A no-op on SQLite.
    pub fn spawn_listener(&self) {
        let Backend::Postgres(backend) = &self.backend else {
            return;
        };
        let backend = backend.clone();
        let signals = std::sync::Arc::downgrade(&self.signals);
        tokio::spawn(async move {
            loop {
                match backend
                    .listener(&[EVENTS_CHANNEL, RESULTS_CHANNEL, METADATA_CHANNEL])
                    .await
                {
                    Ok(mut conn) => {
                        // Anything sent while we were away: look for work at once.
                        match signals.upgrade() {
                            Some(signals) => signals.new_events.notify_one(),
                            None => return,
                        }
                        let mut stream = std::pin::pin!(conn.notifications_stream());
                        while let Some(notification) = stream.next().await {
                            let Some(signals) = signals.upgrade() else {
                                return;
                            };
                            match notification {
                                Ok(n) if n.channel == RESULTS_CHANNEL => {
                                    // Results are announced a commit at a time: many ids.
                                    for id in n.payload.split(',').filter_map(|id| id.parse().ok())
                                    {
                                        let _ = signals.results.send(id);
                                    }
                                }
                                Ok(n) if n.channel == METADATA_CHANNEL => {
                                    signals.metadata.notify_one();
                                }
                                Ok(_) => signals.new_events.notify_one(),
                                Err(error) => {
                                    tracing::warn!(%error, "lost the notification connection");
                                    break;
                                }
                            }
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot listen for notifications; retrying")
                    }
                }
                if signals.strong_count() == 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
}
