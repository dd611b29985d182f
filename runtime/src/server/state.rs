//! The server's shared state: the store, the dispatcher, and the live schema, which metadata
//! changes replace atomically (requests in flight finish on the schema they started with).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arc_swap::ArcSwap;
use async_graphql::dynamic::Schema;
use serde_json::Value;

use crate::auth::{AuthConfigError, Authenticator};
use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::dispatch::worker::{CatalogSource, Worker, WorkerSettings};
use crate::graphql::ParseCache;
use crate::graphql::schema::{self, QueryLimits};
use crate::handler::http::Webhook;
use crate::handler::signature::SigningKey;
use crate::handler::wasm::{EngineSettings, KnownHandlers, WasmError, WasmHost, WasmSettings};
use crate::metadata::ops::{self, SideEffect};
use crate::metadata::validate::ResolvedAction;
use crate::metadata::{Catalog, Metadata, MetadataError, directory, validate};
use crate::server::metrics::Metrics;
use crate::store::{self, Store, StoreOptions};

/// What is being served right now.
pub struct Live {
    pub catalog: Arc<Catalog>,
    /// Every action: what the `admin` role sees.
    pub schema: Schema,
    /// Per role that holds a permission: the actions granted to it.
    role_schemas: HashMap<String, Schema>,
    /// No actions: what every other role sees.
    empty_schema: Schema,
    pub resource_version: i64,
}

impl Live {
    /// The schema `role` may see: actions are visible only to `admin` and to the roles they
    /// are granted to, in queries and in introspection alike.
    pub fn schema_for(&self, role: &str) -> &Schema {
        if role == "admin" {
            return &self.schema;
        }
        self.role_schemas.get(role).unwrap_or(&self.empty_schema)
    }
}

/// Why a metadata change was refused.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Invalid(#[from] MetadataError),
    #[error("cannot build the GraphQL schema: {0}")]
    Schema(String),
    #[error("resource version {presented} does not match the stored version {stored}")]
    Conflict { presented: i64, stored: i64 },
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl CommitError {
    /// The error in the metadata API's shape.
    pub fn to_metadata_error(&self) -> MetadataError {
        match self {
            Self::Invalid(error) => error.clone(),
            Self::Schema(reason) => MetadataError::new("validation-failed", "$", reason.clone()),
            Self::Conflict { .. } => MetadataError::new("conflict", "$", self.to_string()),
            Self::Store(store::Error::Conflict { .. }) => {
                MetadataError::new("conflict", "$", self.to_string())
            }
            Self::Store(_) => MetadataError::new("unexpected", "$", "database query error"),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("metadata directory: {0}")]
    Directory(#[from] directory::DirectoryError),
    #[error("stored metadata is invalid: {0}")]
    Commit(#[from] CommitError),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Wasm(#[from] WasmError),
    #[error("invalid signing settings: {0}")]
    Signing(String),
    #[error("invalid auth settings: {0}")]
    Auth(#[from] AuthConfigError),
    #[error("cannot listen: {0}")]
    Listen(String),
}

/// Shared by every request handler.
pub struct AppState {
    pub config: Config,
    pub store: Store,
    /// Decides who each request is.
    pub auth: Authenticator,
    pub metrics: Metrics,
    /// Documents of recent GraphQL requests, so repeated operations are parsed once.
    pub parsed: ParseCache,
    /// Uploaded WebAssembly handlers.
    pub wasm: Arc<WasmHost>,
    dispatcher: Dispatcher,
    live: Arc<ArcSwap<Live>>,
    /// The asynchronous delivery engine, until shutdown takes it.
    worker: tokio::sync::Mutex<Option<Worker>>,
    /// Serialises metadata writers inside this process; the resource version guards against
    /// writers elsewhere.
    writes: tokio::sync::Mutex<()>,
}

impl AppState {
    /// Connects the store, applies `metadata_dir` if configured, and builds the first schema.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        crate::install_crypto_provider();
        let auth = Authenticator::new(
            config.admin_secret.clone(),
            config.jwt_setting().as_deref(),
            config.unauthorized_role.clone(),
        )?;
        let options = StoreOptions {
            pool_size: config.database.pool_size,
        };
        let store = Store::connect(&config.database_url, &options).await?;
        let node_id = config
            .node_id
            .clone()
            .unwrap_or_else(|| format!("node-{}", uuid::Uuid::new_v4().simple()));
        let signing_key = config
            .webhook_signing_secret
            .as_deref()
            .map(SigningKey::parse)
            .transpose()
            .map_err(|e| StartError::Signing(format!("webhook_signing_secret: {e}")))?;
        let webhook = Webhook::new(
            config.environment.clone(),
            config.limits.max_response_bytes,
            signing_key,
        )?;
        let metrics = Metrics::new();
        let wasm = Arc::new(
            WasmHost::start(
                store.clone(),
                wasm_settings(&config),
                metrics.wasm_instantiation.clone(),
            )
            .await?,
        );
        let dispatcher = Dispatcher::new(
            store.clone(),
            node_id,
            webhook,
            wasm.clone(),
            metrics.clone(),
        );

        let stored = store.load_metadata().await?;
        let (mut metadata, mut version) = match stored {
            Some(stored) => (
                serde_json::from_value(stored.document).map_err(|e| {
                    CommitError::Invalid(MetadataError::new("parse-failed", "$", e.to_string()))
                })?,
                stored.resource_version,
            ),
            None => (Metadata::empty(), 0),
        };
        if let Some(dir) = &config.metadata_dir {
            let from_dir = directory::load(dir)?;
            if from_dir != metadata {
                version = save(&store, &config, &wasm.known(), version, &from_dir).await?;
                metadata = from_dir;
                tracing::info!(dir = %dir.display(), version, "applied metadata directory");
            }
        }
        let catalog =
            validate(&metadata, &config.environment, &wasm.known()).map_err(CommitError::from)?;
        let live = Arc::new(ArcSwap::from_pointee(build_live(
            &config,
            &dispatcher,
            catalog,
            version,
        )?));
        store.spawn_listener();
        let source = Arc::clone(&live);
        let catalog_source: CatalogSource = Arc::new(move || Arc::clone(&source.load().catalog));
        let worker = config
            .delivery
            .enabled
            .then(|| Worker::spawn(dispatcher.clone(), catalog_source, worker_settings(&config)));
        Ok(Self {
            config,
            store,
            auth,
            metrics,
            parsed: ParseCache::default(),
            wasm,
            dispatcher,
            live,
            worker: tokio::sync::Mutex::new(worker),
            writes: tokio::sync::Mutex::new(()),
        })
    }

    /// The schema and catalog being served.
    pub fn live(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// Stops the delivery engine: running deliveries get the grace period, and every event
    /// this replica still holds goes back to the queue at once. Call after the HTTP server
    /// has stopped.
    pub async fn shutdown(&self) {
        if let Some(worker) = self.worker.lock().await.take() {
            worker.shutdown().await;
        }
    }

    /// Held while metadata changes, and by anything that must not interleave with a change.
    pub async fn metadata_write_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writes.lock().await
    }

    /// Applies one metadata API request: edit, validate the whole result, persist, swap the
    /// schema, then run side effects. Nothing changes unless every step before the swap works.
    /// Catches up with changes made elsewhere — another replica, or `hookwing metadata apply`:
    /// uploaded handlers first, then the metadata if its stored version moved. Returns whether
    /// the schema was swapped.
    pub async fn refresh(&self) -> Result<bool, CommitError> {
        let _guard = self.writes.lock().await;
        if let Err(error) = self.wasm.reload().await {
            tracing::warn!(%error, "cannot reload wasm handlers");
        }
        let live = self.live();
        if self.store.metadata_version().await? == Some(live.resource_version) {
            return Ok(false);
        }
        let Some(stored) = self.store.load_metadata().await? else {
            return Ok(false);
        };
        let metadata: Metadata = serde_json::from_value(stored.document).map_err(|e| {
            CommitError::Invalid(MetadataError::new("parse-failed", "$", e.to_string()))
        })?;
        let catalog = validate(&metadata, &self.config.environment, &self.wasm.known())?;
        let next = build_live(
            &self.config,
            &self.dispatcher,
            catalog,
            stored.resource_version,
        )?;
        self.live.store(Arc::new(next));
        tracing::info!(
            version = stored.resource_version,
            "picked up metadata changed elsewhere"
        );
        Ok(true)
    }

    pub async fn apply_metadata(&self, request: &ops::Request) -> Result<Value, CommitError> {
        let _guard = self.writes.lock().await;
        let live = self.live();
        let stored = live.resource_version;
        if let Some(presented) = request.resource_version
            && presented != stored
        {
            return Err(CommitError::Conflict { presented, stored });
        }
        let mut metadata = live.catalog.metadata.clone();
        let applied = ops::apply(request, &mut metadata, stored)?;
        if !applied.changed {
            return Ok(applied.response);
        }
        let handlers = self.wasm.known();
        let catalog = validate(&metadata, &self.config.environment, &handlers)?;
        let next = build_live(&self.config, &self.dispatcher, catalog, stored)?;
        let version = save(&self.store, &self.config, &handlers, stored, &metadata).await?;
        self.live.store(Arc::new(Live {
            resource_version: version,
            ..next
        }));
        if let Err(error) = self.store.announce_metadata_change().await {
            tracing::warn!(%error, "cannot tell other replicas about the change; they will poll");
        }
        for effect in applied.effects {
            match effect {
                SideEffect::ClearData { action } => {
                    let deleted = self.store.delete_events_of_action(&action).await?;
                    tracing::info!(action, deleted, "cleared events of dropped action");
                }
            }
        }
        Ok(applied.response)
    }
}

/// Validates and stores `metadata` over version `expected`; returns the new version.
pub async fn save(
    store: &Store,
    config: &Config,
    handlers: &KnownHandlers,
    expected: i64,
    metadata: &Metadata,
) -> Result<i64, CommitError> {
    validate(metadata, &config.environment, handlers)?;
    let document = serde_json::to_value(metadata)
        .map_err(|e| MetadataError::new("unexpected", "$", e.to_string()))?;
    Ok(store.save_metadata(expected, &document).await?)
}

fn build_live(
    config: &Config,
    dispatcher: &Dispatcher,
    catalog: Catalog,
    resource_version: i64,
) -> Result<Live, CommitError> {
    let catalog = Arc::new(catalog);
    let limits = QueryLimits {
        max_depth: config.limits.max_query_depth,
        max_complexity: config.limits.max_query_complexity,
    };
    let build = |visible: &dyn Fn(&ResolvedAction) -> bool| {
        schema::build(Arc::clone(&catalog), dispatcher.clone(), limits, visible)
            .map_err(|e| CommitError::Schema(e.to_string()))
    };
    let schema = build(&|_| true)?;
    let empty_schema = build(&|_| false)?;
    let roles: BTreeSet<&str> = catalog
        .actions
        .values()
        .flat_map(|action| action.action.permissions.iter().map(|p| p.role.as_str()))
        .collect();
    let mut role_schemas = HashMap::new();
    for role in roles {
        let granted =
            |action: &ResolvedAction| action.action.permissions.iter().any(|p| p.role == role);
        role_schemas.insert(role.to_owned(), build(&granted)?);
    }
    Ok(Live {
        catalog: Arc::clone(&catalog),
        schema,
        role_schemas,
        empty_schema,
        resource_version,
    })
}

/// The wasm host's settings from the server configuration.
pub fn wasm_settings(config: &Config) -> WasmSettings {
    let wasm = &config.wasm;
    WasmSettings {
        engine: EngineSettings {
            max_memory_bytes: usize::try_from(wasm.max_memory_mib).unwrap_or(usize::MAX) << 20,
            max_concurrent_instances: wasm.max_concurrent_instances,
            cache_dir: Some(wasm.cache_dir.clone()),
        },
        max_handler_bytes: wasm.max_handler_bytes,
        default_memory_mib: wasm.default_memory_mib,
    }
}

/// The delivery engine's settings from the server configuration.
pub fn worker_settings(config: &Config) -> WorkerSettings {
    let delivery = &config.delivery;
    WorkerSettings {
        concurrency: delivery.concurrency,
        batch_size: delivery.batch_size,
        lease: std::time::Duration::from_secs(delivery.lease_secs),
        poll_interval: std::time::Duration::from_millis(delivery.poll_interval_ms),
        shutdown_grace: std::time::Duration::from_secs(delivery.shutdown_grace_secs),
        retention: (delivery.retention_secs > 0)
            .then(|| std::time::Duration::from_secs(delivery.retention_secs)),
    }
}
