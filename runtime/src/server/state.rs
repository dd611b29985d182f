//! The server's shared state, wired together at start: the store, the auth check, the
//! handlers, the dispatcher, what is being served, and the delivery engine.

use std::sync::Arc;

use crate::auth::{AuthConfigError, Authenticator};
use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::dispatch::worker::Worker;
use crate::graphql::ParseCache;
use crate::handler::Handlers;
use crate::handler::http::Webhook;
use crate::handler::signature::SigningKey;
use crate::handler::wasm::{WasmError, WasmHost};
use crate::live::{Live, LoadError, Served};
use crate::server::cors::CorsPolicy;
use crate::store::{self, Store, StoreOptions};
use crate::telemetry::Metrics;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Metadata(#[from] LoadError),
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
    #[error("invalid CORS settings: {0}")]
    Cors(String),
}

/// Shared by every request handler.
pub struct AppState {
    pub config: Config,
    pub store: Store,
    /// Decides who each request is.
    pub auth: Authenticator,
    /// Which browser origins may call.
    pub cors: CorsPolicy,
    pub metrics: Metrics,
    /// Documents of recent GraphQL requests, so repeated operations are parsed once.
    pub parsed: ParseCache,
    /// Uploaded WebAssembly handlers.
    pub wasm: Arc<WasmHost>,
    /// The metadata being served, and how it changes.
    pub served: Served,
    dispatcher: Dispatcher,
    /// The asynchronous delivery engine, until shutdown takes it.
    worker: tokio::sync::Mutex<Option<Worker>>,
}

impl AppState {
    /// Connects the store, applies `metadata_dir` if configured, and builds the first schema.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        crate::install_crypto_provider();
        let auth = Authenticator::new(
            config.all_admin_secrets(),
            &config.jwt_settings(),
            config
                .auth_hook
                .as_deref()
                .map(|url| (url, config.auth_hook_mode)),
            config.unauthorized_role.clone(),
        )
        .await?;
        let cors = CorsPolicy::parse(&config.cors_domain, config.disable_cors)
            .map_err(StartError::Cors)?;
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
            WasmHost::start(store.clone(), (&config.wasm).into(), (&metrics).into()).await?,
        );
        let dispatcher = Dispatcher::new(
            store.clone(),
            node_id,
            Handlers::new(webhook, wasm.clone()),
            metrics.clone(),
            config.delivery.lease(),
        );
        let served = Served::load(store.clone(), &config, dispatcher.clone(), wasm.clone()).await?;
        store.spawn_listener();
        let worker = config.delivery.enabled.then(|| {
            Worker::spawn(
                dispatcher.clone(),
                served.catalog_source(),
                (&config.delivery).into(),
            )
        });
        Ok(Self {
            config,
            store,
            auth,
            cors,
            metrics,
            parsed: ParseCache::default(),
            wasm,
            served,
            dispatcher,
            worker: tokio::sync::Mutex::new(worker),
        })
    }

    /// Delivers action calls, and replays stored ones.
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// The schema and catalog being served.
    pub fn live(&self) -> Arc<Live> {
        self.served.current()
    }

    /// Stops the work in flight, gracefully: synchronous calls and running deliveries get the
    /// grace period to finish; what is still running then is interrupted and recorded as
    /// such (asynchronous events go back to the queue without spending a retry), and every
    /// event this replica still holds is handed back. Call as the HTTP server stops (it
    /// waits for the same calls' replies).
    pub async fn shutdown(&self) {
        let grace = self.config.delivery.shutdown_grace();
        let worker = self.worker.lock().await.take();
        let deliveries = async {
            if let Some(worker) = worker {
                worker.shutdown().await;
            }
        };
        let calls = self
            .dispatcher
            .drain_sync_calls(grace, crate::dispatch::worker::INTERRUPT_SETTLE);
        tokio::join!(deliveries, calls);
    }
}
