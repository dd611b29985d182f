//! Which version of the handler world a component implements, and one way to call it
//! whatever the version: the rest of the host sees a [`HandlerPre`], a [`WitCall`] in and an
//! [`Answer`] out. The versions' records have the same shape, so converting is field by field,
//! written once by a macro for all of them.

use wasmtime::Store;
use wasmtime::component::{Component, InstancePre};

use super::bindings::{self, v0_1, v0_2};
use super::state::HostState;

/// A compiled handler, pre-instantiated against the host's linker.
pub enum HandlerPre {
    V0_1(v0_1::ActionHandlerPre<HostState>),
    V0_2(v0_2::ActionHandlerPre<HostState>),
}

/// One request, before it is given the record types of a version.
pub struct WitCall {
    pub action: String,
    pub input: String,
    pub session_variables: Vec<(String, String)>,
    pub request_query: String,
    pub event_id: String,
    pub attempt: u32,
    pub created_at: String,
}

/// What a handler answered.
pub enum Answer {
    /// The action's output, as JSON text (not yet checked).
    Output(String),
    Reject {
        message: String,
        extensions: Option<String>,
    },
    Retry {
        reason: String,
        after_ms: Option<u64>,
    },
}

/// Why a component is not a handler of any supported version.
pub enum Mismatch {
    /// It exports no handler interface of a version this host knows.
    NoHandler,
    /// It imports `hookwing:action` interfaces of another version than the handler it
    /// exports (`import`, `version`).
    MixedVersions { import: String, version: String },
}

/// The package version of an interface name (`hookwing:action/log@0.2.0` → `0.2.0`).
fn version_of(name: &str) -> Option<&str> {
    name.rsplit_once('@').map(|(_, version)| version)
}

/// Which world `component` implements, from the handler interface it exports, checking that
/// every `hookwing:action` interface it imports is of the same version.
pub fn detect(component: &Component, engine: &wasmtime::Engine) -> Result<&'static str, Mismatch> {
    let ty = component.component_type();
    let world = ty
        .exports(engine)
        .find_map(|(name, _)| match name {
            v0_2::HANDLER_EXPORT => Some(v0_2::WORLD),
            v0_1::HANDLER_EXPORT => Some(v0_1::WORLD),
            _ => None,
        })
        .ok_or(Mismatch::NoHandler)?;
    let version = version_of(world).unwrap_or_default();
    for (name, _) in ty.imports(engine) {
        if name.starts_with("hookwing:action/") && version_of(name) != Some(version) {
            return Err(Mismatch::MixedVersions {
                import: name.to_owned(),
                version: version.to_owned(),
            });
        }
    }
    Ok(world)
}

impl HandlerPre {
    /// Typed access to the exports of `pre`, which implements `world` (from [`detect`]).
    pub fn new(world: &str, pre: InstancePre<HostState>) -> wasmtime::Result<Self> {
        if world == v0_1::WORLD {
            Ok(Self::V0_1(v0_1::ActionHandlerPre::new(pre)?))
        } else {
            Ok(Self::V0_2(v0_2::ActionHandlerPre::new(pre)?))
        }
    }

    /// The world the component implements.
    pub fn world(&self) -> &'static str {
        match self {
            Self::V0_1(_) => v0_1::WORLD,
            Self::V0_2(_) => v0_2::WORLD,
        }
    }

    /// Instantiates the component in `store` (timing that with `instantiated`) and calls its
    /// `handle` once.
    pub async fn handle(
        &self,
        store: &mut Store<HostState>,
        call: &WitCall,
        instantiated: impl FnOnce(),
    ) -> wasmtime::Result<Answer> {
        /// The same steps for each version, with its own record types.
        macro_rules! run {
            ($version:ident, $pre:expr) => {{
                let instance = $pre.instantiate_async(&mut *store).await?;
                instantiated();
                let request = $version::Request {
                    action: call.action.clone(),
                    input: call.input.clone(),
                    session_variables: call.session_variables.clone(),
                    request_query: call.request_query.clone(),
                    event: $version::Event {
                        id: call.event_id.clone(),
                        attempt: call.attempt,
                        created_at: call.created_at.clone(),
                    },
                };
                let answer = instance
                    .hookwing_action_handler()
                    .call_handle(&mut *store, &request)
                    .await?;
                Ok(match answer {
                    Ok(output) => Answer::Output(output),
                    Err($version::HandlerError::Reject(rejection)) => Answer::Reject {
                        message: rejection.message,
                        extensions: rejection.extensions,
                    },
                    Err($version::HandlerError::Retry(retry)) => Answer::Retry {
                        reason: retry.reason,
                        after_ms: retry.after_ms,
                    },
                })
            }};
        }
        match self {
            Self::V0_1(pre) => run!(v0_1, pre),
            Self::V0_2(pre) => run!(v0_2, pre),
        }
    }
}

/// The worlds a handler may implement, for error messages.
pub fn supported() -> String {
    bindings::WORLDS.join(" or ")
}
