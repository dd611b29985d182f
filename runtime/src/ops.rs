//! Operator commands that work on the database directly, without a running server.

use std::path::Path;

use crate::config::Config;
use crate::handler::wasm::KnownHandlers;
use crate::live::{CommitError, save};
use crate::metadata::diff::{self, Change};
use crate::metadata::{Metadata, directory};
use crate::store::{self, MetadataSource, Store, StoreOptions};

/// Why an operator command failed.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Directory(#[from] directory::DirectoryError),
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error("stored metadata cannot be read: {0}")]
    Stored(#[from] serde_json::Error),
}

async fn open(config: &Config) -> Result<Store, store::Error> {
    Store::connect(&config.database_url, &StoreOptions { pool_size: 2 }).await
}

/// Validates the directory and stores it; returns the new resource version. Running servers
/// pick it up within seconds (they poll the stored version).
pub async fn apply_metadata_dir(config: &Config, dir: &Path) -> Result<i64, OpsError> {
    let metadata = directory::load(dir)?;
    let store = open(config).await?;
    let version = store
        .load_metadata()
        .await?
        .map_or(0, |stored| stored.resource_version);
    let handlers = KnownHandlers::from_stored(&store.handler_versions().await?);
    let (version, catalog) = save(
        &store,
        &config.environment,
        &handlers,
        version,
        &metadata,
        MetadataSource::Directory,
    )
    .await?;
    crate::live::log_warnings(&catalog.warnings);
    Ok(version)
}

/// What applying `dir` would change in the stored metadata, object by object.
pub async fn diff_metadata_dir(config: &Config, dir: &Path) -> Result<Vec<Change>, OpsError> {
    let metadata = directory::load(dir)?;
    Ok(diff::changes(&stored_metadata(config).await?, &metadata))
}

/// Writes the stored metadata to `dir`.
pub async fn export_metadata_dir(config: &Config, dir: &Path) -> Result<(), OpsError> {
    directory::export(&stored_metadata(config).await?, dir)?;
    Ok(())
}

/// The metadata stored in the database (empty when none is).
pub async fn stored_metadata(config: &Config) -> Result<Metadata, OpsError> {
    let store = open(config).await?;
    Ok(match store.load_metadata().await? {
        Some(stored) => serde_json::from_value(stored.document)?,
        None => Metadata::empty(),
    })
}

/// The metadata of `dir`, or the stored metadata when no directory is given.
pub async fn metadata_from(config: &Config, dir: Option<&Path>) -> Result<Metadata, OpsError> {
    match dir {
        Some(dir) => Ok(directory::load(dir)?),
        None => stored_metadata(config).await,
    }
}
