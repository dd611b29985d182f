//! Action metadata in Hasura's shapes: actions, their custom types and permissions.
//!
//! The JSON form here is exactly what Hasura's metadata API and `export_metadata` use, so a
//! Hasura user's metadata moves over unchanged. Everything that accepts metadata goes through
//! [`validate`] before anything is persisted or served.

pub mod diff;
pub mod directory;
pub mod ops;
pub mod output;
mod retry;
pub mod sdl;
pub mod types;
pub mod validate;

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

pub use crate::handler::http::HeaderConf;
pub use crate::store::ActionKind;

pub use retry::RetryPolicy;
pub use validate::{Catalog, MetadataError, MetadataWarning, validate};

/// The whole metadata document. Sections of a Hasura export that Hookwing does not serve
/// (sources, remote schemas, …) are accepted and ignored, so a full export can be replayed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(default = "current_version")]
    pub version: u32,
    /// Shared with the catalogs and documents of earlier changes: a change copies the one
    /// action it edits, not every action.
    #[serde(default, deserialize_with = "null_as_default")]
    pub actions: Vec<Arc<Action>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub custom_types: CustomTypes,
    /// Roles that may do whatever any of their parent roles may (Hasura's `inherited_roles`).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub inherited_roles: Vec<InheritedRole>,
}

/// A role made of others: it may call every action any role of `role_set` may call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InheritedRole {
    pub role_name: String,
    pub role_set: Vec<String>,
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
        self.actions
            .iter()
            .find(|action| action.name == name)
            .map(|action| &**action)
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
    /// Hasura's CLI writes `kind: ""` for query actions; empty or absent is synchronous.
    #[serde(default, deserialize_with = "kind_or_empty")]
    pub kind: ActionKind,
    #[serde(rename = "type", default, deserialize_with = "null_as_default")]
    pub operation: Operation,
    /// `null` is no arguments, as Hasura reads it.
    #[serde(default, deserialize_with = "null_as_default")]
    pub arguments: Vec<Argument>,
    pub output_type: String,
    pub handler: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HeaderConf>,
    #[serde(default)]
    pub forward_client_headers: bool,
    /// Client headers not forwarded when `forward_client_headers` is on; replaces the
    /// default list (Hasura stores the default list here when an action is created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignored_client_headers: Option<Vec<String>>,
    /// Seconds; the whole budget for all attempts of a synchronous call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryConf>,
    /// Environment variable holding this action's Standard Webhooks signing secret; overrides
    /// the server's `webhook_signing_secret`. The secret itself never enters the metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret_from_env: Option<String>,
    /// Hasura's request transform (Kriti templates reshaping the webhook request), kept as
    /// written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_transform: Option<Value>,
    /// Hasura's response transform, kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_transform: Option<Value>,
}

/// `kind`, where an empty string means the default, as Hasura's CLI exports it.
fn kind_or_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ActionKind, D::Error> {
    match Option::<String>::deserialize(deserializer)?.as_deref() {
        None | Some("") => Ok(ActionKind::default()),
        Some("synchronous") => Ok(ActionKind::Synchronous),
        Some("asynchronous") => Ok(ActionKind::Asynchronous),
        Some(other) => Err(serde::de::Error::unknown_variant(
            other,
            &["synchronous", "asynchronous"],
        )),
    }
}

/// A value where `null` means the default, as Hasura reads it.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
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

/// A role allowed to call an action. Hasura's optional `definition` (always `{}` for actions)
/// and `comment` are kept as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permission {
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl Permission {
    /// A permission for `role` with nothing else set.
    pub fn for_role(role: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            definition: None,
            comment: None,
        }
    }
}

/// The types actions use, in Hasura's `custom_types` shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomTypes {
    #[serde(default, deserialize_with = "null_as_default")]
    pub input_objects: Vec<InputObjectType>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub objects: Vec<ObjectType>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub scalars: Vec<ScalarType>,
    #[serde(default, deserialize_with = "null_as_default")]
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
    /// Hasura's relationships from this type to database tables. There are no tables to
    /// join here: they are kept, exported and round-tripped unchanged, and reported as a
    /// warning.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relationships: Vec<Value>,
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
    /// Hasura writes `null` for "no".
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub is_deprecated: bool,
}
