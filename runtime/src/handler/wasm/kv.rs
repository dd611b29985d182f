//! The key-value state behind `hookwing:action/kv`: the limits, the store's operations on the
//! server's own runtime, and a call's view of its handler's namespace.
//!
//! A call's store operations run on the runtime that started the host, not on the guest
//! threads a computing guest moves to (`offload`): the database's connections and their
//! drivers stay with the server, at its priority. At most half the store's connections serve
//! key-value operations at once, so handlers busy with their state leave the event store room
//! to record everyone's calls.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;

use crate::store::sql_types::Time;
use crate::store::{self, OverQuota, StateQuota, Store};

/// The longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// Operations one call may make.
pub const MAX_OPS_PER_CALL: u32 = 1000;
/// The longest TTL: a year.
pub const MAX_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// Server-wide limits of every namespace.
#[derive(Debug, Clone, Copy)]
pub struct KvLimits {
    pub max_value_bytes: usize,
    pub quota: StateQuota,
}

/// Why an operation failed; each maps onto the WIT's `kv.error`. The texts are for the
/// handler's author and name no server internals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvFailure {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    QuotaExceeded(String),
    #[error("the key-value store did not answer")]
    Unavailable,
}

/// Whether a call's writes reach the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StateWrites {
    /// An attempt: writes are stored.
    #[default]
    Persist,
    /// A replay that records nothing: the call reads the store, but its writes are kept for
    /// the call only, so that replaying leaves the state as it found it.
    CallOnly,
}

/// The host's key-value service, shared by every call.
pub struct KvService {
    store: Store,
    limits: KvLimits,
    operations: prometheus::HistogramVec,
    runtime: tokio::runtime::Handle,
    in_flight: Arc<Semaphore>,
}

impl KvService {
    /// A service on `store`, driven by the current runtime (the server's).
    pub fn new(store: Store, limits: KvLimits, operations: prometheus::HistogramVec) -> Self {
        let in_flight = Arc::new(Semaphore::new((store.pool_size() / 2).max(1)));
        Self {
            store,
            limits,
            operations,
            runtime: tokio::runtime::Handle::current(),
            in_flight,
        }
    }

    /// Runs `work`, one `operation` of a call, and counts its outcome and time.
    async fn measured<T>(
        &self,
        operation: &str,
        work: impl Future<Output = Result<T, KvFailure>>,
    ) -> Result<T, KvFailure> {
        let started = Instant::now();
        let result = work.await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(KvFailure::Invalid(_)) => "invalid",
            Err(KvFailure::QuotaExceeded(_)) => "quota_exceeded",
            Err(KvFailure::Unavailable) => "unavailable",
        };
        self.operations
            .with_label_values(&[operation, outcome])
            .observe(started.elapsed().as_secs_f64());
        result
    }

    /// Runs the store operation `operation` makes on the server's runtime, once a
    /// connection share is free.
    async fn run<T, Fut>(
        self: &Arc<Self>,
        operation: impl FnOnce(Arc<Self>) -> Fut,
    ) -> Result<T, KvFailure>
    where
        T: Send + 'static,
        Fut: Future<Output = store::Result<T>> + Send + 'static,
    {
        let permits = Arc::clone(&self.in_flight);
        let operation = operation(Arc::clone(self));
        let task = self.runtime.spawn(async move {
            let _permit = permits.acquire_owned().await.ok()?;
            match operation.await {
                Ok(value) => Some(value),
                Err(error) => {
                    tracing::warn!(%error, "a handler's key-value operation failed");
                    None
                }
            }
        });
        task.await.ok().flatten().ok_or(KvFailure::Unavailable)
    }
}

/// A value a call wrote, with when it expires; `None` for a key it deleted.
type Written = Option<(Vec<u8>, Option<DateTime<Utc>>)>;

/// One call's view of its handler's namespace.
pub struct KvSession {
    service: Arc<KvService>,
    namespace: Arc<str>,
    ops: u32,
    /// [`StateWrites::CallOnly`]: what the call wrote (`None`: deleted), read before the
    /// store.
    overlay: Option<HashMap<String, Written>>,
}

impl KvSession {
    pub fn new(service: Arc<KvService>, namespace: Arc<str>, writes: StateWrites) -> Self {
        Self {
            service,
            namespace,
            ops: 0,
            overlay: (writes == StateWrites::CallOnly).then(HashMap::new),
        }
    }

    /// Counts one operation on `key`, refusing it past the call's budget or the key's limit.
    fn admit(&mut self, key: &str) -> Result<(), KvFailure> {
        self.ops += 1;
        if self.ops > MAX_OPS_PER_CALL {
            return Err(KvFailure::QuotaExceeded(format!(
                "a call may make at most {MAX_OPS_PER_CALL} key-value operations"
            )));
        }
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(KvFailure::Invalid(format!(
                "a key is 1 to {MAX_KEY_BYTES} bytes; this one is {}",
                key.len()
            )));
        }
        Ok(())
    }

    fn check_value(&self, value: &[u8]) -> Result<(), KvFailure> {
        let max = self.service.limits.max_value_bytes;
        if value.len() > max {
            return Err(KvFailure::Invalid(format!(
                "a value is at most {max} bytes; this one is {}",
                value.len()
            )));
        }
        Ok(())
    }

    /// The TTL as an instant, refusing zero and more than [`MAX_TTL`].
    fn expiry(ttl_ms: Option<u64>) -> Result<Option<DateTime<Utc>>, KvFailure> {
        let Some(ttl_ms) = ttl_ms else {
            return Ok(None);
        };
        let ttl = Duration::from_millis(ttl_ms);
        if ttl.is_zero() || ttl > MAX_TTL {
            return Err(KvFailure::Invalid(format!(
                "a TTL is 1 ms to {} days; this one is {ttl_ms} ms",
                MAX_TTL.as_secs() / 86_400
            )));
        }
        let ttl = chrono::Duration::from_std(ttl)
            .map_err(|_| KvFailure::Invalid(format!("a TTL of {ttl_ms} ms is out of range")))?;
        Ok(Some(Utc::now() + ttl))
    }

    fn over_quota(over: OverQuota, quota: StateQuota) -> KvFailure {
        KvFailure::QuotaExceeded(match over {
            OverQuota::Keys(keys) => {
                format!("the handler's namespace holds {keys} keys, its limit (wasm.kv_max_keys)")
            }
            OverQuota::Bytes(bytes) => format!(
                "the write would make the handler's namespace {bytes} bytes, over its limit \
                 of {} (wasm.kv_max_bytes)",
                quota.max_bytes
            ),
        })
    }

    /// What the overlay says of `key`: `Some(None)` deleted (or expired), `None` not written.
    fn overlaid(&self, key: &str) -> Option<Option<Vec<u8>>> {
        let entry = self.overlay.as_ref()?.get(key)?;
        Some(
            entry
                .as_ref()
                .filter(|(_, expires)| expires.is_none_or(|at| at > Utc::now()))
                .map(|(value, _)| value.clone()),
        )
    }

    /// The value of `key`, reading the store unless the overlay has it.
    async fn current(&self, key: &str) -> Result<Option<Vec<u8>>, KvFailure> {
        if let Some(value) = self.overlaid(key) {
            return Ok(value);
        }
        let (namespace, key) = (self.namespace.clone(), key.to_owned());
        self.service
            .run(move |service| async move { service.store.state_get(&namespace, &key).await })
            .await
    }

    pub async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, KvFailure> {
        let service = Arc::clone(&self.service);
        service.measured("get", self.get_unmeasured(key)).await
    }

    pub async fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> Result<(), KvFailure> {
        let service = Arc::clone(&self.service);
        let work = self.set_unmeasured(key, value, ttl_ms);
        service.measured("set", work).await
    }

    pub async fn delete(&mut self, key: String) -> Result<bool, KvFailure> {
        let service = Arc::clone(&self.service);
        service
            .measured("delete", self.delete_unmeasured(key))
            .await
    }

    pub async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
        ttl_ms: Option<u64>,
    ) -> Result<bool, KvFailure> {
        let service = Arc::clone(&self.service);
        let work = self.compare_and_swap_unmeasured(key, expected, new, ttl_ms);
        service.measured("compare_and_swap", work).await
    }

    /// Runs a write that the namespace's quota may refuse, with what every write needs.
    async fn write<T, Fut>(
        &self,
        expires_at: Option<DateTime<Utc>>,
        operation: impl FnOnce(Arc<KvService>, Arc<str>, Option<Time>, StateQuota) -> Fut,
    ) -> Result<T, KvFailure>
    where
        T: Send + 'static,
        Fut: Future<Output = store::Result<Result<T, OverQuota>>> + Send + 'static,
    {
        let quota = self.service.limits.quota;
        let namespace = Arc::clone(&self.namespace);
        let expires_at = expires_at.map(Time::from);
        self.service
            .run(move |service| operation(service, namespace, expires_at, quota))
            .await?
            .map_err(|over| Self::over_quota(over, quota))
    }

    async fn get_unmeasured(&mut self, key: String) -> Result<Option<Vec<u8>>, KvFailure> {
        self.admit(&key)?;
        self.current(&key).await
    }

    async fn set_unmeasured(
        &mut self,
        key: String,
        value: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> Result<(), KvFailure> {
        self.admit(&key)?;
        self.check_value(&value)?;
        let expires_at = Self::expiry(ttl_ms)?;
        if let Some(overlay) = &mut self.overlay {
            overlay.insert(key, Some((value, expires_at)));
            return Ok(());
        }
        self.write(
            expires_at,
            move |service, namespace, expires_at, quota| async move {
                service
                    .store
                    .state_set(&namespace, &key, &value, expires_at, quota)
                    .await
            },
        )
        .await
    }

    async fn delete_unmeasured(&mut self, key: String) -> Result<bool, KvFailure> {
        self.admit(&key)?;
        if self.overlay.is_some() {
            let existed = self.current(&key).await?.is_some();
            if let Some(overlay) = &mut self.overlay {
                overlay.insert(key, None);
            }
            return Ok(existed);
        }
        let namespace = self.namespace.clone();
        self.service
            .run(move |service| async move { service.store.state_delete(&namespace, &key).await })
            .await
    }

    async fn compare_and_swap_unmeasured(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
        ttl_ms: Option<u64>,
    ) -> Result<bool, KvFailure> {
        self.admit(&key)?;
        if let Some(new) = &new {
            self.check_value(new)?;
        }
        let expires_at = Self::expiry(ttl_ms)?;
        if self.overlay.is_some() {
            if self.current(&key).await? != expected {
                return Ok(false);
            }
            if let Some(overlay) = &mut self.overlay {
                overlay.insert(key, new.map(|value| (value, expires_at)));
            }
            return Ok(true);
        }
        self.write(
            expires_at,
            move |service, namespace, expires_at, quota| async move {
                service
                    .store
                    .state_swap(
                        &namespace,
                        &key,
                        expected.as_deref(),
                        new.as_deref(),
                        expires_at,
                        quota,
                    )
                    .await
            },
        )
        .await
    }
}
