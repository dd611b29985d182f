//! The metadata API's operations, as pure edits of a [`Metadata`] document. Validation of the
//! result, persistence and the schema swap happen afterwards, once, for the whole request.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{
    Action, ActionDefinition, CustomTypes, InheritedRole, Metadata, MetadataError, Permission,
};
use crate::config::Environment;
use crate::handler::transform::{self, InvalidTransform};
use crate::handler::{RequestTransform, ResponseTransform, UrlTemplate};

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

/// `test_webhook_transform`'s arguments, as Hasura takes them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestWebhookTransform {
    webhook_url: WebhookUrl,
    body: Value,
    request_transform: Value,
    #[serde(default)]
    response_transform: Option<Value>,
    /// Sample values of the environment variables the URL reads: the server's own are
    /// never shown here.
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    session_variables: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    request_headers: Vec<(String, String)>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum WebhookUrl {
    Template(String),
    FromEnv { from_env: String },
}

impl TestWebhookTransform {
    fn run(self, path: &str) -> Result<Value, MetadataError> {
        let invalid = |sub: &str, which: &str, error: InvalidTransform| {
            let at = if error.path.is_empty() {
                format!("{path}.{sub}")
            } else {
                format!("{path}.{sub}.{}", error.path)
            };
            MetadataError::new(
                "validation-failed",
                at,
                format!("{which} transform validation failed: {}", error.message),
            )
        };
        let transform = RequestTransform::parse(&self.request_transform)
            .map_err(|error| invalid("request_transform", "request", error))?;
        if let Some(response) = &self.response_transform {
            ResponseTransform::parse(response)
                .map_err(|error| invalid("response_transform", "response", error))?;
        }
        let missing = |name: &str| {
            MetadataError::new(
                "not-found",
                format!("{path}.webhook_url"),
                format!(
                    "Missing Env Var: {name}. Real environment variable values are not used \
                     when testing a transform: give a sample value for {name} in `env`."
                ),
            )
        };
        let url = match self.webhook_url {
            WebhookUrl::FromEnv { from_env } => self
                .env
                .get(&from_env)
                .cloned()
                .ok_or_else(|| missing(&from_env))?,
            WebhookUrl::Template(text) => {
                let template = UrlTemplate::parse(&text).map_err(|reason| {
                    MetadataError::new("parse-failed", format!("{path}.webhook_url"), reason)
                })?;
                if let Some(name) = template
                    .variables()
                    .find(|name| !self.env.contains_key(*name))
                {
                    return Err(missing(name));
                }
                let env = self
                    .env
                    .iter()
                    .fold(Environment::default(), |env, (name, value)| {
                        env.with(name, value)
                    });
                template.render_text(&env).map_err(|reason| {
                    MetadataError::new("validation-failed", format!("{path}.webhook_url"), reason)
                })?
            }
        };
        let session = Value::Object(
            self.session_variables
                .unwrap_or_default()
                .into_iter()
                .map(|(name, value)| (name.to_ascii_lowercase(), value))
                .collect(),
        );
        transform::preview(&transform, url, self.request_headers, &self.body, &session).map_err(
            |failure| {
                MetadataError::new(
                    "validation-failed",
                    path,
                    format!("request transform validation failed: {}", failure.summary()),
                )
                .with_internal(Value::Array(failure.errors))
            },
        )
    }
}

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
        // Pure: shows what a transform would send, and changes nothing.
        "test_webhook_transform" => {
            args::<TestWebhookTransform>(&request.args, args_path)?.run(args_path)
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
            metadata.actions.push(Arc::new(action));
            *changed = true;
            Ok(success())
        }
        "update_action" => {
            let update = args::<UpdateAction>(&request.args, args_path)?;
            let action = metadata
                .actions
                .iter_mut()
                .find(|action| action.name == update.name)
                .map(Arc::make_mut)
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
                .map(Arc::make_mut)
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

    fn test_transform(args: Value) -> Result<Value, MetadataError> {
        let mut metadata = Metadata::empty();
        let applied = apply(
            &request(json!({"type": "test_webhook_transform", "args": args})),
            &mut metadata,
            1,
        )?;
        assert!(!applied.changed, "test_webhook_transform changes nothing");
        Ok(applied.response)
    }

    #[test]
    fn test_webhook_transform_renders_without_sending() {
        // Hasura's own examples of the operation.
        let answer = test_transform(json!({
            "webhook_url": "http://localhost:1234",
            "body": {"hello": "world"},
            "request_transform": {
                "version": 2, "url": "http://www.google.com", "method": "POST",
                "body": {"action": "transform", "template": "\"hello_{{ $body.hello }}\""},
                "query_params": {"foo": "bar"},
                "request_headers": {"add_headers": {"foo": "bar", "content-type": "application/json"}}
            }
        }))
        .expect("renders");
        assert_eq!(
            answer,
            json!({"webhook_url": "http://www.google.com/?foo=bar", "method": "POST",
                   "headers": [["content-type", "application/json"], ["foo", "bar"]],
                   "body": "hello_world"})
        );
        let answer = test_transform(json!({
            "webhook_url": "{{BASE}}/x",
            "env": {"BASE": "http://localhost:1234"},
            "session_variables": {"myVariable": "some value"},
            "body": {},
            "request_transform": {"body": "{{ getSessionVariable(\"myVariable\") }}"}
        }))
        .expect("renders");
        assert_eq!(
            answer,
            json!({"webhook_url": "http://localhost:1234/x", "method": "GET", "headers": [],
                   "body": "some value"})
        );
        let removed = test_transform(json!({"webhook_url": "http://h", "body": {},
            "request_transform": {"version": 2, "method": "GET", "body": {"action": "remove"}}}))
        .expect("renders");
        assert_eq!(removed["body"], "");
        assert_eq!(removed["webhook_url"], "http://h/");
    }

    #[test]
    fn test_webhook_transform_reports_what_is_wrong() {
        let missing = test_transform(json!({"webhook_url": "{{NOPE}}/x", "body": {},
            "request_transform": {}}))
        .expect_err("missing env");
        assert_eq!(missing.code, "not-found");
        assert!(
            missing.error.starts_with("Missing Env Var: NOPE"),
            "{}",
            missing.error
        );
        let unparsable = test_transform(json!({"webhook_url": "http://h", "body": {},
            "request_transform": {"version": 2, "body": {"action": "transform", "template": "{{ $.x }"}}}))
        .expect_err("bad template");
        assert_eq!(unparsable.code, "validation-failed");
        assert_eq!(unparsable.path, "$.args.request_transform.body.template");
        let failing = test_transform(json!({"webhook_url": "http://h", "body": {"a": 1},
            "request_transform": {"body": "{{ $body.b }}"}}))
        .expect_err("runtime failure");
        assert_eq!(failing.code, "validation-failed");
        assert_eq!(
            failing.internal.expect("details")[0]["error_code"],
            "Invalid Path"
        );
    }
}
