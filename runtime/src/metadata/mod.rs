//! Action metadata in Hasura's shapes: actions, their custom types and permissions.
//!
//! The JSON form here is exactly what Hasura's metadata API and `export_metadata` use, so a
//! Hasura user's metadata moves over unchanged. Everything that accepts metadata goes through
//! [`validate`] before anything is persisted or served.

pub mod directory;
pub mod ops;
pub mod output;
mod retry;
pub mod sdl;
pub mod types;
pub mod validate;

use serde::{Deserialize, Serialize};

pub use crate::handler::http::HeaderConf;
pub use crate::store::ActionKind;

pub use retry::RetryPolicy;
pub use validate::{Catalog, MetadataError, validate};

/// The whole metadata document. Sections of a Hasura export that Hookwing does not serve
/// (sources, remote schemas, …) are accepted and ignored, so a full export can be replayed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(default = "current_version")]
    pub version: u32,
    #[serde(default)]
    pub actions: Vec<Action>,
    #[serde(default)]
    pub custom_types: CustomTypes,
}

fn current_version() -> u32 {
    3
}

impl Metadata {
    /// Empty metadata of the current format version.
    pub fn empty() -> Self {
        Self {
            version: current_version(),
            ..Self::default()
        }
    }

    /// The action called `name`.
    pub fn action(&self, name: &str) -> Option<&Action> {
        self.actions.iter().find(|action| action.name == name)
    }
}

/// One action: a root field whose resolver is a handler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub name: String,
    pub definition: ActionDefinition,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<Permission>,
}

/// How an action is called and delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionDefinition {
    #[serde(default)]
    pub kind: ActionKind,
    #[serde(rename = "type", default)]
    pub operation: Operation,
    #[serde(default)]
    pub arguments: Vec<Argument>,
    pub output_type: String,
    pub handler: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HeaderConf>,
    #[serde(default)]
    pub forward_client_headers: bool,
    /// Seconds; the whole budget for all attempts of a synchronous call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryConf>,
    /// Environment variable holding this action's Standard Webhooks signing secret; overrides
    /// the server's `webhook_signing_secret`. The secret itself never enters the metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret_from_env: Option<String>,
}

/// Default handler timeout, as in Hasura.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;

impl ActionDefinition {
    /// The handler timeout, defaulted.
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS))
    }
}

/// Which root type the action's field lives on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    #[default]
    Mutation,
    Query,
}

/// One argument of an action's field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Argument {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Per-action retry policy; every field falls back to the defaults of the action's kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConf {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_interval_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_interval_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<f64>,
    /// Fraction of each interval randomised away, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<f64>,
}

/// A role allowed to call an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permission {
    pub role: String,
}

/// The types actions use, in Hasura's `custom_types` shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomTypes {
    #[serde(default)]
    pub input_objects: Vec<InputObjectType>,
    #[serde(default)]
    pub objects: Vec<ObjectType>,
    #[serde(default)]
    pub scalars: Vec<ScalarType>,
    #[serde(default)]
    pub enums: Vec<EnumType>,
}

/// An output object type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectType {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub fields: Vec<Field>,
}

/// An input object type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputObjectType {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub fields: Vec<Field>,
}

/// A field of an object or input object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A custom scalar: any JSON value passes through unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalarType {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// An enum type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnumType {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub values: Vec<EnumValue>,
}

/// One value of an enum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnumValue {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_deprecated: bool,
}
