//! Real Hasura projects, unchanged: each one's metadata directory is applied with the real
//! `hookwing metadata apply`, then a server on the same database is introspected, and every
//! action must be on the root its `actions.graphql` puts it on, with the arguments and output
//! type written there (an asynchronous action's mutation returns its event id, `uuid!`, as in
//! Hasura). The expectations are read from the project's own files, not from Hookwing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use async_graphql_parser::types::{TypeKind, TypeSystemDefinition};
use hookwing::config::Environment;
use serde_json::{Value, json};

use crate::harness::{Backend, Reply, TestDb, TestServer, WebhookServer, hasura_data};

/// The folder of a project that holds `actions.yaml`.
fn metadata_dir(project: &Path) -> PathBuf {
    crate::harness::hasura_metadata_dir(project)
        .unwrap_or_else(|| panic!("{} has no actions.yaml", project.display()))
}

/// Placeholder values for every `{{VAR}}` and `value_from_env` the project references.
fn placeholders(yaml: &str) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    let mut rest = yaml;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        vars.insert(
            after[..end].trim().to_owned(),
            "http://127.0.0.1:9".to_owned(),
        );
        rest = &after[end + 2..];
    }
    for line in yaml.lines() {
        if let Some((_, name)) = line.split_once("value_from_env:") {
            vars.insert(name.trim().to_owned(), "placeholder".to_owned());
        }
    }
    vars
}

/// One action as the project's files declare it.
#[derive(Debug, PartialEq)]
struct Declared {
    root: &'static str,
    arguments: Vec<(String, String)>,
    output: String,
}

/// The actions `actions.graphql` declares, with the async ones' outputs as Hasura serves them.
fn declared(dir: &Path) -> BTreeMap<String, Declared> {
    let sdl = std::fs::read_to_string(dir.join("actions.graphql")).expect("actions.graphql");
    let yaml: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(dir.join("actions.yaml")).expect("yaml"))
            .expect("actions.yaml is YAML");
    let asynchronous: Vec<&str> = yaml["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|action| action["definition"]["kind"] == "asynchronous")
        .filter_map(|action| action["name"].as_str())
        .collect();
    let document = async_graphql_parser::parse_schema(&sdl).expect("actions.graphql parses");
    let mut actions = BTreeMap::new();
    for definition in document.definitions {
        let TypeSystemDefinition::Type(definition) = definition else {
            continue;
        };
        let root = match definition.node.name.node.as_str() {
            "Query" => "queryType",
            "Mutation" => "mutationType",
            _ => continue,
        };
        let TypeKind::Object(object) = definition.node.kind else {
            continue;
        };
        for field in object.fields {
            let field = field.node;
            let name = field.name.node.to_string();
            let output = if asynchronous.contains(&name.as_str()) {
                "uuid!".to_owned()
            } else {
                field.ty.node.to_string()
            };
            let arguments = field
                .arguments
                .iter()
                .map(|a| (a.node.name.node.to_string(), a.node.ty.node.to_string()))
                .collect();
            actions.insert(
                name,
                Declared {
                    root,
                    arguments,
                    output,
                },
            );
        }
    }
    actions
}

const TYPE_REF: &str = "kind name ofType { kind name ofType { kind name ofType { kind name } } }";

/// An introspected type reference written as SDL (`[String!]!`).
fn type_text(reference: &Value) -> String {
    match reference["kind"].as_str() {
        Some("NON_NULL") => format!("{}!", type_text(&reference["ofType"])),
        Some("LIST") => format!("[{}]", type_text(&reference["ofType"])),
        _ => reference["name"].as_str().unwrap_or("?").to_owned(),
    }
}

/// The actions a running server serves, read through introspection.
async fn served(server: &TestServer) -> BTreeMap<String, Declared> {
    let field =
        format!("fields {{ name args {{ name type {{ {TYPE_REF} }} }} type {{ {TYPE_REF} }} }}");
    let query = format!("{{ __schema {{ queryType {{ {field} }} mutationType {{ {field} }} }} }}");
    let response = server.graphql(&query, json!({})).await;
    let mut actions = BTreeMap::new();
    for root in ["queryType", "mutationType"] {
        for field in response["data"]["__schema"][root]["fields"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let name = field["name"].as_str().expect("name").to_owned();
            // Async actions' result queries sit on the query root beside the mutation.
            if root == "queryType" && actions.contains_key(&name) {
                continue;
            }
            let arguments = field["args"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    (
                        a["name"].as_str().expect("arg name").to_owned(),
                        type_text(&a["type"]),
                    )
                })
                .collect();
            actions.insert(
                name,
                Declared {
                    root,
                    arguments,
                    output: type_text(&field["type"]),
                },
            );
        }
    }
    actions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_real_hasura_project_loads_unchanged_and_introspects_as_declared() {
    let Some(projects) = hasura_data("projects") else {
        return;
    };
    let mut names: Vec<PathBuf> = std::fs::read_dir(&projects)
        .expect("read projects")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    names.sort();
    assert!(names.len() >= 10, "the projects are there: {names:?}");
    let cache = tempfile::tempdir().expect("cache");
    let mut failures = Vec::new();
    for project in &names {
        let label = project
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        let dir = metadata_dir(project);
        let vars = placeholders(&std::fs::read_to_string(dir.join("actions.yaml")).expect("yaml"));
        let db = TestDb::new(Backend::Sqlite).await;
        if let Err(error) = apply_project(&dir, &vars, &db, cache.path()) {
            failures.push(format!("{label}: {error}"));
            continue;
        }
        let server = server_with(&db, &vars).await;
        let expected = declared(&dir);
        assert!(!expected.is_empty(), "{label} declares actions");
        let actual = served(&server).await;
        for (name, declared) in &expected {
            match actual.get(name) {
                Some(served) if served == declared => {}
                other => failures.push(format!(
                    "{label}: {name}: declared {declared:?}, served {other:?}"
                )),
            }
        }
        server.stop().await;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `hookwing metadata apply` of a project's metadata directory onto `db`.
fn apply_project(
    dir: &Path,
    vars: &BTreeMap<String, String>,
    db: &TestDb,
    cache: &Path,
) -> Result<(), String> {
    let applied = Command::new(env!("CARGO_BIN_EXE_hookwing-under-test"))
        .args(["metadata", "apply"])
        .arg(dir)
        .env("DATABASE_URL", &db.url)
        .env("HOOKWING_WASM__CACHE_DIR", cache)
        .envs(vars)
        .output()
        .expect("run hookwing metadata apply");
    if applied.status.success() {
        Ok(())
    } else {
        Err(format!(
            "metadata apply failed: {}",
            String::from_utf8_lossy(&applied.stderr)
        ))
    }
}

/// A server on `db` whose environment holds `vars`.
async fn server_with(db: &TestDb, vars: &BTreeMap<String, String>) -> TestServer {
    TestServer::start_with(db, |config| {
        config.environment = vars
            .iter()
            .fold(Environment::default(), |env, (name, value)| {
                env.with(name, value)
            });
    })
    .await
}

/// A project whose actions call REST endpoints through request and response transforms,
/// unchanged: each call sends what Hasura sends (method, path, query, headers, body) and the
/// transformed reply is the result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projects_transforms_send_what_hasura_sends() {
    let Some(projects) = hasura_data("projects") else {
        return;
    };
    let webhook = WebhookServer::start(|request, _| {
        if request.path.starts_with("/turnio/") {
            Reply::json(
                200,
                json!({"custom_field": "cf", "created_at": "2026-12-01T00:00:00"}),
            )
        } else {
            Reply::json(200, json!({"signedUrl": "https://s3.test/signed"}))
        }
    })
    .await;
    let dir = metadata_dir(&projects.join("nossas__bonde-hasura"));
    let mut vars = placeholders(&std::fs::read_to_string(dir.join("actions.yaml")).expect("yaml"));
    vars.insert("N8N_WEBHOOK_URL".into(), webhook.url.clone());
    vars.insert("API_UPLOADS_URL".into(), webhook.url.clone());
    let db = TestDb::new(Backend::Sqlite).await;
    let cache = tempfile::tempdir().expect("cache");
    apply_project(&dir, &vars, &db, cache.path()).expect("the project applies");
    let server = server_with(&db, &vars).await;

    // upload_s3: GET with the query built from the input, the JSON content type removed,
    // and the reply reshaped into the output type.
    let upload = server
        .graphql(
            "mutation { upload_s3(filename: \"a b.png\", content_type: \"image/png\") { signed_url } }",
            json!({}),
        )
        .await;
    assert_eq!(
        upload["data"]["upload_s3"]["signed_url"], "https://s3.test/signed",
        "{upload}"
    );
    let sent = &webhook.requests()[0];
    assert_eq!(sent.method, "GET");
    assert_eq!(sent.path, "/?contentType=image%2Fpng&objectName=a%20b.png");
    assert!(
        !sent.headers.contains_key("content-type"),
        "{:?}",
        sent.headers
    );

    // turnio_create_custom_field: the body is the template's (bare paths, no braces), the
    // action's headers are kept.
    let created = server
        .graphql(
            "mutation { turnio_create_custom_field(params: {widget_id: 7, custom_field: \"cf\"}) { custom_field } }",
            json!({}),
        )
        .await;
    assert_eq!(
        created["data"]["turnio_create_custom_field"]["custom_field"], "cf",
        "{created}"
    );
    let sent = &webhook.requests()[1];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/turnio/custom-field")
    );
    assert_eq!(sent.body, json!({"widget_id": 7, "custom_field": "cf"}));
    assert_eq!(sent.headers["content-type"], "application/json");
    assert!(sent.headers["authorization"].starts_with("Basic "));
    server.stop().await;
}
