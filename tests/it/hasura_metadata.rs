//! Metadata as Hasura writes it is accepted as it is: exported `kind: ""`, `arguments: null`,
//! Postgres scalars used without a declaration, `scalar String`, permission definitions,
//! relationships to tables (kept, exported, warned about), transforms (kept as written and
//! applied) and `ignored_client_headers`.

use serde_json::{Value, json};

use crate::harness::{
    Backend, Reply, TestDb, TestServer, WebhookServer, login_types, on_both_backends,
};

on_both_backends!(
    hasura_exports_are_accepted_and_served,
    relationships_are_warned_about_and_transforms_applied_both_kept,
    ignored_client_headers_replace_the_default_list,
    hasura_tooling_endpoints_and_operations_answer,
    metadata_cannot_read_the_servers_own_settings,
    inherited_roles_see_the_union_of_their_parents_actions,
);

fn create(name: &str, definition: Value) -> Value {
    json!({"type": "create_action", "args": {"name": name, "definition": definition}})
}

async fn hasura_exports_are_accepted_and_served(backend: Backend) {
    let webhook = WebhookServer::start(|_, _| {
        Reply::json(
            200,
            json!({"id": 7, "total": "12345678901234", "at": "2026-01-01T00:00:00"}),
        )
    })
    .await;
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let handler = format!("{}/count", webhook.url);
    let bulk = json!({"type": "bulk", "args": [
        {"type": "set_custom_types", "args": {
            // Restating a built-in is accepted; `bigint` and `timestamp` are the Postgres
            // source's scalars, used without a declaration.
            "scalars": [{"name": "String"}],
            "objects": [{"name": "Counted", "fields": [
                {"name": "id", "type": "Int!"},
                {"name": "total", "type": "bigint"},
                {"name": "at", "type": "timestamp"}
            ]}],
            "enums": [{"name": "Scope", "values": [
                {"value": "ALL", "description": null, "is_deprecated": null}
            ]}]
        }},
        // What Hasura's CLI exports for a query action.
        create("countAll", json!({
            "kind": "", "type": "query", "arguments": null,
            "output_type": "Counted", "handler": handler
        })),
        {"type": "create_action_permission", "args": {
            "action": "countAll", "role": "user", "definition": {}, "comment": "readers"
        }},
    ]});
    server.metadata_ok(bulk).await;

    let answer = server
        .graphql("{ countAll { id total at } }", json!({}))
        .await;
    assert_eq!(
        answer["data"]["countAll"],
        json!({"id": 7, "total": "12345678901234", "at": "2026-01-01T00:00:00"}),
        "{answer}"
    );
    let total = server
        .graphql("{ __type(name: \"bigint\") { kind name } }", json!({}))
        .await;
    assert_eq!(
        total["data"]["__type"],
        json!({"kind": "SCALAR", "name": "bigint"})
    );

    let exported = server
        .metadata_ok(json!({"type": "export_metadata", "args": {}}))
        .await;
    let action = &exported["actions"][0];
    assert_eq!(action["definition"]["kind"], "synchronous");
    assert_eq!(
        action["permissions"],
        json!([{"role": "user", "definition": {}, "comment": "readers"}])
    );
    // Unknown keys are still refused, by name.
    let (status, refused) = server
        .metadata(create(
            "typo",
            json!({"output_type": "Counted", "handler": "http://x/", "hanlder": 1}),
        ))
        .await;
    assert_eq!(status, 400);
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("hanlder")),
        "{refused}"
    );
    server.stop().await;
}

async fn relationships_are_warned_about_and_transforms_applied_both_kept(backend: Backend) {
    let webhook = WebhookServer::login_ok().await;
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let relationship = json!({
        "name": "user", "type": "object", "source": "default",
        "remote_table": {"schema": "public", "name": "users"},
        "field_mapping": {"userId": "id"}
    });
    let mut types = login_types();
    types["args"]["objects"][0]["relationships"] = json!([relationship]);
    let answer = server.metadata_ok(types).await;
    assert_eq!(answer["message"], "success");
    assert_eq!(
        answer["warnings"][0]["code"], "relationship-not-served",
        "{answer}"
    );
    assert_eq!(
        answer["warnings"][0]["path"],
        "$.custom_types.objects[0].relationships[0]"
    );

    let transform = json!({
        "version": 2, "template_engine": "Kriti", "method": "GET",
        "url": "{{$base_url}}/users/{{$body.input.username}}"
    });
    let answer = server
        .metadata_ok(create(
            "userLogin",
            json!({
                "arguments": [{"name": "username", "type": "String!"}],
                "output_type": "UserInfo",
                "handler": format!("{}/login", webhook.url),
                "request_transform": transform
            }),
        ))
        .await;
    assert!(answer.get("warnings").is_none(), "{answer}");

    // Calling it sends what the transform says.
    let call = server
        .graphql(
            "mutation { userLogin(username: \"ada\") { userId } }",
            json!({}),
        )
        .await;
    assert_eq!(call["data"]["userLogin"]["userId"], 1, "{call}");
    let sent = &webhook.requests()[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("GET", "/login/users/ada")
    );

    // Both are kept as written, across a restart too.
    server.stop().await;
    let server = TestServer::start(&db).await;
    let exported = server
        .metadata_ok(json!({"type": "export_metadata", "args": {}}))
        .await;
    assert_eq!(
        exported["custom_types"]["objects"][0]["relationships"],
        json!([relationship])
    );
    assert_eq!(
        exported["actions"][0]["definition"]["request_transform"],
        transform
    );
    server.stop().await;
}

async fn ignored_client_headers_replace_the_default_list(backend: Backend) {
    let webhook = WebhookServer::login_ok().await;
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    server.metadata_ok(login_types()).await;
    let definition = |name: &str, ignored: Option<Value>| {
        let mut definition = json!({
            "arguments": [{"name": "username", "type": "String!"}],
            "output_type": "UserInfo",
            "handler": format!("{}/{name}", webhook.url),
            "forward_client_headers": true
        });
        if let Some(ignored) = ignored {
            definition["ignored_client_headers"] = ignored;
        }
        create(name, definition)
    };
    server.metadata_ok(definition("byDefault", None)).await;
    server
        .metadata_ok(definition(
            "listed",
            Some(json!(["X-Private", "Content-Length"])),
        ))
        .await;
    let headers = [("accept-language", "fr"), ("x-private", "secret")];
    for name in ["byDefault", "listed"] {
        let query = format!("mutation {{ {name}(username: \"ada\") {{ userId }} }}");
        let (status, body) = server.graphql_raw(json!({"query": query}), &headers).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["errors"].is_null(), "{body}");
    }
    let sent = |path: &str| {
        webhook
            .requests()
            .into_iter()
            .find(|r| r.path == path)
            .expect("delivered")
            .headers
    };
    let by_default = sent("/byDefault");
    assert_eq!(
        by_default.get("x-private").map(String::as_str),
        Some("secret")
    );
    assert!(
        !by_default.contains_key("accept-language"),
        "{by_default:?}"
    );
    let listed = sent("/listed");
    assert_eq!(
        listed.get("accept-language").map(String::as_str),
        Some("fr")
    );
    assert!(!listed.contains_key("x-private"), "{listed:?}");
    server.stop().await;
}

async fn hasura_tooling_endpoints_and_operations_answer(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let version: Value = server
        .client
        .get(format!("{}/v1/version", server.url))
        .send()
        .await
        .expect("version")
        .json()
        .await
        .expect("JSON");
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));

    // Hasura's v1 endpoint takes the metadata operations too.
    let via_query: Value = server
        .client
        .post(format!("{}/v1/query", server.url))
        .json(&login_types())
        .send()
        .await
        .expect("v1/query")
        .json()
        .await
        .expect("JSON");
    assert_eq!(via_query["message"], "success");
    let consistency = server
        .metadata_ok(json!({"type": "get_inconsistent_metadata", "args": {}}))
        .await;
    assert_eq!(
        consistency,
        json!({"is_consistent": true, "inconsistent_objects": []})
    );

    // A change written to the database behind the server's back is served after a reload.
    let store = db.store().await;
    let stored = store.load_metadata().await.expect("load").expect("stored");
    let mut document = stored.document.clone();
    document["actions"] = json!([{"name": "ping", "definition": {
        "type": "query", "output_type": "Boolean", "handler": "http://127.0.0.1:9/ping"}}]);
    store
        .save_metadata(
            stored.resource_version,
            &document,
            hookwing::store::MetadataSource::Api,
        )
        .await
        .expect("save");
    let reloaded = server
        .metadata_ok(json!({"type": "reload_metadata", "args": {}}))
        .await;
    assert_eq!(reloaded["message"], "success");
    let exported = server
        .metadata_ok(json!({"type": "export_metadata", "args": {}}))
        .await;
    assert_eq!(exported["actions"][0]["name"], "ping", "{exported}");

    server
        .metadata_ok(json!({"type": "clear_metadata", "args": {}}))
        .await;
    let cleared = server
        .metadata_ok(json!({"type": "export_metadata", "args": {}}))
        .await;
    assert_eq!(cleared["actions"], json!([]));
    assert_eq!(cleared["custom_types"]["objects"], json!([]));
    server.stop().await;
}

async fn metadata_cannot_read_the_servers_own_settings(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start_with(&db, |config| {
        config.environment = hookwing::config::Environment::default()
            .with("HOOKWING_ADMIN_SECRET", "s3cret")
            .with("HASURA_GRAPHQL_DATABASE_URL", "postgres://x");
    })
    .await;
    server.metadata_ok(login_types()).await;
    let with_header = |name: &str| {
        create(
            "leak",
            json!({"output_type": "UserInfo", "handler": "http://127.0.0.1:9/x",
                   "headers": [{"name": "x-key", "value_from_env": name}]}),
        )
    };
    for name in ["HOOKWING_ADMIN_SECRET", "HASURA_GRAPHQL_DATABASE_URL"] {
        let (status, error) = server.metadata(with_header(name)).await;
        assert_eq!(status, 400, "{error}");
        assert_eq!(error["code"], "parse-failed");
        assert_eq!(error["path"], "$.definition.headers[0]");
        assert!(
            error["error"]
                .as_str()
                .is_some_and(|e| e.contains(name) && e.contains("not allowed")),
            "{error}"
        );
    }
    let (status, error) = server
        .metadata(create(
            "leak",
            json!({"output_type": "UserInfo", "handler": "{{HOOKWING_ADMIN_SECRET}}/x"}),
        ))
        .await;
    assert_eq!(status, 400, "{error}");
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|e| e.contains("not allowed")),
        "{error}"
    );
    server.stop().await;
}

async fn inherited_roles_see_the_union_of_their_parents_actions(backend: Backend) {
    let webhook = WebhookServer::login_ok().await;
    let db = TestDb::new(backend).await;
    let server =
        TestServer::start_with(&db, |config| config.admin_secret = Some("s3cret".into())).await;
    let handler = format!("{}/login", webhook.url);
    let action = |name: &str| {
        create(
            name,
            json!({"output_type": "UserInfo", "handler": handler,
                   "arguments": [{"name": "username", "type": "String!"}]}),
        )
    };
    let grant = |action: &str, role: &str| json!({"type": "create_action_permission", "args": {"action": action, "role": role}});
    server
        .metadata_ok(json!({"type": "bulk", "args": [
            login_types(), action("readThing"), action("writeThing"), action("adminOnly"),
            grant("readThing", "reader"), grant("writeThing", "writer"),
            {"type": "add_inherited_role", "args": {"role_name": "editor", "role_set": ["reader", "writer"]}},
            {"type": "add_inherited_role", "args": {"role_name": "chief", "role_set": ["editor"]}},
        ]}))
        .await;
    let mutations = |role: &'static str| {
        let server = &server;
        async move {
            let (_, body) = server
                .graphql_raw(
                    json!({"query": "{ __schema { mutationType { fields { name } } } }"}),
                    &[("x-hasura-admin-secret", "s3cret"), ("x-hasura-role", role)],
                )
                .await;
            let mut names: Vec<String> = body["data"]["__schema"]["mutationType"]["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["name"].as_str().map(str::to_owned))
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(mutations("reader").await, ["readThing"]);
    assert_eq!(mutations("editor").await, ["readThing", "writeThing"]);
    assert_eq!(
        mutations("chief").await,
        ["readThing", "writeThing"],
        "nested"
    );
    let (_, denied) = server
        .graphql_raw(
            json!({"query": "mutation { adminOnly(username: \"a\") { userId } }"}),
            &[
                ("x-hasura-admin-secret", "s3cret"),
                ("x-hasura-role", "editor"),
            ],
        )
        .await;
    assert!(denied["errors"].is_array(), "{denied}");

    let exported = server
        .metadata_ok(json!({"type": "export_metadata", "args": {}}))
        .await;
    assert_eq!(
        exported["inherited_roles"],
        json!([{"role_name": "editor", "role_set": ["reader", "writer"]},
               {"role_name": "chief", "role_set": ["editor"]}])
    );
    // A cycle is refused; dropping works.
    let (status, cycle) = server
        .metadata(json!({"type": "add_inherited_role", "args": {"role_name": "reader", "role_set": ["chief"]}}))
        .await;
    assert_eq!(status, 400, "{cycle}");
    server
        .metadata_ok(json!({"type": "drop_inherited_role", "args": {"role_name": "chief"}}))
        .await;
    assert!(mutations("chief").await.is_empty());
    server.stop().await;
}
