//! Group commit for the writes every action call makes: its event before the handler runs,
//! its attempt (and result) after. Each must be durable before the caller moves on; committed
//! one at a time, each pays its own flush to disk and, on SQLite, its own turn at the single
//! write lock. Here concurrent writes queue up and commit together in one transaction, and
//! each caller is answered only once that transaction is durable. Batches form only under
//! load: a lone write is committed at once, never held back to wait for company.
//!
//! On PostgreSQL a few lanes, each with a connection of its own, commit batches side by side;
//! the attempts' guarded updates of a batch are pipelined, its rows inserted with one
//! statement per table, and the wake-ups for other replicas sent after the commit.
//!
//! On SQLite one thread owns the write connection and a second one makes commits durable:
//! transactions commit with `synchronous = NORMAL` (written to the WAL, not yet flushed), then
//! the flusher fsyncs the WAL — one fsync for every commit made since the last — and only then
//! answers. The next batch runs its statements while the previous one is being flushed, so the
//! disk's flush latency no longer caps throughput. An answered write is as durable as with
//! `synchronous = FULL`: its frames are in the flushed WAL, or a checkpoint (which SQLite
//! syncs) already moved them into the database file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use diesel::{ExpressionMethods, SqliteConnection};
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::documents::{DocumentBatch, DocumentRow, EventsWithDocuments};
use super::events::{
    AttemptBatch, AttemptRow, EventBatch, EventRow, Finished, Released, Rescheduled, held_by,
};
use super::notify::{EVENTS_CHANNEL, RESULTS_CHANNEL};
use super::postgres::Postgres;
use super::prepared::update;
use super::schema::{action_attempt, action_log, request_document};
use super::{Error, Result};

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 256;

/// A write of the hot path.
pub(super) enum Write {
    /// A new event; `announce` wakes the workers of every replica when it commits. Unless
    /// `durable`, the caller may be answered once the event is committed, before it is
    /// flushed to disk (SQLite does so): a synchronous call's event is flushed with its
    /// result, the write that must be durable before the reply (the log is sequential, so
    /// flushing the later commit flushes the earlier one too).
    Insert {
        row: EventRow,
        /// The request document the event names, stored with it unless stored already.
        document: Option<DocumentRow>,
        announce: bool,
        durable: bool,
    },
    /// An attempt by the lease owner `owner`, and what then becomes of the event. Nothing is
    /// written unless `owner` still holds the event.
    Attempt {
        owner: String,
        row: AttemptRow,
        then: Then,
    },
}

/// The columns a [`Transition`](super::Transition) sets on the attempt's event, computed when
/// the write is queued (`Store::record_attempt`), so that committing is only executing.
pub(super) enum Then {
    /// Still held, for another attempt by the same node (synchronous retries).
    Held,
    /// Terminal; `announce` tells every replica's subscribers when it commits.
    Finished { columns: Finished, announce: bool },
    /// Back in the queue, due later.
    Rescheduled(Rescheduled),
    /// Back in the queue, due now, the attempt not counted against the retry budget.
    Released(Released),
}

impl Write {
    /// Whether the caller waits until the write is flushed to disk.
    fn durable(&self) -> bool {
        match self {
            Self::Insert { durable, .. } => *durable,
            Self::Attempt { .. } => true,
        }
    }
}

struct Job {
    write: Write,
    done: oneshot::Sender<Result<bool>>,
}

/// The queue of writes waiting for a commit; cheap to clone.
#[derive(Clone)]
pub(super) struct Committer {
    queue: mpsc::UnboundedSender<Job>,
}

impl Committer {
    /// Starts committing on PostgreSQL: `lanes` tasks, so one batch commits while the next
    /// one gathers. They end when the last `Committer` is dropped.
    pub(super) fn postgres(backend: &Postgres, lanes: usize) -> Self {
        let (queue, jobs) = mpsc::unbounded_channel();
        let jobs = Arc::new(Mutex::new(jobs));
        for _ in 0..lanes.max(1) {
            tokio::spawn(postgres_lane(backend.clone(), Arc::clone(&jobs)));
        }
        Self { queue }
    }

    /// Starts committing on SQLite: a writer thread owning `conn` and a flusher thread
    /// syncing the WAL at `wal`. They end when the last `Committer` is dropped.
    pub(super) fn sqlite(conn: SqliteConnection, wal: PathBuf) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::unbounded_channel();
        let (flushes, pending) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("hookwing-sqlite-writer".into())
            .spawn(move || sqlite_writer(conn, jobs, flushes))?;
        std::thread::Builder::new()
            .name("hookwing-sqlite-flusher".into())
            .spawn(move || sqlite_flusher(&wal, pending))?;
        Ok(Self { queue })
    }

    /// Commits `write` (with whatever else is waiting); `Ok(false)` when an attempt's lease
    /// was lost and nothing was written.
    pub(super) async fn commit(&self, write: Write) -> Result<bool> {
        let (done, outcome) = oneshot::channel();
        self.queue
            .send(Job { write, done })
            .map_err(|_| Error::Pool("the store is shutting down".into()))?;
        outcome
            .await
            .map_err(|_| Error::Pool("the store is shutting down".into()))?
    }
}

/// Takes the next batch: waits for one job, then adds whatever else is queued.
fn gather(first: Job, jobs: &mut mpsc::UnboundedReceiver<Job>) -> (Vec<Write>, Vec<Done>) {
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match jobs.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    batch.into_iter().map(|job| (job.write, job.done)).unzip()
}

type Done = oneshot::Sender<Result<bool>>;

/// Commits a batch of `count` writes together (`apply(None)`); should that fail, commits each
/// alone (`apply(Some(index))`), so one bad write fails only itself. Returns each write's
/// outcome, in order.
async fn outcomes_of<'a>(
    count: usize,
    mut apply: impl FnMut(Option<usize>) -> BoxFuture<'a, Result<Vec<bool>>>,
) -> Vec<Result<bool>> {
    match apply(None).await {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        Err(error) if count == 1 => vec![Err(error)],
        Err(_) => {
            let mut outcomes = Vec::with_capacity(count);
            for index in 0..count {
                let alone = apply(Some(index)).await;
                outcomes.push(alone.map(|outcomes| outcomes.first().copied().unwrap_or(false)));
            }
            outcomes
        }
    }
}

/// The whole batch, or only the write at `only`.
fn select(writes: &[Write], only: Option<usize>) -> Vec<&Write> {
    match only {
        Some(index) => writes.get(index).into_iter().collect(),
        None => writes.iter().collect(),
    }
}

async fn postgres_lane(backend: Postgres, jobs: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>) {
    use diesel_async::{AsyncConnection, RunQueryDsl};
    // The lane's own connection, opened on first use and again after an error.
    let connection = Mutex::new(None::<diesel_async::AsyncPgConnection>);
    loop {
        let (writes, done) = {
            let mut jobs = jobs.lock().await;
            let Some(first) = jobs.recv().await else {
                return;
            };
            gather(first, &mut jobs)
        };
        let outcomes = outcomes_of(writes.len(), |only| {
            let (writes, backend, connection) = (select(&writes, only), &backend, &connection);
            async move {
                let mut held = connection.lock().await;
                let conn = match &mut *held {
                    Some(conn) => conn,
                    None => held.insert(backend.dedicated().await?),
                };
                let applied = if writes
                    .iter()
                    .all(|write| matches!(write, Write::Insert { .. }))
                {
                    // New events only: one INSERT, atomic by itself, so no transaction
                    // (three round trips fewer).
                    apply_writes!(conn, writes, postgres, [.await])
                } else {
                    conn.transaction::<_, diesel::result::Error, _>(
                        async |conn| apply_writes!(conn, writes, postgres, [.await]),
                    )
                    .await
                };
                let applied = match applied {
                    Ok(applied) => applied,
                    Err(error) => {
                        // The connection may be dead (a database restart): start afresh.
                        *held = None;
                        return Err(error.into());
                    }
                };
                drop(held);
                // Only once the batch is durable, outside its transaction (see
                // `notify::send`: a NOTIFY inside would serialise every commit), and without
                // holding up the answers.
                let notifications = applied.notifications();
                if !notifications.is_empty() {
                    let backend = backend.clone();
                    tokio::spawn(async move {
                        let sent = match backend.connection().await {
                            Ok(mut conn) => super::notify::send(&mut conn, &notifications).await,
                            Err(error) => Err(error),
                        };
                        if let Err(error) = sent {
                            // Workers poll and subscribers re-read: a lost wake-up only delays.
                            tracing::warn!(%error, "cannot notify other replicas of a commit");
                        }
                    });
                }
                Ok(applied.outcomes)
            }
            .boxed()
        })
        .await;
        for (done, outcome) in done.into_iter().zip(outcomes) {
            let _ = done.send(outcome);
        }
    }
}

/// Answers waiting for the WAL to be flushed.
type Flush = Vec<(Done, Result<bool>)>;

fn sqlite_writer(
    mut conn: SqliteConnection,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    flushes: std::sync::mpsc::Sender<Flush>,
) {
    use diesel::RunQueryDsl;
    while let Some(first) = jobs.blocking_recv() {
        let (writes, done) = gather(first, &mut jobs);
        // The blocking connection does its work before the future is even polled, so
        // `block_on` returns at once.
        let outcomes = futures::executor::block_on(outcomes_of(writes.len(), |only| {
            let writes = select(&writes, only);
            // The write lock up front: no upgrade from a read lock that could deadlock.
            let applied =
                conn.immediate_transaction(|conn| apply_writes!(conn, writes, sqlite, []));
            // One process: the store wakes subscribers and workers in-process.
            let outcomes = applied.map(|applied| applied.outcomes);
            futures::future::ready(outcomes.map_err(Error::from)).boxed()
        }));
        let mut to_flush = Vec::with_capacity(done.len());
        for ((write, done), outcome) in writes.iter().zip(done).zip(outcomes) {
            if write.durable() {
                to_flush.push((done, outcome));
            } else {
                let _ = done.send(outcome);
            }
        }
        if !to_flush.is_empty() && flushes.send(to_flush).is_err() {
            return;
        }
    }
}

fn sqlite_flusher(wal: &Path, pending: std::sync::mpsc::Receiver<Flush>) {
    while let Ok(first) = pending.recv() {
        let mut answers = first;
        answers.extend(pending.try_iter().flatten());
        let flushed = sync_wal(wal);
        for (done, outcome) in answers {
            let outcome = match (&flushed, outcome) {
                (Ok(()), outcome) => outcome,
                (Err(error), Ok(_)) => Err(Error::Flush(error.to_string())),
                (Err(_), Err(error)) => Err(error),
            };
            let _ = done.send(outcome);
        }
    }
}

/// Flushes the WAL to disk. Opened afresh each time: SQLite may delete and recreate the file.
/// No WAL file means a checkpoint moved (and synced) everything into the database file.
fn sync_wal(wal: &Path) -> std::io::Result<()> {
    match std::fs::File::open(wal) {
        Ok(file) => file.sync_data(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}

/// Most ids in one results notification (PostgreSQL caps a payload at 8000 bytes).
const IDS_PER_NOTIFICATION: usize = 200;

/// What a committed batch did.
struct Applied {
    /// Per write: whether it was written (`false`: an attempt whose lease was lost).
    outcomes: Vec<bool>,
    /// Events that reached their terminal state, for subscribers.
    finished: Vec<String>,
    /// Whether asynchronous events were inserted, for workers.
    announce_events: bool,
}

impl Applied {
    /// The wake-ups other replicas get on PostgreSQL: one for the workers, and the finished
    /// ids in as few notifications as fit.
    fn notifications(&self) -> Vec<(&'static str, String)> {
        let mut notifications: Vec<(&'static str, String)> = self
            .finished
            .chunks(IDS_PER_NOTIFICATION)
            .map(|ids| (RESULTS_CHANNEL, ids.join(",")))
            .collect();
        if self.announce_events {
            notifications.push((EVENTS_CHANNEL, String::new()));
        }
        notifications
    }
}

/// The body of a batch, written once: compiled for PostgreSQL (async, `[.await]`) and SQLite
/// (blocking, `[]`). Each attempt's guarded update comes first (it decides whether the
/// attempt is written at all); then the new events and the attempts are inserted (in one
/// statement each on PostgreSQL).
macro_rules! apply_writes {
    ($conn:ident, $writes:expr, $backend:ident, [$($wait:tt)*]) => {{
        let updated = guarded_updates!($backend, $conn, $writes);
        let mut outcomes = Vec::with_capacity($writes.len());
        let mut events = Vec::new();
        let mut documents: Vec<&DocumentRow> = Vec::new();
        let mut attempts = Vec::new();
        let mut finished = Vec::new();
        let mut announce_events = false;
        for (write, updated) in $writes.iter().zip(updated) {
            match write {
                Write::Insert { row, document, announce, .. } => {
                    events.push(row);
                    if let Some(document) = document
                        && !documents.iter().any(|d| d.sha256() == document.sha256())
                    {
                        documents.push(document);
                    }
                    announce_events |= *announce;
                    outcomes.push(true);
                }
                Write::Attempt { row, then, .. } => {
                    let held = updated == Some(1);
                    if held {
                        attempts.push(row);
                        if let Then::Finished { announce: true, .. } = then {
                            finished.push(row.event_id.0.to_string());
                        }
                    }
                    outcomes.push(held);
                }
            }
        }
        insert_events!($backend, $conn, events, documents, [$($wait)*]);
        insert_rows!($backend, $conn, action_attempt::table, AttemptBatch, attempts, [$($wait)*]);
        Ok::<_, diesel::result::Error>(Applied {
            outcomes,
            finished,
            announce_events,
        })
    }};
}
use apply_writes;

/// The guarded update of every attempt in `$writes` (it decides whether the attempt is
/// written at all), as rows updated per write (`None` for inserts). PostgreSQL pipelines them
/// (all sent, then all answers read: one round trip instead of one each); SQLite runs them in
/// turn.
macro_rules! guarded_updates {
    (postgres, $conn:ident, $writes:expr) => {{
        // Pipelining goes through a shared reference to the connection.
        let mut shared: &diesel_async::AsyncPgConnection = &*$conn;
        let mut pending = Vec::new();
        for write in &$writes {
            if let Write::Attempt { owner, row, then } = write {
                pending.push(guarded_update!(&mut shared, owner, row, then, [.boxed()]));
            }
        }
        let mut counts = futures::future::try_join_all(pending).await?.into_iter();
        $writes
            .iter()
            .map(|write| match write {
                Write::Attempt { .. } => counts.next(),
                Write::Insert { .. } => None,
            })
            .collect::<Vec<_>>()
    }};
    (sqlite, $conn:ident, $writes:expr) => {{
        let mut counts = Vec::with_capacity($writes.len());
        for write in &$writes {
            counts.push(match write {
                Write::Attempt { owner, row, then } => {
                    Some(guarded_update!(&mut *$conn, owner, row, then, [?]))
                }
                Write::Insert { .. } => None,
            });
        }
        counts
    }};
}
use guarded_updates;

/// Counts an attempt on its event and moves the event on, only while `$owner` holds it;
/// `$finish` completes each arm's `execute` (a future to box, or a result to unwrap).
macro_rules! guarded_update {
    ($conn:expr, $owner:expr, $row:expr, $then:expr, [$($finish:tt)*]) => {{
        let guard = held_by($row.event_id, $owner);
        let count = action_log::attempts.eq($row.attempt);
        let table = action_log::table;
        match $then {
            Then::Held => update(table, count, guard).execute($conn)$($finish)*,
            Then::Finished { columns, .. } => {
                update(table, (count, columns), guard).execute($conn)$($finish)*
            }
            Then::Rescheduled(columns) => {
                update(table, (count, columns), guard).execute($conn)$($finish)*
            }
            Then::Released(columns) => {
                update(table, (count, columns), guard).execute($conn)$($finish)*
            }
        }
    }};
}
use guarded_update;

/// Inserts new events with the documents they name: on PostgreSQL in one statement (see
/// [`EventsWithDocuments`]), on SQLite each document unless present, then each event.
macro_rules! insert_events {
    (postgres, $conn:ident, $events:expr, $documents:expr, [$($wait:tt)*]) => {
        if !$events.is_empty() {
            EventsWithDocuments {
                documents: $documents.iter().copied().collect::<DocumentBatch>(),
                events: $events.iter().copied().collect::<EventBatch>(),
            }
            .execute($conn)$($wait)*?;
        }
    };
    (sqlite, $conn:ident, $events:expr, $documents:expr, [$($wait:tt)*]) => {
        for document in $documents {
            diesel::insert_or_ignore_into(request_document::table)
                .values(document)
                .execute($conn)$($wait)*?;
        }
        insert_rows!(sqlite, $conn, action_log::table, EventBatch, $events, [$($wait)*]);
    };
}
use insert_events;

/// Inserts `rows`: on PostgreSQL all at once, as one `$batch` (one fixed statement, prepared
/// once); on SQLite row by row (in-process, so nothing to save).
macro_rules! insert_rows {
    (postgres, $conn:ident, $table:expr, $batch:ident, $rows:expr, [$($wait:tt)*]) => {
        if !$rows.is_empty() {
            $rows.iter().copied().collect::<$batch>().execute($conn)$($wait)*?;
        }
    };
    (sqlite, $conn:ident, $table:expr, $batch:ident, $rows:expr, [$($wait:tt)*]) => {
        for row in $rows {
            diesel::insert_into($table).values(row).execute($conn)$($wait)*?;
        }
    };
}
use insert_rows;
