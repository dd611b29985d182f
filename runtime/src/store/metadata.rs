//! The metadata document: one row, replaced whole, guarded by its resource version so that two
//! writers (two replicas, or the CLI beside a server) cannot silently overwrite each other.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;

use super::schema::hdb_metadata as metadata;
use super::sql_types::{Json, JsonText, Time};
use super::{Error, Result, Store, on_connection};

/// The metadata document with the version it was stored at.
#[derive(Debug, Clone)]
pub struct StoredMetadata {
    pub resource_version: i64,
    pub document: Value,
    /// The version last written from a metadata directory; below `resource_version` when the
    /// API changed it since.
    pub applied_from_dir: Option<i64>,
}

impl StoredMetadata {
    /// Whether the stored document holds changes no metadata directory has: made through the
    /// API since a directory was last applied, or never written from one at all.
    pub fn changed_since_directory(&self) -> bool {
        self.applied_from_dir != Some(self.resource_version)
    }
}

/// Who writes a metadata document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataSource {
    /// The metadata API (and the console, and everything that goes through it).
    Api,
    /// A metadata directory: `--metadata-dir` at start, `hookwing metadata apply`.
    Directory,
}

impl Store {
    /// Reads the stored metadata; `None` on a fresh database.
    pub async fn load_metadata(&self) -> Result<Option<StoredMetadata>> {
        let row: Option<(i64, Json, Option<i64>)> = on_connection!(self, |conn| {
            metadata::table
                .find(1)
                .select((
                    metadata::resource_version,
                    metadata::metadata,
                    metadata::applied_from_dir,
                ))
                .first(conn)
                .await
                .optional()?
        });
        Ok(row.map(
            |(resource_version, document, applied_from_dir)| StoredMetadata {
                resource_version,
                document: document.0,
                applied_from_dir,
            },
        ))
    }

    /// The stored version alone: a cheap check for changes made elsewhere.
    pub async fn metadata_version(&self) -> Result<Option<i64>> {
        Ok(on_connection!(self, |conn| {
            metadata::table
                .find(1)
                .select(metadata::resource_version)
                .first(conn)
                .await
                .optional()?
        }))
    }

    /// Stores `document` if the stored version is still `expected` (0 = nothing stored yet) and
    /// returns the new version; [`Error::Conflict`] if somebody else wrote first. The document
    /// is serialised once, straight to the text written.
    pub async fn save_metadata(
        &self,
        expected: i64,
        document: &impl serde::Serialize,
        source: MetadataSource,
    ) -> Result<i64> {
        let document = serde_json::to_string(document)
            .map_err(|e| Error::Query(diesel::result::Error::SerializationError(Box::new(e))))?;
        self.save_metadata_text(expected, document, source).await
    }

    /// [`Store::save_metadata`] of a document already written as JSON text.
    pub async fn save_metadata_text(
        &self,
        expected: i64,
        document: String,
        source: MetadataSource,
    ) -> Result<i64> {
        let next = expected + 1;
        let document = JsonText(document);
        let from_dir = (source == MetadataSource::Directory).then_some(next);
        let written = on_connection!(self, |conn| {
            if expected == 0 {
                diesel::insert_into(metadata::table)
                    .values((
                        metadata::id.eq(1),
                        metadata::resource_version.eq(next),
                        metadata::metadata.eq(&document),
                        metadata::updated_at.eq(Time::now()),
                        metadata::applied_from_dir.eq(from_dir),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?
            } else {
                let current = diesel::update(metadata::table)
                    .filter(metadata::id.eq(1))
                    .filter(metadata::resource_version.eq(expected));
                let changes = (
                    metadata::resource_version.eq(next),
                    metadata::metadata.eq(&document),
                    metadata::updated_at.eq(Time::now()),
                );
                match from_dir {
                    // The API's writes leave the directory's mark where it was.
                    None => current.set(changes).execute(conn).await?,
                    Some(version) => {
                        current
                            .set((changes, metadata::applied_from_dir.eq(Some(version))))
                            .execute(conn)
                            .await?
                    }
                }
            }
        });
        if written == 1 {
            Ok(next)
        } else {
            Err(Error::Conflict { expected })
        }
    }
}
