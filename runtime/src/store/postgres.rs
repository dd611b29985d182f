//! PostgreSQL backend: a deadpool of `AsyncPgConnection`s (tokio-postgres underneath, no libpq).
//!
//! Hookwing keeps its tables in their own `hookwing` schema so that it can share a database with
//! the application it serves; every pooled connection puts that schema first on its search path.

use diesel::ConnectionError;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::{
    AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, SimpleAsyncConnection,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures::FutureExt;
use futures::future::BoxFuture;

use super::{Error, Result, StoreOptions};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// Run on every new connection. Only settings: a connection to a database that has turned
/// read-only must still open, so that readiness can say why the server cannot write.
const SETUP: &str = "SET search_path TO hookwing";

#[derive(Clone)]
pub(super) struct Postgres {
    pool: Pool<AsyncPgConnection>,
    url: String,
}

fn establish(url: &str) -> BoxFuture<'_, diesel::ConnectionResult<AsyncPgConnection>> {
    async move {
        let mut conn = AsyncPgConnection::establish(url).await?;
        conn.batch_execute(SETUP)
            .await
            .map_err(|e| ConnectionError::BadConnection(e.to_string()))?;
        Ok(conn)
    }
    .boxed()
}

impl Postgres {
    pub(super) async fn connect(url: &str, options: &StoreOptions) -> Result<Self> {
        let mut config = ManagerConfig::default();
        config.custom_setup = Box::new(establish);
        let manager = AsyncDieselConnectionManager::new_with_config(url, config);
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            .build()
            .map_err(|e| Error::Connect(e.to_string()))?;
        let store = Self {
            pool,
            url: url.to_owned(),
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        // Replicas starting together must not run the same migration twice: a session-level
        // advisory lock, held on the connection the migrations run on, serialises them.
        let mut conn = self.connection().await?;
        conn.batch_execute("SELECT pg_advisory_lock(7261839)")
            .await?;
        let schema = conn
            .batch_execute("CREATE SCHEMA IF NOT EXISTS hookwing")
            .await;
        let mut harness = AsyncMigrationHarness::new(conn);
        let ran = match schema {
            Ok(()) => tokio::task::block_in_place(|| {
                harness.run_pending_migrations(MIGRATIONS).map(|_| ())
            }),
            Err(error) => Err(error.into()),
        };
        let mut conn = harness.into_inner();
        conn.batch_execute("SELECT pg_advisory_unlock(7261839)")
            .await?;
        ran.map_err(|e| Error::Migration(e.to_string()))
    }

    /// Whether this database takes no writes: a standby in recovery, or read-only for the
    /// server's sessions (`default_transaction_read_only`).
    pub(super) async fn read_only(&self) -> Result<bool> {
        use diesel::sql_types::Bool;
        use diesel_async::RunQueryDsl;

        #[derive(diesel::QueryableByName)]
        struct ReadOnly {
            #[diesel(sql_type = Bool)]
            read_only: bool,
        }
        let mut conn = self.connection().await?;
        let answer: ReadOnly = diesel::sql_query(
            "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on' \
             AS read_only",
        )
        .get_result(&mut *conn)
        .await?;
        Ok(answer.read_only)
    }

    pub(super) async fn connection(&self) -> Result<Object<AsyncPgConnection>> {
        self.pool
            .get()
            .await
            .map_err(|e| Error::Pool(e.to_string()))
    }
}

impl Postgres {
    /// A dedicated (unpooled) connection, set up like the pooled ones: for a task that uses
    /// one connection all the time and so needs no pool checkout (and its test query).
    pub(super) async fn dedicated(&self) -> Result<AsyncPgConnection> {
        establish(&self.url)
            .await
            .map_err(|e| Error::Connect(e.to_string()))
    }

    /// A dedicated (unpooled) connection listening on `channels`.
    pub(super) async fn listener(&self, channels: &[&str]) -> Result<AsyncPgConnection> {
        let mut conn = AsyncPgConnection::establish(&self.url)
            .await
            .map_err(|e| Error::Connect(e.to_string()))?;
        let listen: String = channels.iter().map(|c| format!("LISTEN {c};")).collect();
        conn.batch_execute(&listen).await?;
        Ok(conn)
    }
}
