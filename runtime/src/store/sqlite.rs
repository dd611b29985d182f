//! SQLite backend: the embedded default. Diesel's SQLite connection is synchronous; diesel-async's
//! `SyncConnectionWrapper` runs each query on tokio's blocking pool.
//!
//! WAL lets readers proceed beside the one writer; `busy_timeout` makes writers queue instead of
//! failing; `synchronous = FULL` keeps an acknowledged write on disk even across a power cut.
//! The hot path's writes go through one writer connection instead, which reaches the same
//! durability by flushing the WAL itself before answering (see `commit.rs`).

use diesel::SqliteConnection;
use diesel::connection::SimpleConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures::FutureExt;
use futures::future::BoxFuture;

use super::{Error, Result, StoreOptions};

pub(super) const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                       PRAGMA synchronous = FULL;";

type Connection = SyncConnectionWrapper<SqliteConnection>;

#[derive(Clone)]
pub(super) struct Sqlite {
    pool: Pool<Connection>,
    path: String,
    /// The database file's device and inode when it was opened: a file deleted or replaced
    /// under a running server takes its writes with it, and readiness says so.
    identity: Option<(u64, u64)>,
}

/// `path`'s device and inode.
fn identity(path: &str) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .ok()
        .map(|metadata| (metadata.dev(), metadata.ino()))
}

fn establish(path: &str) -> BoxFuture<'_, diesel::ConnectionResult<Connection>> {
    async move {
        let mut conn = Connection::establish(path).await?;
        conn.batch_execute(PRAGMAS)
            .await
            .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
        Ok(conn)
    }
    .boxed()
}

/// A plain (blocking) connection with the usual pragmas, then `extra`.
fn open_blocking(path: &str, extra: &str) -> Result<SqliteConnection> {
    let mut conn = <SqliteConnection as diesel::Connection>::establish(path)
        .map_err(|e| Error::Connect(e.to_string()))?;
    conn.batch_execute(PRAGMAS)
        .and_then(|()| conn.batch_execute(extra))
        .map_err(|e| Error::Connect(e.to_string()))?;
    Ok(conn)
}

impl Sqlite {
    pub(super) async fn connect(path: &str, options: &StoreOptions) -> Result<Self> {
        let path = path.to_owned();
        let setup_path = path.clone();
        // WAL mode is a property of the file: set it once, before the pool opens connections,
        // together with the migrations, on a plain synchronous connection.
        tokio::task::spawn_blocking(move || -> Result<()> {
            let mut conn = open_blocking(&setup_path, "PRAGMA journal_mode = WAL")?;
            conn.run_pending_migrations(MIGRATIONS)
                .map_err(|e| Error::Migration(e.to_string()))?;
            Ok(())
        })
        .await
        .map_err(|e| Error::Connect(e.to_string()))??;

        let mut config = ManagerConfig::default();
        config.custom_setup = Box::new(establish);
        let manager = AsyncDieselConnectionManager::new_with_config(path.clone(), config);
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            .build()
            .map_err(|e| Error::Connect(e.to_string()))?;
        let identity = identity(&path);
        Ok(Self {
            pool,
            path,
            identity,
        })
    }

    /// Whether the file the server opened is still there and this process may write it (and
    /// its write-ahead log). A read-only file, mount or immutable flag all show here, where
    /// SQLite itself would only fail at the next checkpoint.
    pub(super) fn file_state(&self) -> Result<(), super::NotReady> {
        if self.identity.is_some() && identity(&self.path) != self.identity {
            return Err(super::NotReady::FileGone);
        }
        let wal = self.wal_path();
        for file in [std::path::Path::new(&self.path), wal.as_path()] {
            match std::fs::OpenOptions::new().write(true).open(file) {
                Ok(_) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound && file == wal => {}
                Err(error) => {
                    tracing::warn!(%error, file = %file.display(), "the database cannot be written");
                    return Err(super::NotReady::ReadOnly);
                }
            }
        }
        Ok(())
    }

    /// The group-commit writer's own connection. It commits with `synchronous = NORMAL` and
    /// leaves flushing the WAL to the committer, which does so before it answers (see
    /// `commit.rs`); every other connection keeps `synchronous = FULL`.
    pub(super) fn writer(&self) -> Result<SqliteConnection> {
        open_blocking(&self.path, "PRAGMA synchronous = NORMAL")
    }

    /// The write-ahead log SQLite keeps beside the database file.
    pub(super) fn wal_path(&self) -> std::path::PathBuf {
        format!("{}-wal", self.path).into()
    }

    pub(super) async fn connection(&self) -> Result<Object<Connection>> {
        self.pool
            .get()
            .await
            .map_err(|e| Error::Pool(e.to_string()))
    }
}
