//! Hasura's metadata directory: `actions.graphql` holds signatures and custom types,
//! `actions.yaml` holds how each action is delivered. A Hasura project's two files load here
//! unchanged.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::sdl::{self, SdlDocument};
use super::{
    Action, ActionDefinition, ActionKind, HeaderConf, Metadata, MetadataError, Permission,
    RetryConf,
};

const SDL_FILE: &str = "actions.graphql";
const YAML_FILE: &str = "actions.yaml";

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
    #[serde(default)]
    actions: Vec<YamlAction>,
    /// Hasura lists custom type names (and relationships) here; the types themselves come
    /// from `actions.graphql`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    custom_types: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct YamlAction {
    name: String,
    definition: YamlDefinition,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    permissions: Vec<Permission>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct YamlDefinition {
    #[serde(default)]
    kind: ActionKind,
    /// Present in Hasura's files for query actions; the SDL decides either way.
    #[serde(rename = "type", default, skip_serializing)]
    _operation: Option<String>,
    handler: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    headers: Vec<HeaderConf>,
    #[serde(default)]
    forward_client_headers: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry: Option<RetryConf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signing_secret_from_env: Option<String>,
}

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
    let yaml: ActionsYaml = match read_optional(&dir.join(YAML_FILE))? {
        Some(text) if !text.trim().is_empty() => serde_yaml_ng::from_str(&text)
            .map_err(|e| MetadataError::new("parse-failed", YAML_FILE, e.to_string()))?,
        _ => ActionsYaml::default(),
    };

    let mut actions = Vec::with_capacity(yaml.actions.len());
    for entry in yaml.actions {
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
        let definition = entry.definition;
        actions.push(Action {
            name: entry.name,
            definition: ActionDefinition {
                kind: definition.kind,
                operation: signature.operation,
                arguments: signature.arguments.clone(),
                output_type: signature.output_type.clone(),
                handler: definition.handler,
                headers: definition.headers,
                forward_client_headers: definition.forward_client_headers,
                timeout: definition.timeout,
                retry: definition.retry,
                signing_secret_from_env: definition.signing_secret_from_env,
            },
            comment: entry.comment.or_else(|| signature.description.clone()),
            permissions: entry.permissions,
        });
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
    Ok(Metadata {
        actions,
        custom_types: document.custom_types,
        ..Metadata::empty()
    })
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
    let names = |names: Vec<&String>| {
        serde_yaml_ng::Value::Sequence(
            names
                .into_iter()
                .map(|name| {
                    let mut entry = serde_yaml_ng::Mapping::new();
                    entry.insert("name".into(), name.as_str().into());
                    serde_yaml_ng::Value::Mapping(entry)
                })
                .collect(),
        )
    };
    let mut custom_types = serde_yaml_ng::Mapping::new();
    custom_types.insert(
        "enums".into(),
        names(custom.enums.iter().map(|t| &t.name).collect()),
    );
    custom_types.insert(
        "input_objects".into(),
        names(custom.input_objects.iter().map(|t| &t.name).collect()),
    );
    custom_types.insert(
        "objects".into(),
        names(custom.objects.iter().map(|t| &t.name).collect()),
    );
    custom_types.insert(
        "scalars".into(),
        names(custom.scalars.iter().map(|t| &t.name).collect()),
    );
    let yaml = ActionsYaml {
        actions: metadata
            .actions
            .iter()
            .map(|action| YamlAction {
                name: action.name.clone(),
                definition: YamlDefinition {
                    kind: action.definition.kind,
                    _operation: None,
                    handler: action.definition.handler.clone(),
                    headers: action.definition.headers.clone(),
                    forward_client_headers: action.definition.forward_client_headers,
                    timeout: action.definition.timeout,
                    retry: action.definition.retry.clone(),
                    signing_secret_from_env: action.definition.signing_secret_from_env.clone(),
                },
                comment: action.comment.clone(),
                permissions: action.permissions.clone(),
            })
            .collect(),
        custom_types: Some(serde_yaml_ng::Value::Mapping(custom_types)),
    };
    let yaml = serde_yaml_ng::to_string(&yaml)
        .map_err(|e| MetadataError::new("unexpected", YAML_FILE, e.to_string()))?;
    write(SDL_FILE, sdl::render(metadata))?;
    write(YAML_FILE, yaml)?;
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
}
