//! The handler's key-value state: small values kept by the server between calls, in a
//! namespace of the handler's own (shared by all its versions; no other handler can read
//! it). Typical uses are idempotency records keyed by [`Event::id`](crate::Event), counters
//! and cached tokens.
//!
//! ```
//! use std::time::Duration;
//! use hookwing_sdk::{ActionError, Context};
//!
//! /// Charges once per call, however often the call is retried.
//! fn charge(amount: u64, ctx: &Context) -> Result<String, ActionError> {
//!     let kv = ctx.kv();
//!     let key = format!("charge:{}", ctx.event().id);
//!     if let Some(receipt) = kv.get_string(&key)? {
//!         return Ok(receipt); // an earlier attempt charged already
//!     }
//!     let receipt = format!("receipt-{amount}");
//!     kv.set(&key, &receipt, Some(Duration::from_secs(7 * 86_400)))?;
//!     Ok(receipt)
//! }
//!
//! let test = hookwing_sdk::testing::TestContext::new("charge");
//! assert_eq!(charge(5, &test.context()), Ok("receipt-5".into()));
//! assert_eq!(test.kv_value("charge:00000000-0000-7000-8000-000000000000"),
//!            Some(b"receipt-5".to_vec()));
//! ```
//!
//! Limits (the server's defaults): keys of 1 to 512 bytes, values up to 64 KiB, 10,000 keys
//! and 16 MiB per namespace, 1,000 operations per call, TTLs from 1 ms to a year. The test
//! host refuses keys, values and TTLs past these limits the way the server does. A [`KvError`] converts into an [`ActionError`] with `?`: the store
//! being unavailable becomes a retry, anything else a rejection.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::context::Host;
use crate::error::ActionError;

/// Why a key-value operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    /// The key or value is over its size limit, or the TTL is zero or too long; the same
    /// operation fails the same way again. Also: a value that is not the type asked for
    /// ([`Kv::get_string`], [`Kv::get_json`]).
    Invalid(String),
    /// The namespace is full (keys or bytes), or this call made as many operations as one
    /// call may.
    QuotaExceeded(String),
    /// The store did not answer; a later attempt may succeed.
    Unavailable(String),
}

impl KvError {
    /// Whether a later attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(message) | Self::QuotaExceeded(message) | Self::Unavailable(message) => {
                f.write_str(message)
            }
        }
    }
}

impl std::error::Error for KvError {}

/// With `?`: a retry when the store is unavailable, otherwise a rejection with code
/// `kv-invalid` or `kv-quota-exceeded`.
impl From<KvError> for ActionError {
    fn from(error: KvError) -> Self {
        match error {
            KvError::Unavailable(message) => {
                ActionError::retry(format!("key-value store: {message}"))
            }
            KvError::Invalid(message) => ActionError::new(message).with_code("kv-invalid"),
            KvError::QuotaExceeded(message) => {
                ActionError::new(message).with_code("kv-quota-exceeded")
            }
        }
    }
}

/// The handler's namespace, from [`Context::kv`](crate::Context::kv).
pub struct Kv<'a> {
    pub(crate) host: &'a Host,
}

fn ttl_ms(ttl: Option<Duration>) -> Option<u64> {
    ttl.map(|ttl| u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
}

impl Kv<'_> {
    /// The value of `key`, if it is set and has not expired.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        match self.host {
            #[cfg(target_arch = "wasm32")]
            Host::Component => crate::__private::kv_get(key),
            Host::Test(host) => host.kv_get(key),
        }
    }

    /// [`Kv::get`], as UTF-8 text.
    pub fn get_string(&self, key: &str) -> Result<Option<String>, KvError> {
        self.get(key)?
            .map(|bytes| {
                String::from_utf8(bytes)
                    .map_err(|_| KvError::Invalid(format!("the value of `{key}` is not UTF-8")))
            })
            .transpose()
    }

    /// [`Kv::get`], as JSON read into `T`.
    pub fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, KvError> {
        self.get(key)?
            .map(|bytes| {
                serde_json::from_slice(&bytes).map_err(|e| {
                    KvError::Invalid(format!(
                        "the value of `{key}` is not the JSON expected: {e}"
                    ))
                })
            })
            .transpose()
    }

    /// Sets `key` to `value`; with `ttl` it expires that long from now, without it stays
    /// until deleted.
    pub fn set(
        &self,
        key: &str,
        value: impl AsRef<[u8]>,
        ttl: Option<Duration>,
    ) -> Result<(), KvError> {
        let value = value.as_ref();
        match self.host {
            #[cfg(target_arch = "wasm32")]
            Host::Component => crate::__private::kv_set(key, value, ttl_ms(ttl)),
            Host::Test(host) => host.kv_set(key, value, ttl_ms(ttl)),
        }
    }

    /// [`Kv::set`] with `value` as JSON.
    pub fn set_json<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Option<Duration>,
    ) -> Result<(), KvError> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| KvError::Invalid(format!("the value cannot be encoded: {e}")))?;
        self.set(key, bytes, ttl)
    }

    /// Deletes `key`; true if it was set.
    pub fn delete(&self, key: &str) -> Result<bool, KvError> {
        match self.host {
            #[cfg(target_arch = "wasm32")]
            Host::Component => crate::__private::kv_delete(key),
            Host::Test(host) => host.kv_delete(key),
        }
    }

    /// Atomically: if the value of `key` is `expected` (`None`: not set), sets it to `new`
    /// (`None`: deletes it) and returns true; otherwise changes nothing and returns false.
    /// Of calls racing on one key, exactly one wins.
    pub fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
    ) -> Result<bool, KvError> {
        match self.host {
            #[cfg(target_arch = "wasm32")]
            Host::Component => crate::__private::kv_swap(key, expected, new, ttl_ms(ttl)),
            Host::Test(host) => host.kv_swap(key, expected, new, ttl_ms(ttl)),
        }
    }

    /// Sets `key` only if it is not set; true if it was set now. The building block of
    /// idempotency records and locks.
    pub fn set_if_absent(
        &self,
        key: &str,
        value: impl AsRef<[u8]>,
        ttl: Option<Duration>,
    ) -> Result<bool, KvError> {
        self.compare_and_swap(key, None, Some(value.as_ref()), ttl)
    }
}
