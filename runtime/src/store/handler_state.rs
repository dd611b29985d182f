//! Handlers' key-value state: small values a component keeps between calls, in one namespace
//! per handler name. Every operation is one statement (two for a write: the quota's reading,
//! then the write), each atomic on its own, so none holds a transaction open across a round
//! trip and none upgrades a read lock on SQLite. An expired row is as good as absent: reads
//! and the quota skip it, writes replace it, and [`Store::purge_expired_state`] deletes it.

use diesel::dsl::{count_star, sum};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::handler_state as state;
use super::sql_types::Time;
use super::{Result, Store, on_connection};

/// How much one namespace may hold.
#[derive(Debug, Clone, Copy)]
pub struct StateQuota {
    pub max_keys: i64,
    pub max_bytes: i64,
}

/// A write refused because the namespace would hold more than its quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverQuota {
    /// It holds this many keys already.
    Keys(i64),
    /// It would hold this many bytes.
    Bytes(i64),
}

/// A row's size for the byte quota: its key and value together.
fn size_of(key: &str, value: &[u8]) -> i32 {
    i32::try_from(key.len() + value.len()).unwrap_or(i32::MAX)
}

/// The statement that writes a row whatever is there (`INSERT … ON CONFLICT DO UPDATE`), to
/// execute as it is or after a `filter` on the row it would replace.
macro_rules! upsert {
    ($namespace:expr, $key:expr, $value:expr, $expires_at:expr, $now:expr) => {{
        let size = size_of($key, $value);
        diesel::insert_into(state::table)
            .values((
                state::namespace.eq($namespace),
                state::key.eq($key),
                state::value.eq($value),
                state::size_bytes.eq(size),
                state::expires_at.eq($expires_at),
                state::updated_at.eq($now),
            ))
            .on_conflict((state::namespace, state::key))
            .do_update()
            .set((
                state::value.eq($value),
                state::size_bytes.eq(size),
                state::expires_at.eq($expires_at),
                state::updated_at.eq($now),
            ))
    }};
}

/// Rows that have not expired at `now`.
macro_rules! live {
    ($now:expr) => {
        state::expires_at.is_null().or(state::expires_at.gt($now))
    };
}

impl Store {
    /// The value of `key` in `namespace`, unless it is unset or expired.
    pub async fn state_get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let now = Time::now();
        Ok(on_connection!(self, |conn| {
            state::table
                .find((namespace, key))
                .filter(live!(now))
                .select(state::value)
                .first::<Vec<u8>>(conn)
                .await
                .optional()?
        }))
    }

    /// Whether writing `size` bytes under `key` keeps `namespace` within `quota`: its other
    /// live keys, plus this one. Checked before the write, not with it, so writes running at
    /// the same moment can together pass the quota by their own size.
    async fn within_quota(
        &self,
        namespace: &str,
        key: &str,
        size: i32,
        quota: StateQuota,
    ) -> Result<Result<(), OverQuota>> {
        let now = Time::now();
        let (keys, bytes): (i64, Option<i64>) = on_connection!(self, |conn| {
            state::table
                .filter(state::namespace.eq(namespace))
                .filter(state::key.ne(key))
                .filter(live!(now))
                .select((count_star(), sum(state::size_bytes)))
                .first(conn)
                .await?
        });
        let bytes = bytes.unwrap_or(0) + i64::from(size);
        Ok(if keys >= quota.max_keys {
            Err(OverQuota::Keys(keys))
        } else if bytes > quota.max_bytes {
            Err(OverQuota::Bytes(bytes))
        } else {
            Ok(())
        })
    }

    /// Sets `key` to `value`, expiring at `expires_at` (never when `None`).
    pub async fn state_set(
        &self,
        namespace: &str,
        key: &str,
        value: &[u8],
        expires_at: Option<Time>,
        quota: StateQuota,
    ) -> Result<Result<(), OverQuota>> {
        let size = size_of(key, value);
        if let Err(over) = self.within_quota(namespace, key, size, quota).await? {
            return Ok(Err(over));
        }
        let now = Time::now();
        on_connection!(self, |conn| {
            upsert!(namespace, key, value, expires_at, now)
                .execute(conn)
                .await?
        });
        Ok(Ok(()))
    }

    /// Deletes `key`; true if it was set (and not expired).
    pub async fn state_delete(&self, namespace: &str, key: &str) -> Result<bool> {
        let now = Time::now();
        let deleted = on_connection!(self, |conn| {
            // An expired row goes too, but does not count as set.
            diesel::delete(state::table.find((namespace, key)))
                .returning(state::expires_at)
                .get_results::<Option<Time>>(conn)
                .await?
        });
        Ok(deleted
            .iter()
            .any(|expires| expires.is_none_or(|at| at > now)))
    }

    /// If the value of `key` is `expected` (`None`: unset), sets it to `new` (`None`:
    /// deletes it) expiring at `expires_at`; true if it did. One conditional statement, so
    /// two calls racing for the same key cannot both succeed.
    pub async fn state_swap(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        expires_at: Option<Time>,
        quota: StateQuota,
    ) -> Result<Result<bool, OverQuota>> {
        if let Some(new) = new {
            let size = size_of(key, new);
            if let Err(over) = self.within_quota(namespace, key, size, quota).await? {
                return Ok(Err(over));
            }
        }
        let now = Time::now();
        let changed = match (expected, new) {
            (None, None) => return Ok(Ok(self.state_get(namespace, key).await?.is_none())),
            (None, Some(new)) => on_connection!(self, |conn| {
                // Inserted, or put over a row that has expired; a live row stays as it is.
                let insert = upsert!(namespace, key, new, expires_at, now);
                diesel::query_dsl::methods::FilterDsl::filter(insert, state::expires_at.le(now))
                    .execute(conn)
                    .await?
            }),
            (Some(expected), Some(new)) => on_connection!(self, |conn| {
                diesel::update(
                    state::table
                        .find((namespace, key))
                        .filter(state::value.eq(expected))
                        .filter(live!(now)),
                )
                .set((
                    state::value.eq(new),
                    state::size_bytes.eq(size_of(key, new)),
                    state::expires_at.eq(expires_at),
                    state::updated_at.eq(now),
                ))
                .execute(conn)
                .await?
            }),
            (Some(expected), None) => on_connection!(self, |conn| {
                diesel::delete(
                    state::table
                        .find((namespace, key))
                        .filter(state::value.eq(expected))
                        .filter(live!(now)),
                )
                .execute(conn)
                .await?
            }),
        };
        Ok(Ok(changed == 1))
    }

    /// Deletes every expired row; returns how many.
    pub async fn purge_expired_state(&self) -> Result<usize> {
        let now = Time::now();
        Ok(on_connection!(self, |conn| {
            diesel::delete(state::table.filter(state::expires_at.le(now)))
                .execute(conn)
                .await?
        }))
    }

    /// Deletes the whole of `namespace` (its handler is gone); returns how many keys it held.
    pub async fn delete_state_namespace(&self, namespace: &str) -> Result<usize> {
        Ok(on_connection!(self, |conn| {
            diesel::delete(state::table.filter(state::namespace.eq(namespace)))
                .execute(conn)
                .await?
        }))
    }
}
