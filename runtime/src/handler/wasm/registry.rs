//! The handlers this server can run: per name, the active (newest) version and any pinned
//! versions compiled on demand. Swapped atomically on upload; a call holds an `Arc` to the
//! version it started on, so in-flight calls finish on the old code.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use super::outbound::OutboundPolicy;
use super::world::HandlerPre;
use crate::store::StoredHandler;

/// The JSON config uploaded with a handler.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandlerConfig {
    /// Hosts the handler may call over `wasi:http`: `host`, `host:port` or `*.domain`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
    /// Let allow-listed names resolve to loopback, private or link-local addresses.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_private_network: bool,
    /// Linear memory limit per call, MiB (server default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit_mib: Option<u32>,
    /// Calls of this handler that may run at once; more wait (within their deadline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    /// Keep the handler's outbound HTTP exchanges with each attempt (bodies cut at 32 KiB,
    /// secret headers redacted), so that a replay in `recorded` mode can answer from them
    /// instead of calling out again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub record_outbound_http: bool,
    /// Values the guest reads with `config.get`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
}

/// A compiled, ready-to-instantiate handler version.
pub struct Loaded {
    pub name: String,
    /// The key-value namespace of its calls: the handler's name, shared by its versions.
    pub kv_namespace: Arc<str>,
    pub sha256: String,
    pub pre: HandlerPre,
    pub memory_limit: usize,
    pub config: Arc<BTreeMap<String, String>>,
    pub policy: Arc<OutboundPolicy>,
    /// Calls of this handler that may run at once: its `max_concurrency`, never more than
    /// its fair share of the server's instances.
    pub concurrency: Arc<Semaphore>,
    /// The config it was loaded with, to tell whether a reload must rebuild it.
    pub handler_config: HandlerConfig,
}

impl Loaded {
    pub fn new(
        name: &str,
        sha256: &str,
        pre: HandlerPre,
        config: &HandlerConfig,
        default_memory_mib: u32,
        fair_share: usize,
    ) -> Self {
        let memory_mib = config.memory_limit_mib.unwrap_or(default_memory_mib);
        Self {
            name: name.to_owned(),
            kv_namespace: Arc::from(name),
            sha256: sha256.to_owned(),
            pre,
            memory_limit: usize::try_from(memory_mib).unwrap_or(usize::MAX) << 20,
            config: Arc::new(config.config.clone()),
            policy: Arc::new(OutboundPolicy {
                allowed_hosts: config.allowed_hosts.clone(),
                allow_private_network: config.allow_private_network,
            }),
            concurrency: Arc::new(Semaphore::new(
                config
                    .max_concurrency
                    .map_or(fair_share, |n| usize::try_from(n).unwrap_or(usize::MAX))
                    .min(fair_share),
            )),
            handler_config: config.clone(),
        }
    }
}

/// Handler versions known to this server.
#[derive(Default)]
pub struct Registry {
    active: ArcSwap<HashMap<String, Arc<Loaded>>>,
    /// Every stored version (without bytes), newest first per name.
    versions: ArcSwap<Vec<StoredHandler>>,
    pinned: Mutex<HashMap<(String, String), Arc<Loaded>>>,
}

impl Registry {
    /// The active version of `name`, or the version whose sha256 starts with `pin`.
    pub fn resolve(&self, name: &str, pin: Option<&str>) -> Resolved {
        let Some(pin) = pin else {
            return self
                .active
                .load()
                .get(name)
                .cloned()
                .map_or(Resolved::Missing, Resolved::Ready);
        };
        let Some(version) = self.version(name, pin) else {
            return Resolved::Missing;
        };
        if let Some(active) = self
            .active
            .load()
            .get(name)
            .filter(|a| a.sha256 == version.sha256)
        {
            return Resolved::Ready(active.clone());
        }
        let pinned = self
            .pinned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match pinned.get(&(name.to_owned(), version.sha256.clone())) {
            Some(loaded) => Resolved::Ready(loaded.clone()),
            None => Resolved::NotLoaded(version),
        }
    }

    /// The stored version of `name` whose sha256 starts with `pin`.
    pub fn version(&self, name: &str, pin: &str) -> Option<StoredHandler> {
        self.versions
            .load()
            .iter()
            .find(|v| v.name == name && v.sha256.starts_with(pin))
            .cloned()
    }

    pub fn remember_pinned(&self, loaded: Arc<Loaded>) {
        let mut pinned = self
            .pinned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        pinned.insert((loaded.name.clone(), loaded.sha256.clone()), loaded);
    }

    /// Replaces what is known, atomically for callers.
    pub fn replace(&self, active: HashMap<String, Arc<Loaded>>, versions: Vec<StoredHandler>) {
        self.active.store(Arc::new(active));
        self.versions.store(Arc::new(versions));
    }

    pub fn active(&self) -> Arc<HashMap<String, Arc<Loaded>>> {
        self.active.load_full()
    }

    pub fn versions(&self) -> Arc<Vec<StoredHandler>> {
        self.versions.load_full()
    }
}

/// The outcome of [`Registry::resolve`].
pub enum Resolved {
    Ready(Arc<Loaded>),
    /// A stored version that has not been compiled in this process yet.
    NotLoaded(StoredHandler),
    Missing,
}
