//! The asynchronous delivery engine: claim due events in batches under a lease, deliver each
//! with the same single-attempt step synchronous calls use, then finish, or reschedule under
//! the action's retry policy. Leases are renewed while an attempt runs; a node that dies
//! simply stops renewing, and another claims the event once the lease runs out
//! (at-least-once). A graceful stop hands every held event back at once.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::{DispatchError, Dispatcher, Invocation, Verdict};
use crate::auth::{ClientHeaders, Session};
use crate::handler::EventInfo;
use crate::handler::wasm::StateWrites;
use crate::metadata::Catalog;
use crate::store::{
    ActionKind, AttemptRecord, EventRecord, EventState, Finish, RequestDocument, Store, Transition,
};

/// Engine sizing and timing.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Deliveries running at once on this node.
    pub concurrency: usize,
    /// Most events claimed per query.
    pub batch_size: usize,
    /// How long a claim lasts without renewal; renewed every third of it.
    pub lease: Duration,
    /// Look for due events at least this often, even without a notification.
    pub poll_interval: Duration,
    /// On stop, how long running deliveries may finish before they are abandoned.
    pub shutdown_grace: Duration,
    /// Finished events older than this are deleted; `None` keeps them.
    pub retention: Option<Duration>,
}

impl From<&crate::config::DeliveryConfig> for WorkerSettings {
    fn from(delivery: &crate::config::DeliveryConfig) -> Self {
        Self {
            concurrency: delivery.concurrency,
            batch_size: delivery.batch_size,
            lease: delivery.lease(),
            poll_interval: delivery.poll_interval(),
            shutdown_grace: delivery.shutdown_grace(),
            retention: delivery.retention(),
        }
    }
}

/// The current catalog; the worker reads it per event, so metadata changes apply at once.
pub type CatalogSource = Arc<dyn Fn() -> Arc<Catalog> + Send + Sync>;

/// A running engine.
pub struct Worker {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    maintenance: tokio::task::JoinHandle<()>,
}

impl Worker {
    /// Starts the engine on the current tokio runtime.
    pub fn spawn(dispatcher: Dispatcher, catalog: CatalogSource, settings: WorkerSettings) -> Self {
        let (stop, stopped) = watch::channel(false);
        let maintenance = tokio::spawn(maintain(
            dispatcher.store().clone(),
            settings.clone(),
            stopped.clone(),
        ));
        let task = tokio::spawn(run(dispatcher, catalog, settings, stopped));
        Self {
            stop,
            task,
            maintenance,
        }
    }

    /// Stops claiming, lets running deliveries finish within the grace period, and hands
    /// every event still held back to the queue.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let _ = self.maintenance.await;
    }
}

/// How long interrupted attempts get to record themselves at shutdown.
pub const INTERRUPT_SETTLE: Duration = Duration::from_secs(5);

/// Most abandoned synchronous events finished per pass.
const ABANDON_BATCH: i64 = 500;

/// The lifecycle's housekeeping, on every delivering replica: finishes synchronous events
/// whose node was lost and deletes handlers' expired key-value state (every half lease,
/// between 1 and 30 s), and deletes finished events older than the retention period (every
/// tenth of it, between 1 s and 10 min).
async fn maintain(store: Store, settings: WorkerSettings, mut stopped: watch::Receiver<bool>) {
    let rescue_every = (settings.lease / 2).clamp(Duration::from_secs(1), Duration::from_secs(30));
    let purge_every = settings
        .retention
        .map(|keep| (keep / 10).clamp(Duration::from_secs(1), Duration::from_secs(600)));
    let mut next_purge = purge_every.map(|every| tokio::time::Instant::now() + every);
    let mut last_prune = None;
    while !*stopped.borrow() {
        let wake = match next_purge {
            Some(at) => at.min(tokio::time::Instant::now() + rescue_every),
            None => tokio::time::Instant::now() + rescue_every,
        };
        tokio::select! {
            () = tokio::time::sleep_until(wake) => {}
            _ = stopped.changed() => return,
        }
        loop {
            match store.abandon_expired(ABANDON_BATCH).await {
                Ok(0) => break,
                Ok(abandoned) => {
                    tracing::warn!(abandoned, "finished synchronous events whose node was lost");
                    if abandoned < usize::try_from(ABANDON_BATCH).unwrap_or(usize::MAX) {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot finish abandoned synchronous events");
                    break;
                }
            }
        }
        match store.purge_expired_state().await {
            Ok(0) => {}
            Ok(purged) => tracing::debug!(purged, "deleted expired handler state"),
            Err(error) => tracing::warn!(%error, "cannot delete expired handler state"),
        }
        if let (Some(keep), Some(at), Some(every)) = (settings.retention, next_purge, purge_every)
            && tokio::time::Instant::now() >= at
        {
            purge(&store, keep, &mut last_prune).await;
            next_purge = Some(tokio::time::Instant::now() + every);
        }
    }
}

/// How often retention deletes the request documents no event names any more: each pass
/// reads every event (and, on PostgreSQL, holds back new ones meanwhile), so not at every
/// purge when purges are frequent.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Deletes finished events older than `keep`, and now and then the documents they left.
async fn purge(store: &Store, keep: Duration, last_prune: &mut Option<tokio::time::Instant>) {
    let before = Utc::now() - chrono::Duration::from_std(keep).unwrap_or_default();
    let filter = crate::store::EventFilter {
        created_before: Some(before),
        ..Default::default()
    };
    match store.delete_finished(&filter).await {
        Ok(0) => {}
        Ok(deleted) => tracing::info!(deleted, "retention: deleted finished events"),
        Err(error) => tracing::warn!(%error, "retention: cannot delete finished events"),
    }
    if last_prune.is_some_and(|at| at.elapsed() < PRUNE_EVERY) {
        return;
    }
    *last_prune = Some(tokio::time::Instant::now());
    match store.prune_documents().await {
        Ok(0) => {}
        Ok(deleted) => tracing::info!(deleted, "retention: deleted unused request documents"),
        Err(error) => tracing::warn!(%error, "retention: cannot delete unused request documents"),
    }
}

async fn run(
    dispatcher: Dispatcher,
    catalog: CatalogSource,
    settings: WorkerSettings,
    mut stopped: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let mut running = JoinSet::new();
    let store = dispatcher.store().clone();
    let mut failures = 0_u32;
    while !*stopped.borrow() {
        while running.try_join_next().is_some() {}
        let batch = settings.batch_size.clamp(1, settings.concurrency.max(1));
        let free = slots.available_permits().min(batch);
        // Under load, claim in batches: a claim is a transaction (and a disk flush), so
        // claiming the one event each finished delivery makes room for would cost one per
        // event. Wait until half a batch fits, unless nothing is running.
        if free == 0 || (free < batch.div_ceil(2) && !running.is_empty()) {
            tokio::select! {
                _ = running.join_next() => {}
                _ = stopped.changed() => {}
            }
            continue;
        }
        let limit = i64::try_from(free).unwrap_or(i64::MAX);
        let claimed = match store
            .claim_due(dispatcher.node_id(), limit, settings.lease)
            .await
        {
            Ok(claimed) => {
                failures = 0;
                claimed
            }
            Err(error) => {
                // The database may be restarting: back off and try again, never give up.
                failures = failures.saturating_add(1);
                tracing::warn!(%error, "cannot claim events; retrying");
                let backoff = Duration::from_millis(200 * u64::from(failures.min(25)));
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stopped.changed() => {}
                }
                continue;
            }
        };
        let idle = claimed.is_empty();
        for event in claimed {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            let (dispatcher, catalog, settings) =
                (dispatcher.clone(), catalog.clone(), settings.clone());
            // Each delivery is a span of its own, in the trace of the call that stored it.
            let span = tracing::debug_span!(
                target: crate::traces::TARGET,
                "action",
                action = %event.action_name,
                kind = "asynchronous delivery",
                event.id = %event.id,
            );
            crate::traces::continue_trace(
                &span,
                ClientHeaders::from_stored(&event.request_headers).iter(),
            );
            running.spawn(tracing::Instrument::instrument(
                async move {
                    deliver(&dispatcher, &catalog(), event, &settings).await;
                    drop(permit);
                },
                span,
            ));
        }
        if idle {
            let wait = match store.next_due_at().await {
                Ok(Some(at)) => (at - Utc::now())
                    .to_std()
                    .unwrap_or_default()
                    .min(settings.poll_interval),
                _ => settings.poll_interval,
            };
            tokio::select! {
                _ = store.signals().new_events.notified() => {}
                _ = tokio::time::sleep(wait.max(Duration::from_millis(5))) => {}
                _ = stopped.changed() => {}
            }
        }
    }
    let drained = tokio::time::timeout(settings.shutdown_grace, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        // Cut short what still runs: each attempt records itself as interrupted and hands
        // its event back without spending a retry. Whatever cannot even do that in time is
        // dropped, and released below.
        dispatcher.interrupt();
        let recorded = tokio::time::timeout(INTERRUPT_SETTLE, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if recorded.is_err() {
            running.abort_all();
        }
    }
    match store.release_leases(dispatcher.node_id()).await {
        Ok(0) => {}
        Ok(released) => tracing::info!(released, "handed unfinished events back to the queue"),
        Err(error) => tracing::warn!(%error, "cannot release leases; they will expire instead"),
    }
}

/// One attempt of one claimed event, then its next state.
async fn deliver(
    dispatcher: &Dispatcher,
    catalog: &Catalog,
    event: EventRecord,
    settings: &WorkerSettings,
) {
    let store = dispatcher.store();
    let owner = dispatcher.node_id();
    let Some(action) = catalog.actions.get(&event.action_name) else {
        let error = json!({"message": format!("action `{}` no longer exists", event.action_name),
                           "extensions": {"code": "not-exists"}});
        finish(
            dispatcher,
            event.id,
            Finish {
                state: EventState::Error,
                response_payload: None,
                errors: Some(json!([error])),
                announce: true,
            },
        )
        .await;
        return;
    };
    let session = Session::from_stored(&event.session_variables);
    let client_headers = ClientHeaders::from_stored(&event.request_headers);
    let request_query = RequestDocument::new(event.request_query.clone().unwrap_or_default());
    let call = Invocation {
        catalog,
        action,
        input: event.input_payload.clone(),
        session: &session,
        request_query: &request_query,
        client_headers: &client_headers,
        playback: None,
        state_writes: StateWrites::Persist,
    };
    let attempt = u32::try_from(event.attempts).unwrap_or(0).saturating_add(1);
    let info = EventInfo {
        id: event.id,
        attempt,
        created_at: event.created_at,
    };
    let timeout = action.action.definition.timeout();
    // A retry runs the component version that ran the event before (a first attempt, the
    // active one): read only when there is a version to hold.
    let version = if action.handler.follows_active_version() {
        store.held_version(&event).await.unwrap_or_else(|error| {
            tracing::warn!(%error, event_id = %event.id, "cannot read the version to retry with; using the active one");
            None
        })
    } else {
        None
    };

    let attempt_run = dispatcher.run_attempt(
        &call,
        info,
        &event.session_variables,
        timeout,
        version.as_deref(),
    );
    let renewal = async {
        loop {
            tokio::time::sleep(settings.lease / 3).await;
            match store.renew_lease(event.id, owner, settings.lease).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(error) => tracing::warn!(%error, event_id = %event.id, "cannot renew lease"),
            }
        }
    };
    let super::Attempt {
        verdict, record, ..
    } = tokio::select! {
        attempted = attempt_run => attempted,
        () = renewal => {
            tracing::info!(event_id = %event.id, "lease lost; the event's new owner delivers it");
            return;
        }
    };
    let result = match verdict {
        Verdict::Done(result) => Some(result),
        Verdict::Interrupted => {
            let retry_base = event.retry_base;
            record_attempt(dispatcher, &record, Transition::Interrupt { retry_base }).await;
            return;
        }
        Verdict::Retry {
            reason,
            retry_after,
        } => {
            let policy = &action.retry;
            // A redelivered event gets the whole budget again: count from the requeue.
            let in_budget = attempt.saturating_sub(u32::try_from(event.retry_base).unwrap_or(0));
            if policy.allows_after(in_budget) {
                let delay = policy.delay_after(in_budget, retry_after);
                let at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                record_attempt(dispatcher, &record, Transition::Reschedule(at)).await;
                return;
            }
            Some(Err(DispatchError::Failed {
                reason,
                attempts: attempt,
            }))
        }
    };
    if let Some(result) = result {
        dispatcher.count_outcome(action, &result);
        if let Err(error) = &result {
            tracing::error!(
                action = %action.action.name,
                event_id = %event.id,
                attempts = attempt,
                %error,
                "asynchronous event failed for good"
            );
        }
        record_attempt(
            dispatcher,
            &record,
            Transition::Finish(super::finish_of(ActionKind::Asynchronous, &result)),
        )
        .await;
    }
}

/// Stores an attempt and the event's next state; a failure leaves the event to be claimed
/// again when its lease runs out.
async fn record_attempt(dispatcher: &Dispatcher, record: &AttemptRecord, then: Transition) {
    let event_id = record.event_id;
    match dispatcher.record(record, then).await {
        Ok(()) => {}
        Err(DispatchError::LeaseLost) => {
            tracing::info!(%event_id, "lease lost; the event's new owner delivers it");
        }
        Err(error) => {
            tracing::warn!(%error, %event_id, "delivery could not be recorded; it will be retried");
        }
    }
}

async fn finish(dispatcher: &Dispatcher, id: Uuid, finish: Finish) {
    let store = dispatcher.store();
    match store.finish_event(id, dispatcher.node_id(), &finish).await {
        Ok(true) => {
            if let Err(error) = store.announce_result(id).await {
                tracing::warn!(%error, event_id = %id, "cannot announce a result");
            }
        }
        Ok(false) => tracing::info!(event_id = %id, "lease lost before the result was stored"),
        Err(error) => {
            tracing::warn!(%error, event_id = %id, "cannot store a result; it will be retried")
        }
    }
}
