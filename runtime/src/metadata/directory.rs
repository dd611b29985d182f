//! Hasura's metadata directory: `actions.graphql` holds signatures and custom types,
//! `actions.yaml` holds how each action is delivered. A Hasura project's two files load here
//! unchanged.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::sdl::{self, SdlDocument};
use super::{Action, ActionDefinition, Metadata, MetadataError, Permission};

const SDL_FILE: &str = "actions.graphql";
const YAML_FILE: &str = "actions.yaml";
/// Hasura keeps inherited roles in a file of their own beside the actions.
const ROLES_FILE: &str = "inherited_roles.yaml";

/// Errors reading or writing a metadata directory.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(#[from] MetadataError),
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionsYaml {
    #[serde(default, deserialize_with = "null_as_empty")]
    actions: Vec<YamlAction>,
    /// Hasura lists custom type names here, with the objects' relationships; the types
    /// themselves come from `actions.graphql`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    custom_types: Option<Value>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<YamlAction>, D::Error> {
    Ok(Option::<Vec<YamlAction>>::deserialize(deserializer)?.unwrap_or_default())
}

/// An action as `actions.yaml` has it: its definition is an [`ActionDefinition`] without the
/// signature (`arguments`, `output_type`, `type`), which comes from `actions.graphql`. It is
/// read through the same type the metadata API reads, so both accept exactly the same keys.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct YamlAction {
    name: String,
    definition: serde_json::Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    permissions: Vec<Permission>,
}

/// The signature's keys, which `actions.yaml` does not hold (Hasura writes `type` for query
/// actions; the SDL decides either way).
const SIGNATURE_KEYS: [&str; 3] = ["arguments", "output_type", "type"];

fn read_optional(path: &Path) -> Result<Option<String>, DirectoryError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(DirectoryError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Reads `dir/actions.graphql` and `dir/actions.yaml` into metadata (not yet validated).
pub fn load(dir: &Path) -> Result<Metadata, DirectoryError> {
    if !dir.is_dir() {
        return Err(DirectoryError::Read {
            path: dir.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        });
    }
    let document = match read_optional(&dir.join(SDL_FILE))? {
        Some(text) => sdl::parse(&text, SDL_FILE)?,
        None => SdlDocument::default(),
    };
    for interface in &document.ignored_interfaces {
        tracing::warn!(
            interface,
            "{SDL_FILE}: interface types are not custom types; '{interface}' is passed over"
        );
    }
    let yaml: ActionsYaml = match read_optional(&dir.join(YAML_FILE))? {
        Some(text) if !text.trim().is_empty() => serde_yaml_ng::from_str(&text)
            .map_err(|e| MetadataError::new("parse-failed", YAML_FILE, e.to_string()))?,
        _ => ActionsYaml::default(),
    };

    let mut actions = Vec::with_capacity(yaml.actions.len());
    for (index, entry) in yaml.actions.into_iter().enumerate() {
        let signature = document
            .signatures
            .iter()
            .find(|signature| signature.name == entry.name)
            .ok_or_else(|| {
                MetadataError::new(
                    "not-exists",
                    YAML_FILE,
                    format!("action '{}' has no signature in {SDL_FILE}", entry.name),
                )
            })?;
        let mut definition = entry.definition;
        for key in SIGNATURE_KEYS {
            definition.remove(key);
        }
        definition.insert(
            "type".into(),
            serde_json::to_value(signature.operation).unwrap_or_default(),
        );
        definition.insert(
            "arguments".into(),
            serde_json::to_value(&signature.arguments).unwrap_or_default(),
        );
        definition.insert("output_type".into(), signature.output_type.clone().into());
        let definition: ActionDefinition = serde_json::from_value(Value::Object(definition))
            .map_err(|e| {
                MetadataError::new(
                    "parse-failed",
                    format!("{YAML_FILE}: actions[{index}].definition"),
                    e.to_string(),
                )
            })?;
        actions.push(Arc::new(Action {
            name: entry.name,
            definition,
            comment: entry.comment.or_else(|| signature.description.clone()),
            permissions: entry.permissions,
        }));
    }
    if let Some(orphan) = document
        .signatures
        .iter()
        .find(|s| !actions.iter().any(|a| a.name == s.name))
    {
        return Err(MetadataError::new(
            "not-exists",
            SDL_FILE,
            format!("action '{}' has no definition in {YAML_FILE}", orphan.name),
        )
        .into());
    }
    let mut custom_types = document.custom_types;
    attach_relationships(yaml.custom_types.as_ref(), &mut custom_types)?;
    let inherited_roles = match read_optional(&dir.join(ROLES_FILE))? {
        Some(text) if !text.trim().is_empty() => {
            serde_yaml_ng::from_str::<Option<Vec<super::InheritedRole>>>(&text)
                .map_err(|e| MetadataError::new("parse-failed", ROLES_FILE, e.to_string()))?
                .unwrap_or_default()
        }
        _ => Vec::new(),
    };
    Ok(Metadata {
        actions,
        custom_types,
        inherited_roles,
        ..Metadata::empty()
    })
}

/// Copies the relationships `actions.yaml` lists under `custom_types.objects` onto the object
/// types `actions.graphql` defines.
fn attach_relationships(
    listed: Option<&Value>,
    custom_types: &mut super::CustomTypes,
) -> Result<(), MetadataError> {
    let objects = listed
        .and_then(|listed| listed.get("objects"))
        .and_then(Value::as_array);
    for (index, entry) in objects.into_iter().flatten().enumerate() {
        let Some(relationships) = entry.get("relationships").and_then(Value::as_array) else {
            continue;
        };
        let name = entry
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let object = custom_types
            .objects
            .iter_mut()
            .find(|object| object.name == name)
            .ok_or_else(|| {
                MetadataError::new(
                    "not-exists",
                    format!("{YAML_FILE}: custom_types.objects[{index}]"),
                    format!(
                        "object type '{name}' has relationships but no definition in {SDL_FILE}"
                    ),
                )
            })?;
        object.relationships.clone_from(relationships);
    }
    Ok(())
}

/// A definition as `actions.yaml` holds it: without the signature, which goes to the SDL.
fn yaml_definition(
    definition: &ActionDefinition,
) -> Result<serde_json::Map<String, Value>, MetadataError> {
    let Value::Object(mut fields) = serde_json::to_value(definition)
        .map_err(|e| MetadataError::new("unexpected", YAML_FILE, e.to_string()))?
    else {
        return Err(MetadataError::new(
            "unexpected",
            YAML_FILE,
            "a definition is not an object",
        ));
    };
    for key in SIGNATURE_KEYS {
        fields.remove(key);
    }
    Ok(fields)
}

/// Writes `metadata` as a Hasura metadata directory (creating `dir` if needed).
pub fn export(metadata: &Metadata, dir: &Path) -> Result<(), DirectoryError> {
    let write = |name: &str, contents: String| {
        let path = dir.join(name);
        std::fs::write(&path, contents).map_err(|source| DirectoryError::Write { path, source })
    };
    std::fs::create_dir_all(dir).map_err(|source| DirectoryError::Write {
        path: dir.to_owned(),
        source,
    })?;
    let custom = &metadata.custom_types;
    let names = |names: Vec<&String>| -> Value {
        names
            .into_iter()
            .map(|name| serde_json::json!({"name": name}))
            .collect()
    };
    let objects: Value = custom
        .objects
        .iter()
        .map(|object| {
            let mut entry = serde_json::json!({"name": object.name});
            if !object.relationships.is_empty() {
                entry["relationships"] = Value::Array(object.relationships.clone());
            }
            entry
        })
        .collect();
    let custom_types = serde_json::json!({
        "enums": names(custom.enums.iter().map(|t| &t.name).collect()),
        "input_objects": names(custom.input_objects.iter().map(|t| &t.name).collect()),
        "objects": objects,
        "scalars": names(custom.scalars.iter().map(|t| &t.name).collect()),
    });
    let yaml = ActionsYaml {
        actions: metadata
            .actions
            .iter()
            .map(|action| {
                Ok(YamlAction {
                    name: action.name.clone(),
                    definition: yaml_definition(&action.definition)?,
                    comment: action.comment.clone(),
                    permissions: action.permissions.clone(),
                })
            })
            .collect::<Result<_, MetadataError>>()?,
        custom_types: Some(custom_types),
    };
    let yaml = serde_yaml_ng::to_string(&yaml)
        .map_err(|e| MetadataError::new("unexpected", YAML_FILE, e.to_string()))?;
    write(SDL_FILE, sdl::render(metadata))?;
    write(YAML_FILE, yaml)?;
    if !metadata.inherited_roles.is_empty() {
        let roles = serde_yaml_ng::to_string(&metadata.inherited_roles)
            .map_err(|e| MetadataError::new("unexpected", ROLES_FILE, e.to_string()))?;
        write(ROLES_FILE, roles)?;
    }
    write("version.yaml", "version: 3\n".into())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_then_load_gives_back_the_same_metadata() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join(SDL_FILE),
            "type Mutation {\n  userLogin(username: String!, password: String!): UserInfo\n}\n\
             type Query { ping: Boolean }\n\
             type UserInfo { accessToken: String!\n userId: Int! }\n\
             enum Color { RED GREEN }\n",
        )
        .expect("write sdl");
        std::fs::write(
            dir.path().join(YAML_FILE),
            "actions:\n- name: userLogin\n  definition:\n    kind: synchronous\n    handler: \
             http://localhost:3000/login\n    headers:\n    - name: x-key\n      value_from_env: \
             KEY\n  permissions:\n  - role: user\n  comment: logs in\n- name: ping\n  \
             definition:\n    type: query\n    handler: http://localhost:3000/ping\n\
             custom_types:\n  objects:\n  - name: UserInfo\n",
        )
        .expect("write yaml");
        let loaded = load(dir.path()).expect("loads");
        assert_eq!(loaded.actions.len(), 2);
        assert_eq!(
            loaded.actions[1].definition.operation,
            super::super::Operation::Query
        );
        assert_eq!(loaded.actions[0].permissions[0].role, "user");

        let out = tempfile::tempdir().expect("tempdir");
        export(&loaded, out.path()).expect("exports");
        let reloaded = load(out.path()).expect("reloads");
        assert_eq!(reloaded, loaded);
    }

    #[test]
    fn names_actions_missing_from_either_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(SDL_FILE), "type Mutation { a: Boolean }").expect("sdl");
        assert!(
            load(dir.path())
                .expect_err("no yaml entry")
                .to_string()
                .contains("'a'")
        );
        std::fs::write(
            dir.path().join(YAML_FILE),
            "actions:\n- name: b\n  definition:\n    \
             handler: http://x/\n",
        )
        .expect("yaml");
        assert!(
            load(dir.path())
                .expect_err("no signature")
                .to_string()
                .contains("'b'")
        );
    }

    #[test]
    fn reads_what_hasura_writes_the_way_the_metadata_api_does() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join(SDL_FILE),
            "type Query { me: Me }\n\
             interface Node { id: ID! }\n\
             type Me implements Node { id: ID!\n since: timestamp }\n\
             scalar String\n",
        )
        .expect("sdl");
        std::fs::write(
            dir.path().join(YAML_FILE),
            "actions:\n- name: me\n  definition:\n    kind: \"\"\n    handler: http://x/me\n    \
             request_transform:\n      version: 2\n      method: GET\n  permissions:\n  - role: \
             user\n    definition: {}\ncustom_types:\n  objects:\n  - name: Me\n    \
             relationships:\n    - name: user\n      type: object\n      remote_table: users\n",
        )
        .expect("yaml");
        let loaded = load(dir.path()).expect("loads");
        let action = &loaded.actions[0];
        assert_eq!(
            action.definition.kind,
            super::super::ActionKind::Synchronous
        );
        assert_eq!(action.definition.operation, super::super::Operation::Query);
        assert_eq!(
            action.definition.request_transform,
            Some(serde_json::json!({"version": 2, "method": "GET"}))
        );
        assert_eq!(
            action.permissions[0].definition,
            Some(serde_json::json!({}))
        );
        let me = &loaded.custom_types.objects[0];
        assert_eq!(me.relationships[0]["name"], "user");
        // The interface is passed over, as Hasura's loader does.
        assert_eq!(loaded.custom_types.objects.len(), 1);

        // The same action through the metadata API's type is the same action.
        let through_api: super::super::Action = serde_json::from_value(serde_json::json!({
            "name": "me",
            "definition": {"kind": "", "type": "query", "arguments": null, "output_type": "Me",
                           "handler": "http://x/me",
                           "request_transform": {"version": 2, "method": "GET"}},
            "permissions": [{"role": "user", "definition": {}}]
        }))
        .expect("the API reads it");
        assert_eq!(&through_api, &**action);

        let out = tempfile::tempdir().expect("tempdir");
        export(&loaded, out.path()).expect("exports");
        assert_eq!(load(out.path()).expect("reloads"), loaded);
    }

    #[test]
    fn inherited_roles_have_a_file_of_their_own() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(SDL_FILE), "type Query { a: Boolean }").expect("sdl");
        std::fs::write(
            dir.path().join(YAML_FILE),
            "actions:\n- name: a\n  definition:\n    handler: http://x/\n",
        )
        .expect("yaml");
        std::fs::write(
            dir.path().join(ROLES_FILE),
            "- role_name: editor\n  role_set:\n  - reader\n  - writer\n",
        )
        .expect("roles");
        let loaded = load(dir.path()).expect("loads");
        assert_eq!(loaded.inherited_roles[0].role_set, ["reader", "writer"]);
        let out = tempfile::tempdir().expect("tempdir");
        export(&loaded, out.path()).expect("exports");
        assert!(out.path().join(ROLES_FILE).is_file());
        assert_eq!(load(out.path()).expect("reloads"), loaded);
    }

    #[test]
    fn keys_nobody_defines_are_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(SDL_FILE), "type Mutation { a: Boolean }").expect("sdl");
        std::fs::write(
            dir.path().join(YAML_FILE),
            "actions:\n- name: a\n  definition:\n    handler: http://x/\n    hanlder: 1\n",
        )
        .expect("yaml");
        let error = load(dir.path()).expect_err("unknown key").to_string();
        assert!(error.contains("hanlder"), "{error}");
    }
}
