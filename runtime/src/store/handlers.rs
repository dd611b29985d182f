//! Uploaded WebAssembly handlers: the bytes and config of every version, so that every replica
//! (and a restarted server) can compile the same code. The version of a name activated last
//! (by its upload, or by [`Store::activate_handler`]) is the active one.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;

use super::schema::wasm_handler as handler;
use super::sql_types::{Json, Time};
use super::{Result, Store, on_connection};

/// One uploaded version of a handler, without its bytes.
#[derive(Debug, Clone)]
pub struct StoredHandler {
    pub name: String,
    pub sha256: String,
    pub config: Value,
    pub size_bytes: i64,
    pub uploaded_at: Time,
    pub activated_at: Time,
}

type Row = (String, String, Json, i64, Time, Option<Time>);

fn from_row((name, sha256, config, size_bytes, uploaded_at, activated_at): Row) -> StoredHandler {
    StoredHandler {
        name,
        sha256,
        config: config.0,
        size_bytes,
        uploaded_at,
        activated_at: activated_at.unwrap_or(uploaded_at),
    }
}

impl Store {
    /// Stores a version and makes it the newest of its name (uploading the same bytes again
    /// re-activates them with the new config).
    pub async fn put_handler(
        &self,
        name: &str,
        sha256: &str,
        wasm: &[u8],
        config: &Value,
    ) -> Result<()> {
        let size = i64::try_from(wasm.len()).unwrap_or(i64::MAX);
        let config = Json(config.clone());
        let now = Time::now();
        on_connection!(self, |conn| {
            diesel::insert_into(handler::table)
                .values((
                    handler::name.eq(name),
                    handler::sha256.eq(sha256),
                    handler::wasm.eq(wasm),
                    handler::config.eq(&config),
                    handler::size_bytes.eq(size),
                    handler::uploaded_at.eq(now),
                    handler::activated_at.eq(Some(now)),
                ))
                .on_conflict((handler::name, handler::sha256))
                .do_update()
                .set((
                    handler::config.eq(&config),
                    handler::uploaded_at.eq(now),
                    handler::activated_at.eq(Some(now)),
                ))
                .execute(conn)
                .await?
        });
        Ok(())
    }

    /// Makes the stored version `sha256` of `name` the active one again; false if there is
    /// no such version.
    pub async fn activate_handler(&self, name: &str, sha256: &str) -> Result<bool> {
        let now = Time::now();
        let updated = on_connection!(self, |conn| {
            diesel::update(handler::table.find((name, sha256)))
                .set(handler::activated_at.eq(Some(now)))
                .execute(conn)
                .await?
        });
        Ok(updated == 1)
    }

    /// Every stored version, the active one first within each name, then by activation.
    pub async fn handler_versions(&self) -> Result<Vec<StoredHandler>> {
        let rows: Vec<Row> = on_connection!(self, |conn| {
            handler::table
                .select((
                    handler::name,
                    handler::sha256,
                    handler::config,
                    handler::size_bytes,
                    handler::uploaded_at,
                    handler::activated_at,
                ))
                .order((
                    handler::name,
                    handler::activated_at.desc(),
                    handler::uploaded_at.desc(),
                ))
                .load(conn)
                .await?
        });
        Ok(rows.into_iter().map(from_row).collect())
    }

    /// The bytes of one version.
    pub async fn handler_wasm(&self, name: &str, sha256: &str) -> Result<Option<Vec<u8>>> {
        Ok(on_connection!(self, |conn| {
            handler::table
                .find((name, sha256))
                .select(handler::wasm)
                .first(conn)
                .await
                .optional()?
        }))
    }

    /// Deletes every version of `name`; returns how many there were.
    pub async fn delete_handler(&self, name: &str) -> Result<usize> {
        Ok(on_connection!(self, |conn| {
            diesel::delete(handler::table.filter(handler::name.eq(name)))
                .execute(conn)
                .await?
        }))
    }
}
