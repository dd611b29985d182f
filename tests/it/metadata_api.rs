//! The metadata API, metadata persistence, and metadata directories.

use hookwing::store::EventState;
use serde_json::{Value, json};

use crate::harness::{
    Backend, LOGIN_MUTATION, Reply, TestDb, TestServer, WebhookServer, login_action, login_types,
    on_both_backends,
};

on_both_backends!(
    every_operation_changes_the_live_schema_and_export_shows_it,
    invalid_metadata_is_refused_with_a_path_and_changes_nothing,
    stale_resource_version_is_a_conflict,
    metadata_survives_a_restart_and_dropping_an_action_clears_its_events,
    metadata_directory_is_applied_at_start_and_exported_by_the_operator_commands,
    a_metadata_dir_start_never_discards_changes_made_through_the_api,
    quickstart_metadata_directory_serves_its_example_action,
);

async fn root_fields(server: &TestServer, root: &str) -> Vec<String> {
    let query = format!("{{ __schema {{ {root} {{ fields {{ name }} }} }} }}");
    let response = server.graphql(&query, json!({})).await;
    let fields = response["data"]["__schema"][root]["fields"]
        .as_array()
        .cloned();
    fields
        .unwrap_or_default()
        .iter()
        .map(|field| field["name"].as_str().expect("name").to_owned())
        .collect()
}

async fn every_operation_changes_the_live_schema_and_export_shows_it(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    assert_eq!(
        root_fields(&server, "queryType").await,
        ["no_queries_available"]
    );
    assert!(root_fields(&server, "mutationType").await.is_empty());

    let bulk = json!({"type": "bulk", "args": [
        login_types(),
        login_action("http://127.0.0.1:9/login", json!({})),
        {"type": "create_action_permission", "args": {"action": "userLogin", "role": "user"}},
    ]});
    let responses = server.metadata_ok(bulk).await;
    assert_eq!(responses.as_array().expect("bulk answers a list").len(), 3);
    assert_eq!(root_fields(&server, "mutationType").await, ["userLogin"]);

    let exported = server
        .metadata_ok(json!({"type": "export_metadata", "args": {}}))
        .await;
    assert_eq!(exported["version"], 3);
    assert_eq!(exported["actions"][0]["name"], "userLogin");
    assert_eq!(
        exported["actions"][0]["permissions"],
        json!([{"role": "user"}])
    );
    assert_eq!(exported["custom_types"]["objects"][0]["name"], "UserInfo");

    let update = json!({"type": "update_action", "args": {"name": "userLogin",
        "comment": "Log a user in", "definition": {"type": "query", "output_type": "UserInfo",
        "handler": "http://127.0.0.1:9/login", "arguments": [{"name": "username", "type": "String!"}]}}});
    server.metadata_ok(update).await;
    assert_eq!(root_fields(&server, "queryType").await, ["userLogin"]);
    let description = server
        .graphql(
            "{ __type(name: \"query_root\") { fields { description } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        description["data"]["__type"]["fields"][0]["description"],
        "Log a user in"
    );
    // The same operation text before and after the action is dropped: a parsed operation is
    // kept, but every request is validated against the schema it runs on.
    let call = "query { userLogin(username: \"ada\") { __typename } }";
    let before = server.graphql(call, json!({})).await;
    assert_ne!(
        before["errors"][0]["extensions"]["code"], "validation-failed",
        "{before}"
    );

    server
        .metadata_ok(json!({"type": "drop_action_permission",
            "args": {"action": "userLogin", "role": "user"}}))
        .await;
    server
        .metadata_ok(json!({"type": "drop_action", "args": {"name": "userLogin"}}))
        .await;
    assert_eq!(
        root_fields(&server, "queryType").await,
        ["no_queries_available"]
    );
    let after = server.graphql(call, json!({})).await;
    assert_eq!(
        after["errors"][0]["extensions"]["code"], "validation-failed",
        "{after}"
    );
    assert!(
        after["errors"][0]["message"]
            .as_str()
            .is_some_and(|message| message.contains("userLogin")),
        "{after}"
    );

    let versioned = server
        .metadata_ok(json!({"type": "export_metadata", "version": 2, "args": {}}))
        .await;
    assert_eq!(versioned["resource_version"], 4);
    assert_eq!(versioned["metadata"]["actions"], json!([]));

    let replace = json!({"type": "replace_metadata", "args": exported});
    server.metadata_ok(replace).await;
    assert_eq!(root_fields(&server, "mutationType").await, ["userLogin"]);
    server.stop().await;
}

async fn invalid_metadata_is_refused_with_a_path_and_changes_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    server.metadata_ok(login_types()).await;
    let before = server
        .metadata_ok(json!({"type": "export_metadata", "args": {}}))
        .await;

    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"type": "create_action", "args": {"name": "a", "definition": {
                "output_type": "Missing", "handler": "http://localhost/x"}}}),
            "not-exists",
            "$.definition.output_type",
        ),
        (
            json!({"type": "create_action", "args": {"name": "a", "definition": {
                "output_type": "UserInfo", "handler": "http://localhost/x",
                "arguments": [{"name": "u", "type": "UserInfo"}]}}}),
            "validation-failed",
            "$.definition.arguments[0].type",
        ),
        (
            json!({"type": "create_action", "args": {"name": "a", "definition": {
                "output_type": "[UserInfo", "handler": "http://localhost/x"}}}),
            "parse-failed",
            "$.definition.output_type",
        ),
        (
            json!({"type": "create_action", "args": {"name": "a", "definition": {
                "output_type": "UserInfo", "handler": "ftp://localhost/x"}}}),
            "validation-failed",
            "$.definition.handler",
        ),
        (
            json!({"type": "set_custom_types", "args": {"objects": [
                {"name": "String", "fields": [{"name": "x", "type": "Int"}]}]}}),
            "already-exists",
            "$.custom_types.objects[0].name",
        ),
        (
            json!({"type": "create_action", "args": {"name": "a", "definition": {
                "output_type": "UserInfo", "handler": "http://localhost/x", "surprise": 1}}}),
            "parse-failed",
            "$.args",
        ),
        (
            json!({"type": "drop_action", "args": {"name": "nope"}}),
            "not-exists",
            "$.args.name",
        ),
        (
            json!({"type": "no_such_op", "args": {}}),
            "not-supported",
            "$.type",
        ),
        (
            json!({"type": "bulk", "args": [
                {"type": "create_action", "args": {"name": "ok", "definition": {
                    "output_type": "UserInfo", "handler": "http://localhost/x"}}},
                {"type": "drop_action", "args": {"name": "nope"}}]}),
            "not-exists",
            "$.args[1].args.name",
        ),
    ];
    for (request, code, path) in cases {
        let (status, error) = server.metadata(request.clone()).await;
        assert_eq!(status, 400, "{request} → {error}");
        assert_eq!(
            (error["code"].as_str(), error["path"].as_str()),
            (Some(code), Some(path))
        );
        assert!(!error["error"].as_str().expect("message").is_empty());
    }
    let (status, error) = server.metadata(json!("not an operation")).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (400, Some("parse-failed"))
    );

    let after = server
        .metadata_ok(json!({"type": "export_metadata", "args": {}}))
        .await;
    assert_eq!(after, before, "a refused request must change nothing");
    assert!(root_fields(&server, "mutationType").await.is_empty());

    // Replacing the custom types without the ones an action uses says why it failed.
    server
        .metadata_ok(login_action("http://localhost/x", json!({})))
        .await;
    let (status, error) = server
        .metadata(json!({"type": "bulk", "args": [
            {"type": "set_custom_types", "args": {"objects": [
                {"name": "Greeting", "fields": [{"name": "message", "type": "String!"}]}]}}]}))
        .await;
    assert_eq!((status, error["code"].as_str()), (400, Some("not-exists")));
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|e| e.contains("set_custom_types replaces every custom type")),
        "{error}"
    );
    server.stop().await;
}

async fn stale_resource_version_is_a_conflict(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    server.metadata_ok(login_types()).await;
    let current = server
        .metadata_ok(json!({"type": "export_metadata", "version": 2, "args": {}}))
        .await;
    assert_eq!(current["resource_version"], 1);
    let stale = json!({"type": "set_custom_types", "resource_version": 0, "args": {}});
    let (status, error) = server.metadata(stale).await;
    assert_eq!((status, error["code"].as_str()), (409, Some("conflict")));
    let fresh = json!({"type": "set_custom_types", "resource_version": 1, "args": {}});
    server.metadata_ok(fresh).await;
    server.stop().await;
}

async fn metadata_survives_a_restart_and_dropping_an_action_clears_its_events(backend: Backend) {
    let webhook = WebhookServer::login_ok().await;
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    server.metadata_ok(login_types()).await;
    server
        .metadata_ok(login_action(&format!("{}/login", webhook.url), json!({})))
        .await;
    server.stop().await;

    let server = TestServer::start(&db).await;
    let response = server.graphql(LOGIN_MUTATION, json!({})).await;
    assert_eq!(response["data"]["userLogin"]["accessToken"], "t");
    let store = db.store().await;
    let events = db.events("userLogin").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].status, EventState::Completed);

    let keep = json!({"type": "drop_action", "args": {"name": "userLogin", "clear_data": false}});
    server.metadata_ok(keep).await;
    assert_eq!(db.events("userLogin").await.len(), 1);

    server
        .metadata_ok(login_action(&format!("{}/login", webhook.url), json!({})))
        .await;
    server
        .metadata_ok(json!({"type": "drop_action", "args": {"name": "userLogin"}}))
        .await;
    assert!(db.events("userLogin").await.is_empty());
    assert!(
        store
            .attempts(events[0].id)
            .await
            .expect("attempts")
            .is_empty()
    );
    server.stop().await;
}

async fn metadata_directory_is_applied_at_start_and_exported_by_the_operator_commands(
    backend: Backend,
) {
    let webhook =
        WebhookServer::start(|_, _| Reply::json(200, json!({"accessToken": "dir", "userId": 2})))
            .await;
    let dir = login_metadata_dir(&webhook.url);

    let db = TestDb::new(backend).await;
    let metadata_dir = dir.path().to_owned();
    let server =
        TestServer::start_with(&db, |config| config.metadata_dir = Some(metadata_dir)).await;
    let response = server.graphql(LOGIN_MUTATION, json!({})).await;
    assert_eq!(response["data"]["userLogin"]["accessToken"], "dir");
    server.stop().await;

    let mut config = hookwing::Config::defaults();
    config.database_url = db.url.clone();
    config.environment = hookwing::config::Environment::default();
    let out = tempfile::tempdir().expect("tempdir");
    hookwing::ops::export_metadata_dir(&config, out.path())
        .await
        .expect("export");
    let exported = std::fs::read_to_string(out.path().join("actions.graphql")).expect("sdl");
    assert!(exported.contains("userLogin(username: String!, password: String!): UserInfo"));

    // Apply the exported directory back: it validates and bumps the version.
    let version = hookwing::ops::apply_metadata_dir(&config, out.path())
        .await
        .expect("apply");
    assert_eq!(version, 2);
    // An invalid directory is refused and leaves the stored metadata alone.
    std::fs::write(
        out.path().join("actions.graphql"),
        "type Mutation { userLogin: Nope }",
    )
    .expect("break sdl");
    assert!(
        hookwing::ops::apply_metadata_dir(&config, out.path())
            .await
            .is_err()
    );
    let stored = db
        .store()
        .await
        .load_metadata()
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(stored.resource_version, 2);
}

async fn quickstart_metadata_directory_serves_its_example_action(backend: Backend) {
    let webhook =
        WebhookServer::start(|_, _| Reply::json(200, json!({"accessToken": "quick", "userId": 3})))
            .await;
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart/metadata");
    let db = TestDb::new(backend).await;
    // Without the variable its handler names, the start is refused, naming the directory.
    let mut config = hookwing::Config::defaults();
    config.database_url = db.url.clone();
    config.environment = hookwing::config::Environment::default();
    config.metadata_dir = Some(dir.clone());
    config.wasm.cache_dir = std::env::temp_dir().join("hookwing-test-wasm-cache");
    let refused = match hookwing::server::AppState::start(config).await {
        Ok(_) => panic!("started without QUICKSTART_WEBHOOK_URL"),
        Err(error) => error.to_string(),
    };
    assert!(
        refused.starts_with(&format!("metadata directory {} is invalid", dir.display()))
            && refused.contains("QUICKSTART_WEBHOOK_URL"),
        "{refused}"
    );
    let server = TestServer::start_with(&db, |config| {
        config.metadata_dir = Some(dir);
        config.environment = config
            .environment
            .clone()
            .with("QUICKSTART_WEBHOOK_URL", &webhook.url);
    })
    .await;
    let response = server
        .graphql(
            "mutation { userLogin(username: \"ada\", password: \"secret\") { accessToken userId } }",
            json!({}),
        )
        .await;
    assert_eq!(
        response,
        json!({"data": {"userLogin": {"accessToken": "quick", "userId": 3}}})
    );
    assert_eq!(webhook.requests()[0].path, "/login");
    server.stop().await;
}

/// A metadata directory serving `userLogin` from `webhook`.
fn login_metadata_dir(webhook: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("actions.graphql"),
        "type Mutation {\n  userLogin(username: String!, password: String!): UserInfo\n}\n\n\
         type UserInfo {\n  accessToken: String!\n  userId: Int!\n}\n",
    )
    .expect("write sdl");
    std::fs::write(
        dir.path().join("actions.yaml"),
        format!(
            "actions:\n  - name: userLogin\n    definition:\n      kind: synchronous\n      \
             handler: {webhook}/login\ncustom_types:\n  objects:\n    - name: UserInfo\n"
        ),
    )
    .expect("write yaml");
    dir
}

/// Restarting with `--metadata-dir` used to replace, silently, whatever had been changed
/// through the API since: now such a start is refused, naming what would be lost, unless
/// `--metadata-dir-overwrite` says to go ahead; `metadata diff` shows the same beforehand.
async fn a_metadata_dir_start_never_discards_changes_made_through_the_api(backend: Backend) {
    use crate::harness::ServerProcess;
    let webhook = WebhookServer::login_ok().await;
    let dir = login_metadata_dir(&webhook.url);
    let db = TestDb::new(backend).await;
    let metadata_dir = dir.path().to_owned();
    let server =
        TestServer::start_with(&db, |config| config.metadata_dir = Some(metadata_dir)).await;
    server
        .metadata_ok(
            json!({"type": "create_action", "args": {"name": "extra", "definition": {
            "kind": "synchronous", "type": "mutation", "arguments": [],
            "output_type": "UserInfo", "handler": format!("{}/login", webhook.url)}}}),
        )
        .await;
    server.stop().await;
    let version = || async {
        let stored = db.store().await.load_metadata().await.expect("load");
        stored.expect("stored").resource_version
    };
    let changed = version().await;
    let binary = env!("CARGO_BIN_EXE_hookwing-under-test");
    let dir_arg = dir.path().to_str().expect("utf-8 path");

    let diff = std::process::Command::new(binary)
        .args(["metadata", "diff", dir_arg])
        .env("DATABASE_URL", &db.url)
        .output()
        .expect("metadata diff");
    let printed = String::from_utf8_lossy(&diff.stdout);
    assert!(diff.status.success(), "{printed}");
    assert_eq!(printed.trim(), "- action extra");

    let refused = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        tokio::process::Command::new(binary)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--metadata-dir",
                dir_arg,
            ])
            .env("DATABASE_URL", &db.url)
            .env("HOOKWING_WASM__CACHE_DIR", dir.path().join("cache"))
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the start is refused, not served")
    .expect("run serve");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{said}");
    assert!(said.contains("- action extra"), "{said}");
    assert!(said.contains("--metadata-dir-overwrite"), "{said}");
    assert_eq!(version().await, changed, "nothing was written");

    let overwriting = ServerProcess::start_with(
        &db.url,
        &dir.path().join("cache"),
        &[
            ("HOOKWING_METADATA_DIR", dir_arg),
            ("HOOKWING_METADATA_DIR_OVERWRITE", "true"),
        ],
    )
    .await;
    overwriting.kill();
    let stored = db.store().await.load_metadata().await.expect("load");
    let document = stored.expect("stored").document;
    let names: Vec<&str> = document["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|action| action["name"].as_str())
        .collect();
    assert_eq!(names, ["userLogin"]);

    // Applied from the directory now: the next start with it needs no flag.
    let metadata_dir = dir.path().to_owned();
    let server =
        TestServer::start_with(&db, |config| config.metadata_dir = Some(metadata_dir)).await;
    server.stop().await;
}
