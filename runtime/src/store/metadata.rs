//! The metadata document: one row, replaced whole, guarded by its resource version so that two
//! writers (two replicas, or the CLI beside a server) cannot silently overwrite each other.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;

use super::schema::hdb_metadata as metadata;
use super::sql_types::{Json, Time};
use super::{Error, Result, Store, on_connection};

/// The metadata document with the version it was stored at.
#[derive(Debug, Clone)]
pub struct StoredMetadata {
    pub resource_version: i64,
    pub document: Value,
}

impl Store {
    /// Reads the stored metadata; `None` on a fresh database.
    pub async fn load_metadata(&self) -> Result<Option<StoredMetadata>> {
        let row: Option<(i64, Json)> = on_connection!(self, |conn| {
            metadata::table
                .find(1)
                .select((metadata::resource_version, metadata::metadata))
                .first(conn)
                .await
                .optional()?
        });
        Ok(row.map(|(resource_version, document)| StoredMetadata {
            resource_version,
            document: document.0,
        }))
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
    /// returns the new version; [`Error::Conflict`] if somebody else wrote first.
    pub async fn save_metadata(&self, expected: i64, document: &Value) -> Result<i64> {
        let next = expected + 1;
        let document = Json(document.clone());
        let written = on_connection!(self, |conn| {
            if expected == 0 {
                diesel::insert_into(metadata::table)
                    .values((
                        metadata::id.eq(1),
                        metadata::resource_version.eq(next),
                        metadata::metadata.eq(&document),
                        metadata::updated_at.eq(Time::now()),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?
            } else {
                diesel::update(metadata::table)
                    .filter(metadata::id.eq(1))
                    .filter(metadata::resource_version.eq(expected))
                    .set((
                        metadata::resource_version.eq(next),
                        metadata::metadata.eq(&document),
                        metadata::updated_at.eq(Time::now()),
                    ))
                    .execute(conn)
                    .await?
            }
        });
        if written == 1 {
            Ok(next)
        } else {
            Err(Error::Conflict { expected })
        }
    }
}
