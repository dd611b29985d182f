//! The metadata API's operations, as pure edits of a [`Metadata`] document. Validation of the
//! result, persistence and the schema swap happen afterwards, once, for the whole request.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{
    Action, ActionDefinition, CustomTypes, InheritedRole, Metadata, MetadataError, Permission,
};

/// A request to `POST /v1/metadata`: `{"type", "args", "resource_version"?}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Request {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub args: Value,
    /// Hasura's optimistic lock: the write fails if the stored version differs.
    #[serde(default)]
    pub resource_version: Option<i64>,
    /// `2` asks `export_metadata` for `{resource_version, metadata}`.
    #[serde(default)]
    pub version: Option<u32>,
}

/// Something to do outside the metadata document once the new metadata is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SideEffect {
    /// Delete the stored events of a dropped action.
    ClearData { action: String },
    /// Re-read what is stored (metadata and uploaded handlers), as `reload_metadata` asks.
    Reload,
}

/// The outcome of applying one request.
#[derive(Debug)]
pub struct Applied {
    pub response: Value,
    pub changed: bool,
    pub effects: Vec<SideEffect>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateAction {
    name: String,
    definition: ActionDefinition,
    #[serde(default)]
    comment: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DropAction {
    name: String,
    #[serde(default)]
    clear_data: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionPermission {
    action: String,
    role: String,
    /// Hasura's `definition` (`{}` for actions: there is nothing to filter), kept as sent.
    #[serde(default)]
    definition: Option<Value>,
    #[serde(default)]
    comment: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplaceWrapper {
    metadata: Metadata,
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "accepted for Hasura compatibility; inconsistency is never allowed"
    )]
    allow_inconsistent_metadata: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

fn args<T: DeserializeOwned>(value: &Value, path: &str) -> Result<T, MetadataError> {
    let value = if value.is_null() {
        json!({})
    } else {
        value.clone()
    };
    serde_json::from_value(value)
        .map_err(|e| MetadataError::new("parse-failed", path, e.to_string()))
}

fn success() -> Value {
    json!({"message": "success"})
}

fn not_found(path: &str, action: &str) -> MetadataError {
    MetadataError::new(
        "not-exists",
        path,
        format!("action '{action}' does not exist"),
    )
}

/// Applies `request` to `metadata` in place. `resource_version` is the stored version, for
/// `export_metadata` with `version: 2`.
pub fn apply(
    request: &Request,
    metadata: &mut Metadata,
    resource_version: i64,
) -> Result<Applied, MetadataError> {
    let mut effects = Vec::new();
    let mut changed = false;
    let response = apply_one(
        request,
        "$",
        metadata,
        resource_version,
        &mut changed,
        &mut effects,
    )?;
    Ok(Applied {
        response,
        changed,
        effects,
    })
}

fn apply_one(
    request: &Request,
    path: &str,
    metadata: &mut Metadata,
    resource_version: i64,
    changed: &mut bool,
    effects: &mut Vec<SideEffect>,
) -> Result<Value, MetadataError> {
    let args_path = format!("{path}.args");
    let args_path = args_path.as_str();
    match request.kind.as_str() {
        "export_metadata" => {
            args::<Empty>(&request.args, args_path)?;
            let document = serde_json::to_value(&*metadata).unwrap_or_default();
            Ok(match request.version {
                Some(2) => json!({"resource_version": resource_version, "metadata": document}),
                _ => document,
            })
        }
        "replace_metadata" => {
            let replacement = if request.args.get("metadata").is_some() {
                args::<ReplaceWrapper>(&request.args, args_path)?.metadata
            } else {
                args::<Metadata>(&request.args, args_path)?
            };
            *metadata = replacement;
            *changed = true;
            Ok(success())
        }
        "clear_metadata" => {
            args::<Empty>(&request.args, args_path)?;
            *metadata = Metadata::empty();
            *changed = true;
            Ok(success())
        }
        // Metadata is validated whole before it is stored: it is never inconsistent.
        "get_inconsistent_metadata" => {
            args::<Empty>(&request.args, args_path)?;
            Ok(json!({"is_consistent": true, "inconsistent_objects": []}))
        }
        "reload_metadata" => {
            args::<Value>(&request.args, args_path)?;
            effects.push(SideEffect::Reload);
            Ok(json!({"message": "success", "is_consistent": true}))
        }
        "add_inherited_role" => {
            let role = args::<InheritedRole>(&request.args, args_path)?;
            if metadata
                .inherited_roles
                .iter()
                .any(|r| r.role_name == role.role_name)
            {
                return Err(MetadataError::new(
                    "already-exists",
                    format!("{args_path}.role_name"),
                    format!("the inherited role '{}' already exists", role.role_name),
                ));
            }
            metadata.inherited_roles.push(role);
            *changed = true;
            Ok(success())
        }
        "drop_inherited_role" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct DropRole {
                role_name: String,
            }
            let drop = args::<DropRole>(&request.args, args_path)?;
            let before = metadata.inherited_roles.len();
            metadata
                .inherited_roles
                .retain(|r| r.role_name != drop.role_name);
            if metadata.inherited_roles.len() == before {
                return Err(MetadataError::new(
                    "not-exists",
                    format!("{args_path}.role_name"),
                    format!("the inherited role '{}' does not exist", drop.role_name),
                ));
            }
            *changed = true;
            Ok(success())
        }
        "set_custom_types" => {
            metadata.custom_types = args::<CustomTypes>(&request.args, args_path)?;
            *changed = true;
            Ok(success())
        }
        "create_action" => {
            let action = args::<Action>(&request.args, args_path)?;
            if metadata.action(&action.name).is_some() {
                return Err(MetadataError::new(
                    "already-exists",
                    format!("{args_path}.name"),
                    format!("action '{}' already exists", action.name),
                ));
            }
            metadata.actions.push(action);
            *changed = true;
            Ok(success())
        }
        "update_action" => {
            let update = args::<UpdateAction>(&request.args, args_path)?;
            let action = metadata
                .actions
                .iter_mut()
                .find(|action| action.name == update.name)
                .ok_or_else(|| not_found(&format!("{args_path}.name"), &update.name))?;
            action.definition = update.definition;
            if update.comment.is_some() {
                action.comment = update.comment;
            }
            *changed = true;
            Ok(success())
        }
        "drop_action" => {
            let drop = args::<DropAction>(&request.args, args_path)?;
            let before = metadata.actions.len();
            metadata.actions.retain(|action| action.name != drop.name);
            if metadata.actions.len() == before {
                return Err(not_found(&format!("{args_path}.name"), &drop.name));
            }
            if drop.clear_data.unwrap_or(true) {
                effects.push(SideEffect::ClearData { action: drop.name });
            }
            *changed = true;
            Ok(success())
        }
        "create_action_permission" | "drop_action_permission" => {
            let grant = args::<ActionPermission>(&request.args, args_path)?;
            let action = metadata
                .actions
                .iter_mut()
                .find(|action| action.name == grant.action)
                .ok_or_else(|| not_found(&format!("{args_path}.action"), &grant.action))?;
            let held = action.permissions.iter().position(|p| p.role == grant.role);
            match (request.kind.as_str(), held) {
                ("create_action_permission", None) => {
                    action.permissions.push(Permission {
                        role: grant.role,
                        definition: grant.definition,
                        comment: grant.comment,
                    });
                }
                ("create_action_permission", Some(_)) => {
                    return Err(MetadataError::new(
                        "already-exists",
                        format!("{args_path}.role"),
                        format!("role '{}' may already call '{}'", grant.role, grant.action),
                    ));
                }
                (_, Some(index)) => {
                    action.permissions.remove(index);
                }
                (_, None) => {
                    return Err(MetadataError::new(
                        "not-exists",
                        format!("{args_path}.role"),
                        format!(
                            "role '{}' has no permission on '{}'",
                            grant.role, grant.action
                        ),
                    ));
                }
            }
            *changed = true;
            Ok(success())
        }
        "bulk" => {
            let requests = args::<Vec<Request>>(&request.args, args_path)?;
            let mut responses = Vec::with_capacity(requests.len());
            for (index, inner) in requests.iter().enumerate() {
                let inner_path = format!("{args_path}[{index}]");
                responses.push(apply_one(
                    inner,
                    &inner_path,
                    metadata,
                    resource_version,
                    changed,
                    effects,
                )?);
            }
            Ok(Value::Array(responses))
        }
        other => Err(MetadataError::new(
            "not-supported",
            format!("{path}.type"),
            format!("unknown metadata operation '{other}'"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(value: Value) -> Request {
        serde_json::from_value(value).expect("request")
    }

    fn create(name: &str) -> Value {
        json!({"type": "create_action", "args": {"name": name, "definition": {
            "handler": "http://localhost:1/x", "output_type": "Boolean", "arguments": []}}})
    }

    #[test]
    fn bulk_applies_in_order_and_fails_as_a_whole() {
        let mut metadata = Metadata::empty();
        let ok = request(json!({"type": "bulk", "args": [create("a"), create("b")]}));
        let applied = apply(&ok, &mut metadata, 1).expect("applies");
        assert!(applied.changed);
        assert_eq!(metadata.actions.len(), 2);

        let mut copy = metadata.clone();
        let clash = request(json!({"type": "bulk", "args": [create("c"), create("a")]}));
        let error = apply(&clash, &mut copy, 1).expect_err("duplicate");
        assert_eq!(error.code, "already-exists");
        assert_eq!(error.path, "$.args[1].args.name");
    }

    #[test]
    fn drop_action_clears_data_by_default() {
        let mut metadata = Metadata::empty();
        apply(&request(create("a")), &mut metadata, 1).expect("create");
        let drop = request(json!({"type": "drop_action", "args": {"name": "a"}}));
        let applied = apply(&drop, &mut metadata, 1).expect("drop");
        assert_eq!(
            applied.effects,
            vec![SideEffect::ClearData { action: "a".into() }]
        );
        let again = apply(&drop, &mut metadata, 1).expect_err("gone");
        assert_eq!(again.code, "not-exists");
    }

    #[test]
    fn unknown_operations_and_bad_args_are_reported() {
        let mut metadata = Metadata::empty();
        let unknown = apply(
            &request(json!({"type": "run_sql", "args": {}})),
            &mut metadata,
            1,
        );
        assert_eq!(unknown.expect_err("unknown").code, "not-supported");
        let bad = request(json!({"type": "create_action", "args": {"name": 3}}));
        let error = apply(&bad, &mut metadata, 1).expect_err("bad args");
        assert_eq!(
            (error.code, error.path.as_str()),
            ("parse-failed", "$.args")
        );
    }
}
