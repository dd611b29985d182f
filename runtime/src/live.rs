//! What is being served, and how it changes: the validated catalog and the per-role schemas
//! built from it, replaced atomically by the metadata commit protocol — edit, validate the
//! whole result, build the schemas, persist over the expected resource version, swap, announce
//! to other replicas, run side effects. Requests in flight finish on the schema they started
//! with; nothing changes unless every step before the swap works.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use async_graphql::dynamic::Schema;
use serde_json::Value;

use crate::config::{Config, Environment};
use crate::dispatch::Dispatcher;
use crate::dispatch::worker::CatalogSource;
use crate::graphql::schema::{self, QueryLimits};
use crate::handler::wasm::{KnownHandlers, WasmHost};
use crate::metadata::ops::{self, SideEffect};
use crate::metadata::validate::ResolvedAction;
use crate::metadata::{
    Catalog, Metadata, MetadataError, MetadataWarning, diff, directory, validate,
};
use crate::store::{self, MetadataSource, Store, StoredMetadata};

/// What is being served right now.
pub struct Live {
    pub catalog: Arc<Catalog>,
    /// Every action: what the `admin` role sees.
    pub schema: Schema,
    /// Per role that holds a permission: the actions granted to it, built the first time the
    /// role calls. With many roles, building every role's schema at each metadata change
    /// was most of the change's time (20 roles × 1,000 actions: 105 ms a `create_action`)
    /// and of the server's memory, for roles that may never call before the next change.
    role_schemas: HashMap<String, OnceLock<Schema>>,
    /// No actions: what every other role sees.
    empty_schema: Schema,
    /// What a role's schema is built with.
    limits: QueryLimits,
    dispatcher: Dispatcher,
    pub resource_version: i64,
}

impl Live {
    /// The schema `role` may see: actions are visible only to `admin` and to the roles they
    /// are granted to, in queries and in introspection alike.
    pub fn schema_for(&self, role: &str) -> &Schema {
        if role == "admin" {
            return &self.schema;
        }
        match self.role_schemas.get(role) {
            Some(built) => built.get_or_init(|| self.build_for(role)),
            None => &self.empty_schema,
        }
    }

    /// `role`'s schema. It is a part of the admin schema, which built when the metadata was
    /// accepted, so it builds too; should it not, the role sees no actions and the error is
    /// logged.
    fn build_for(&self, role: &str) -> Schema {
        let granted = |action: &ResolvedAction| self.catalog.grants(role, action);
        schema::build(
            Arc::clone(&self.catalog),
            self.dispatcher.clone(),
            self.limits,
            &granted,
        )
        .unwrap_or_else(|error| {
            tracing::error!(role, %error, "cannot build the role's schema; it sees no actions");
            self.empty_schema.clone()
        })
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
    #[error("cannot write the metadata as JSON: {0}")]
    Encode(serde_json::Error),
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
            Self::Encode(_) => MetadataError::new("unexpected", "$", "cannot store the metadata"),
        }
    }
}

/// The metadata being served, and the one way it changes. One per server.
pub struct Served {
    live: Arc<ArcSwap<Live>>,
    store: Store,
    environment: Environment,
    limits: QueryLimits,
    dispatcher: Dispatcher,
    wasm: Arc<WasmHost>,
    /// Serialises metadata writers inside this process; the resource version guards against
    /// writers elsewhere.
    writes: tokio::sync::Mutex<()>,
}

impl Served {
    /// Loads the stored metadata, applies `metadata_dir` over it when it differs, and builds
    /// the first schemas.
    pub async fn load(
        store: Store,
        config: &Config,
        dispatcher: Dispatcher,
        wasm: Arc<WasmHost>,
    ) -> Result<Self, LoadError> {
        let stored = store.load_metadata().await?;
        let changed_since_directory = stored
            .as_ref()
            .is_some_and(StoredMetadata::changed_since_directory);
        let (mut metadata, mut version) = match stored {
            Some(stored) => (parse_stored(stored.document)?, stored.resource_version),
            None => (Metadata::empty(), 0),
        };
        if let Some(dir) = &config.metadata_dir {
            let from_dir = directory::load(dir)?;
            if from_dir != metadata {
                if changed_since_directory && !config.metadata_dir_overwrite {
                    return Err(LoadError::WouldDiscard {
                        dir: dir.clone(),
                        version,
                        changes: diff::changes(&metadata, &from_dir),
                    });
                }
                (version, _) = save(
                    &store,
                    &config.environment,
                    &wasm.known(),
                    version,
                    &from_dir,
                    MetadataSource::Directory,
                )
                .await
                .map_err(|error| LoadError::InvalidDirectory {
                    dir: dir.clone(),
                    error,
                })?;
                metadata = from_dir;
                tracing::info!(dir = %dir.display(), version, "applied metadata directory");
            }
        }
        let limits = QueryLimits {
            max_depth: config.limits.max_query_depth,
            max_complexity: config.limits.max_query_complexity,
        };
        let catalog =
            validate(&metadata, &config.environment, &wasm.known()).map_err(CommitError::from)?;
        log_warnings(&catalog.warnings);
        let first = build_live(limits, &dispatcher, catalog, version)?;
        Ok(Self {
            live: Arc::new(ArcSwap::from_pointee(first)),
            store,
            environment: config.environment.clone(),
            limits,
            dispatcher,
            wasm,
            writes: tokio::sync::Mutex::new(()),
        })
    }

    /// The schema and catalog being served.
    pub fn current(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// The current catalog, for readers that outlive one request (the delivery engine reads it
    /// per event, so metadata changes apply at once).
    pub fn catalog_source(&self) -> CatalogSource {
        let live = Arc::clone(&self.live);
        Arc::new(move || Arc::clone(&live.load().catalog))
    }

    /// Held while metadata changes, and by anything that must not interleave with a change.
    pub async fn write_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writes.lock().await
    }

    /// Catches up with changes made elsewhere — another replica, or `hookwing metadata apply`:
    /// uploaded handlers first, then the metadata if its stored version moved. Returns whether
    /// the schema was swapped.
    pub async fn refresh(&self) -> Result<bool, CommitError> {
        let _guard = self.writes.lock().await;
        if let Err(error) = self.wasm.reload().await {
            tracing::warn!(%error, "cannot reload wasm handlers");
        }
        let live = self.current();
        if self.store.metadata_version().await? == Some(live.resource_version) {
            return Ok(false);
        }
        let Some(stored) = self.store.load_metadata().await? else {
            return Ok(false);
        };
        let metadata = parse_stored(stored.document)?;
        let catalog = validate::check_change(
            &live.catalog,
            &metadata,
            &self.environment,
            &self.wasm.known(),
        )?
        .with(metadata);
        log_warnings(&catalog.warnings);
        let next = build_live(
            self.limits,
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

    /// Applies one metadata API request: edit, validate the result (resolving only what the
    /// edit changed, see [`validate::check_change`]), persist, swap the schema, then run side
    /// effects. Nothing changes unless every step before the swap works.
    pub async fn apply(&self, request: &ops::Request) -> Result<Value, CommitError> {
        let guard = self.writes.lock().await;
        let live = self.current();
        let stored = live.resource_version;
        if let Some(presented) = request.resource_version
            && presented != stored
        {
            return Err(CommitError::Conflict { presented, stored });
        }
        let mut metadata = live.catalog.metadata.clone();
        let applied = ops::apply(request, &mut metadata, stored)?;
        if !applied.changed {
            if applied.effects.contains(&SideEffect::Reload) {
                drop(guard);
                self.refresh().await?;
            }
            return Ok(applied.response);
        }
        let handlers = self.wasm.known();
        let checked =
            validate::check_change(&live.catalog, &metadata, &self.environment, &handlers)
                .map_err(|error| relative_to_request(request, &metadata, error))?;
        // What this change brought in is reported; what was there before was reported then.
        let introduced: Vec<_> = checked
            .warnings()
            .iter()
            .filter(|warning| !live.catalog.warnings.contains(warning))
            .cloned()
            .collect();
        log_warnings(&introduced);
        let mut response = applied.response;
        if let Some(fields) = response.as_object_mut()
            && !introduced.is_empty()
        {
            fields.insert("warnings".into(), serde_json::json!(introduced));
        }
        let changes = diff::changes(&live.catalog.metadata, &metadata);
        let next = build_live(
            self.limits,
            &self.dispatcher,
            checked.with(metadata),
            stored,
        )?;
        // Validated above: stored as it is.
        let version =
            store_catalog(&self.store, stored, &next.catalog, MetadataSource::Api).await?;
        self.live.store(Arc::new(Live {
            resource_version: version,
            ..next
        }));
        let changes: Vec<String> = changes.iter().map(ToString::to_string).collect();
        tracing::info!(
            operation = %request.kind,
            from = stored,
            to = version,
            changes = changes.join(", "),
            "metadata changed"
        );
        if let Err(error) = self.store.announce_metadata_change().await {
            tracing::warn!(%error, "cannot tell other replicas about the change; they will poll");
        }
        for effect in applied.effects {
            match effect {
                SideEffect::ClearData { action } => {
                    let deleted = self.store.delete_events_of_action(&action).await?;
                    self.store.prune_documents().await?;
                    tracing::info!(action, deleted, "cleared events of dropped action");
                }
                // Nothing to re-read: this request just wrote what is stored.
                SideEffect::Reload => {}
            }
        }
        Ok(response)
    }
}

/// Why the metadata to serve at start could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("metadata directory: {0}")]
    Directory(#[from] directory::DirectoryError),
    #[error("stored metadata is invalid: {0}")]
    Commit(#[from] CommitError),
    #[error("metadata directory {} is invalid: {error}", dir.display())]
    InvalidDirectory {
        dir: std::path::PathBuf,
        error: CommitError,
    },
    #[error(
        "the stored metadata (resource version {version}) was changed through the API since a \
         metadata directory was last applied; starting with {dir} would discard:\n{}\n\
         Export it first (`hookwing metadata export DIR`) and merge, or start with \
         --metadata-dir-overwrite to replace it",
        describe_changes(.changes)
    )]
    WouldDiscard {
        dir: std::path::PathBuf,
        version: i64,
        /// What the stored metadata has that the directory would remove or replace.
        changes: Vec<diff::Change>,
    },
}

fn describe_changes(changes: &[diff::Change]) -> String {
    let lines: Vec<String> = changes.iter().map(|change| format!("  {change}")).collect();
    lines.join("\n")
}

impl From<store::Error> for LoadError {
    fn from(error: store::Error) -> Self {
        Self::Commit(CommitError::Store(error))
    }
}

/// An error as Hasura reports it for `request`: about the action a `create_action` or
/// `update_action` names, with its path into the request's `args` (`$.definition.headers[0]`);
/// about `set_custom_types`' types, as an inconsistent object at `$.args`. Other errors keep
/// their path into the metadata document.
fn relative_to_request(
    request: &ops::Request,
    metadata: &Metadata,
    mut error: MetadataError,
) -> MetadataError {
    // Hasura reports custom types that do not hold together as an inconsistent object.
    let in_fields = error.path.contains(".fields[") || error.path.contains(".relationships[");
    if request.kind == "set_custom_types" && error.path.starts_with("$.custom_types") && in_fields {
        return MetadataError::new(
            "invalid-configuration",
            "$.args",
            format!(
                "Inconsistent object: validation for the given custom types failed because {}",
                error.error
            ),
        );
    }
    // The types an action uses are gone because this request (or one in its bulk) replaced
    // them all.
    let replaces_types = request.kind == "set_custom_types"
        || (request.kind == "bulk"
            && request.args.as_array().is_some_and(|operations| {
                operations
                    .iter()
                    .any(|operation| operation["type"] == "set_custom_types")
            }));
    if replaces_types && error.code == "not-exists" && error.path.starts_with("$.actions[") {
        error.error.push_str(
            " (set_custom_types replaces every custom type: include the types the existing \
             actions use)",
        );
        return error;
    }
    if !matches!(request.kind.as_str(), "create_action" | "update_action") {
        return error;
    }
    let Some(name) = request.args.get("name").and_then(Value::as_str) else {
        return error;
    };
    let Some(index) = metadata.actions.iter().position(|a| a.name == name) else {
        return error;
    };
    if let Some(rest) = error.path.strip_prefix(&format!("$.actions[{index}]")) {
        error.path = format!("${rest}");
    }
    error
}

/// Logs metadata that is kept but not served.
pub fn log_warnings<'a>(warnings: impl IntoIterator<Item = &'a MetadataWarning>) {
    for warning in warnings {
        tracing::warn!(code = warning.code, path = %warning.path, "{}", warning.message);
    }
}

/// The stored metadata document, parsed.
fn parse_stored(document: Value) -> Result<Metadata, CommitError> {
    serde_json::from_value(document)
        .map_err(|e| CommitError::Invalid(MetadataError::new("parse-failed", "$", e.to_string())))
}
/// Validates and stores `metadata` over version `expected`; returns the new version and what
/// validation made of it.
pub async fn save(
    store: &Store,
    environment: &Environment,
    handlers: &KnownHandlers,
    expected: i64,
    metadata: &Metadata,
    source: MetadataSource,
) -> Result<(i64, Catalog), CommitError> {
    let catalog = validate(metadata, environment, handlers)?;
    Ok((
        store_catalog(store, expected, &catalog, source).await?,
        catalog,
    ))
}

/// Stores `catalog`'s metadata over version `expected`; returns the new version.
async fn store_catalog(
    store: &Store,
    expected: i64,
    catalog: &Catalog,
    source: MetadataSource,
) -> Result<i64, CommitError> {
    let document = catalog.document().map_err(CommitError::Encode)?;
    Ok(store.save_metadata_text(expected, document, source).await?)
}

fn build_live(
    limits: QueryLimits,
    dispatcher: &Dispatcher,
    catalog: Catalog,
    resource_version: i64,
) -> Result<Live, CommitError> {
    let catalog = Arc::new(catalog);
    let build = |visible: &dyn Fn(&ResolvedAction) -> bool| {
        schema::build(Arc::clone(&catalog), dispatcher.clone(), limits, visible)
            .map_err(|e| CommitError::Schema(e.to_string()))
    };
    let schema = build(&|_| true)?;
    let empty_schema = build(&|_| false)?;
    let role_schemas = catalog
        .roles()
        .into_iter()
        .map(|role| (role, OnceLock::new()))
        .collect();
    Ok(Live {
        catalog: Arc::clone(&catalog),
        schema,
        role_schemas,
        empty_schema,
        limits,
        dispatcher: dispatcher.clone(),
        resource_version,
    })
}
