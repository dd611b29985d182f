//! The event store: every action invocation, every delivery attempt and the metadata document.
//!
//! One API over two backends (a closed set, so an enum): PostgreSQL for production and several
//! replicas, SQLite as the zero-configuration embedded default. Queries are written once, against
//! one `schema.rs`, and compiled for each backend by [`on_connection!`].

mod commit;
mod documents;
mod events;
mod handler_state;
mod handlers;
mod lifecycle;
mod maintenance;
mod metadata;
mod notify;
mod postgres;
mod prepared;
mod queue;
pub mod schema;
pub mod sql_types;
mod sqlite;

pub use documents::RequestDocument;
pub use events::{AttemptRecord, EventRecord, NewEvent};
pub use handler_state::{OverQuota, StateQuota};
pub use handlers::StoredHandler;
pub use lifecycle::{
    ActionKind, AttemptOutcome, Deleted, EventState, Finish, Requeued, Transition, Version,
};
pub use maintenance::EventFilter;
pub use metadata::{MetadataSource, StoredMetadata};
pub use notify::Signals;
pub use queue::ActionQueue;

/// Store failures. The text of the source error is kept for operators' logs; clients only ever
/// see a generic message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database url `{0}` is neither postgres:// nor sqlite://")]
    UnsupportedUrl(String),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("cannot run database migrations: {0}")]
    Migration(String),
    #[error("no database connection available: {0}")]
    Pool(String),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("cannot flush the SQLite write-ahead log to disk: {0}")]
    Flush(String),
    #[error("metadata was changed concurrently (expected resource version {expected})")]
    Conflict { expected: i64 },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why the store cannot take writes. Each is a fixed text, safe to show an unauthenticated
/// probe; the details go to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    #[error("the database does not answer")]
    Unreachable,
    #[error("the database is read-only")]
    ReadOnly,
    #[error("the database file is missing or was replaced")]
    FileGone,
}

/// Pool and engine settings shared by both backends.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connections kept by the pool.
    pub pool_size: usize,
}

/// A handle to the event store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    signals: std::sync::Arc<Signals>,
    committer: commit::Committer,
    pool_size: usize,
}

#[derive(Clone)]
enum Backend {
    Postgres(postgres::Postgres),
    Sqlite(sqlite::Sqlite),
}

/// Runs `$body` with `$conn` bound to a pooled connection of whichever backend the store uses.
/// The body is compiled once per backend, so every query is written once.
macro_rules! on_connection {
    ($store:expr, |$conn:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Postgres(backend) => {
                let mut pooled = backend.connection().await?;
                let $conn = &mut *pooled;
                $body
            }
            $crate::store::Backend::Sqlite(backend) => {
                let mut pooled = backend.connection().await?;
                let $conn = &mut *pooled;
                $body
            }
        }
    };
}
pub(crate) use on_connection;

impl Store {
    /// Connects to `database_url` (`postgres://…` or `sqlite://path`), creating the SQLite file
    /// if needed, and brings the schema up to date with the embedded migrations.
    pub async fn connect(database_url: &str, options: &StoreOptions) -> Result<Self> {
        let (backend, committer) = if database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://")
        {
            let postgres = postgres::Postgres::connect(database_url, options).await?;
            let lanes = (options.pool_size / 4).clamp(1, 4);
            let committer = commit::Committer::postgres(&postgres, lanes);
            (Backend::Postgres(postgres), committer)
        } else if let Some(path) = database_url.strip_prefix("sqlite://") {
            let sqlite = sqlite::Sqlite::connect(path, options).await?;
            let committer = commit::Committer::sqlite(sqlite.writer()?, sqlite.wal_path())
                .map_err(|e| Error::Connect(format!("cannot start the SQLite writer: {e}")))?;
            (Backend::Sqlite(sqlite), committer)
        } else {
            return Err(Error::UnsupportedUrl(database_url.to_owned()));
        };
        Ok(Self {
            committer,
            backend,
            signals: std::sync::Arc::default(),
            pool_size: options.pool_size,
        })
    }

    /// Which backend this store runs on, for logs and health output.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Postgres(_) => "postgres",
            Backend::Sqlite(_) => "sqlite",
        }
    }

    /// Connections the pool keeps: how many queries can run at once.
    pub fn pool_size(&self) -> usize {
        self.pool_size
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        use diesel_async::SimpleAsyncConnection;
        on_connection!(self, |conn| conn.batch_execute("SELECT 1").await?);
        Ok(())
    }

    /// Whether the store can take writes now: it answers, it is not read-only (a standby, a
    /// read-only database or file), and, on SQLite, its file is still the one opened.
    pub async fn readiness(&self) -> Result<(), NotReady> {
        let unreachable = |error: Error| {
            tracing::warn!(%error, "the database does not answer");
            NotReady::Unreachable
        };
        match &self.backend {
            Backend::Sqlite(sqlite) => {
                sqlite.file_state()?;
                self.ping().await.map_err(unreachable)
            }
            Backend::Postgres(postgres) => {
                if postgres.read_only().await.map_err(unreachable)? {
                    Err(NotReady::ReadOnly)
                } else {
                    Ok(())
                }
            }
        }
    }
}
