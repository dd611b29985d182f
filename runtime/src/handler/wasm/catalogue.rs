//! The catalogue of uploaded components: validated, compiled and stored on upload, reloaded
//! when another replica changes them, listed and deleted through the handlers API, and
//! resolved (by name, or by pinned version) for a call.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::registry::{Loaded, Resolved};
use super::world::HandlerPre;
use super::{HandlerConfig, InvalidComponent, WasmError, WasmHost, WasmRef, compiler, component};
use crate::store::StoredHandler;

/// The stored handler versions, as metadata validation sees them: an action may only name a
/// handler (version) that exists.
#[derive(Debug, Clone, Default)]
pub struct KnownHandlers {
    versions: Vec<(String, String)>,
}

impl KnownHandlers {
    pub fn from_stored(versions: &[StoredHandler]) -> Self {
        Self {
            versions: versions
                .iter()
                .map(|v| (v.name.clone(), v.sha256.clone()))
                .collect(),
        }
    }

    /// Whether `wasm_ref` names a stored handler, or a stored version of it when pinned.
    pub fn contains(&self, wasm_ref: &WasmRef) -> bool {
        self.versions.iter().any(|(name, sha256)| {
            *name == wasm_ref.name
                && wasm_ref
                    .pin
                    .as_deref()
                    .is_none_or(|pin| sha256.starts_with(pin))
        })
    }
}

/// The outcome of [`WasmHost::activate`].
#[derive(Debug)]
pub enum Activation {
    Activated(HandlerInfo),
    NoSuchVersion,
    /// The prefix names this many versions.
    Ambiguous(usize),
}

/// What is known about one stored handler version, for the API.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HandlerInfo {
    pub name: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub uploaded_at: chrono::DateTime<chrono::Utc>,
    /// When it last became the active version (its upload, or an activation since).
    pub activated_at: chrono::DateTime<chrono::Utc>,
    pub active: bool,
    pub config: Value,
    /// The WIT world the version implements (`hookwing:action/action-handler@0.2.0`), when
    /// this server has it compiled (the active version always).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub world: Option<&'static str>,
}

impl HandlerInfo {
    fn from_stored(stored: &StoredHandler, loaded: Option<&Loaded>) -> Self {
        Self {
            name: stored.name.clone(),
            sha256: stored.sha256.clone(),
            size_bytes: stored.size_bytes,
            uploaded_at: stored.uploaded_at.0,
            activated_at: stored.activated_at.0,
            active: loaded.is_some(),
            config: stored.config.clone(),
            world: loaded.map(|loaded| loaded.pre.world()),
        }
    }
}

impl WasmHost {
    /// Re-reads the stored handlers and swaps in their active versions.
    pub async fn reload(&self) -> Result<(), WasmError> {
        let versions = self.store.handler_versions().await?;
        let current = self.registry.active();
        let mut active = HashMap::new();
        for stored in &versions {
            if active.contains_key(&stored.name) {
                continue; // older version of a name already seen
            }
            let loaded = match current.get(&stored.name) {
                Some(loaded) if loaded.sha256 == stored.sha256 && same_config(loaded, stored) => {
                    loaded.clone()
                }
                _ => Arc::new(self.load(stored).await?),
            };
            active.insert(stored.name.clone(), loaded);
        }
        self.registry.replace(active, versions);
        Ok(())
    }

    async fn load(&self, stored: &StoredHandler) -> Result<Loaded, WasmError> {
        let load_error = |reason: String| WasmError::Load {
            name: stored.name.clone(),
            sha256: stored.sha256.clone(),
            reason,
        };
        let bytes = self
            .store
            .handler_wasm(&stored.name, &stored.sha256)
            .await?
            .ok_or_else(|| load_error("its bytes are gone from the store".into()))?;
        let config: HandlerConfig = serde_json::from_value(stored.config.clone())
            .map_err(|e| load_error(format!("stored config: {e}")))?;
        let pre = self
            .compile(bytes)
            .await
            .map_err(|e| load_error(e.to_string()))?;
        Ok(Loaded::new(
            &stored.name,
            &stored.sha256,
            pre,
            &config,
            self.settings.default_memory_mib,
            self.fair_share(),
        ))
    }

    async fn compile(&self, bytes: Vec<u8>) -> Result<HandlerPre, InvalidComponent> {
        let engine = self.engine.clone();
        let linker = self.linker.clone();
        let max = self.settings.max_handler_bytes;
        tokio::task::spawn_blocking(move || component::compile(&engine, &linker, &bytes, max))
            .await
            .unwrap_or_else(|e| {
                Err(InvalidComponent::Invalid(format!(
                    "compilation panicked: {e}"
                )))
            })
    }

    /// Validates, compiles and stores a new version of `name`, then activates it.
    pub async fn upload(
        &self,
        name: &str,
        bytes: Vec<u8>,
        config: HandlerConfig,
    ) -> Result<HandlerInfo, WasmError> {
        if let Some(mib) = config.memory_limit_mib {
            let max = self.settings.engine.max_memory_bytes >> 20;
            if mib == 0 || usize::try_from(mib).unwrap_or(usize::MAX) > max {
                return Err(WasmError::Config(format!(
                    "memory_limit_mib must be between 1 and {max}"
                )));
            }
        }
        if config.max_concurrency == Some(0) {
            return Err(WasmError::Config(
                "max_concurrency must be at least 1".into(),
            ));
        }
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let config_json =
            serde_json::to_value(&config).map_err(|e| WasmError::Config(e.to_string()))?;
        if let Some(program) = &self.settings.compile.program {
            component::check_header(&bytes, self.settings.max_handler_bytes)?;
            compiler::compile_in_child(
                program,
                &self.settings.engine,
                &self.settings.compile,
                &bytes,
            )
            .await?;
        }
        let pre = self.compile(bytes.clone()).await?;
        self.store
            .put_handler(name, &sha256, &bytes, &config_json)
            .await?;
        let loaded = Loaded::new(
            name,
            &sha256,
            pre,
            &config,
            self.settings.default_memory_mib,
            self.fair_share(),
        );
        let mut active = HashMap::clone(&self.registry.active());
        active.insert(name.to_owned(), Arc::new(loaded));
        let versions = self.store.handler_versions().await?;
        self.registry.replace(active, versions);
        self.info(name)
            .ok_or_else(|| WasmError::Config("the upload vanished".into()))
    }

    /// Makes the stored version of `name` whose sha256 starts with `pin` the active one
    /// again (calls in flight finish on the version they started on).
    pub async fn activate(&self, name: &str, pin: &str) -> Result<Activation, WasmError> {
        let matching: Vec<StoredHandler> = self
            .registry
            .versions()
            .iter()
            .filter(|v| v.name == name && v.sha256.starts_with(pin))
            .cloned()
            .collect();
        let [version] = matching.as_slice() else {
            return Ok(if matching.is_empty() {
                Activation::NoSuchVersion
            } else {
                Activation::Ambiguous(matching.len())
            });
        };
        if !self.store.activate_handler(name, &version.sha256).await? {
            return Ok(Activation::NoSuchVersion);
        }
        self.reload().await?;
        Ok(self
            .info(name)
            .map_or(Activation::NoSuchVersion, Activation::Activated))
    }

    /// Deletes every version of `name`, and its key-value state; false if there was none.
    pub async fn delete(&self, name: &str) -> Result<bool, WasmError> {
        let deleted = self.store.delete_handler(name).await? > 0;
        if deleted {
            self.store.delete_state_namespace(name).await?;
        }
        let mut active = HashMap::clone(&self.registry.active());
        active.remove(name);
        let versions = self.store.handler_versions().await?;
        self.registry.replace(active, versions);
        Ok(deleted)
    }

    /// The active version of every handler.
    pub fn list(&self) -> Vec<HandlerInfo> {
        let active = self.registry.active();
        let mut seen = std::collections::HashSet::new();
        self.registry
            .versions()
            .iter()
            .filter(|v| seen.insert(v.name.clone()))
            .map(|v| {
                HandlerInfo::from_stored(
                    v,
                    active
                        .get(&v.name)
                        .filter(|a| a.sha256 == v.sha256)
                        .map(AsRef::as_ref),
                )
            })
            .collect()
    }

    /// The active version of `name`.
    pub fn info(&self, name: &str) -> Option<HandlerInfo> {
        self.list().into_iter().find(|info| info.name == name)
    }

    /// Every stored version of `name`, newest first.
    pub fn versions_of(&self, name: &str) -> Vec<HandlerInfo> {
        let active = self.registry.active();
        self.registry
            .versions()
            .iter()
            .filter(|v| v.name == name)
            .map(|v| {
                let loaded = active.get(name).filter(|a| a.sha256 == v.sha256);
                HandlerInfo::from_stored(v, loaded.map(AsRef::as_ref))
            })
            .collect()
    }

    /// The stored handler versions, for metadata validation.
    pub fn known(&self) -> KnownHandlers {
        KnownHandlers::from_stored(&self.registry.versions())
    }

    pub(super) async fn resolve(&self, wasm_ref: &WasmRef) -> Result<Arc<Loaded>, String> {
        match self
            .registry
            .resolve(&wasm_ref.name, wasm_ref.pin.as_deref())
        {
            Resolved::Ready(loaded) => Ok(loaded),
            Resolved::Missing => Err(format!(
                "no wasm handler `{}` is uploaded",
                display(wasm_ref)
            )),
            Resolved::NotLoaded(stored) => {
                let loaded = Arc::new(self.load(&stored).await.map_err(|e| e.to_string())?);
                self.registry.remember_pinned(loaded.clone());
                Ok(loaded)
            }
        }
    }
}

/// Whether a loaded version is still what the store holds (same bytes, same config).
fn same_config(loaded: &Loaded, stored: &StoredHandler) -> bool {
    serde_json::from_value::<HandlerConfig>(stored.config.clone())
        .is_ok_and(|config| config == loaded.handler_config)
}

fn display(wasm_ref: &WasmRef) -> String {
    match &wasm_ref.pin {
        Some(pin) => format!("{}@{pin}", wasm_ref.name),
        None => wasm_ref.name.clone(),
    }
}
