//! WebAssembly handlers end to end: upload, call, record, replace, pin, delete — and every way an
//! upload can be wrong, refused with a reason and changing nothing.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{
    Backend, LOGIN_MUTATION, Reply, TestDb, TestServer, WebhookServer, guest_wasm, guests,
    login_action, login_types, on_both_backends,
};
use hookwing::store::{AttemptOutcome, EventState};

on_both_backends!(
    uploaded_handler_answers_its_action_and_every_attempt_is_recorded,
    invalid_uploads_are_refused_with_the_reason_and_change_nothing,
    new_versions_activate_atomically_and_pins_keep_old_ones,
    handlers_in_use_cannot_be_deleted_and_unknown_handlers_cannot_be_used,
    handlers_survive_a_restart,
    guests_reach_only_allow_listed_hosts_and_never_the_inside_by_default,
    validation_handler_rejects_with_field_extensions,
    operator_commands_manage_handlers_through_the_server,
    retries_run_the_version_that_first_ran_the_event,
    a_synchronous_calls_retries_run_the_version_its_first_attempt_ran,
);

type BadUpload = (
    &'static str,
    Vec<u8>,
    Option<Value>,
    u16,
    &'static str,
    &'static str,
);

const SECRET_LOGIN: &str =
    "mutation { userLogin(username: \"ada\", password: \"secret\") { accessToken userId } }";

async fn uploaded_handler_answers_its_action_and_every_attempt_is_recorded(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let uploaded = server
        .upload_guest("user-login", "user-login", json!({}))
        .await;
    assert_eq!(uploaded["name"], "user-login");
    assert_eq!(uploaded["sha256"].as_str().map(str::len), Some(64));
    server.metadata_ok(login_types()).await;
    server
        .metadata_ok(login_action("wasm://user-login", json!({})))
        .await;

    let response = server.graphql(SECRET_LOGIN, json!({})).await;
    assert_eq!(
        response,
        json!({"data": {"userLogin": {"accessToken": "token-for-ada", "userId": 4951}}})
    );
    let rejected = server.graphql(LOGIN_MUTATION, json!({})).await;
    assert!(rejected["data"].is_null(), "{rejected}");
    assert_eq!(rejected["errors"][0]["message"], "invalid credentials");
    assert_eq!(
        rejected["errors"][0]["extensions"]["code"],
        "invalid-credentials"
    );

    let events = db.events("userLogin").await;
    assert_eq!(events.len(), 2);
    let store = db.store().await;
    let completed = events
        .iter()
        .find(|e| e.status == EventState::Completed)
        .expect("completed");
    assert_eq!(
        completed.response_payload,
        Some(json!({"accessToken": "token-for-ada", "userId": 4951}))
    );
    let attempts = store.attempts(completed.id).await.expect("attempts");
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (attempts[0].outcome, attempts[0].status_code),
        (AttemptOutcome::Success, None)
    );
    let logs = attempts[0].logs.to_string();
    assert!(
        logs.contains("login for ada") && logs.contains(&completed.id.to_string()),
        "{logs}"
    );

    let failed = events
        .iter()
        .find(|e| e.status == EventState::Error)
        .expect("rejected");
    let attempts = store.attempts(failed.id).await.expect("attempts");
    assert_eq!(attempts[0].outcome, AttemptOutcome::Rejected);
    server.stop().await;
}

async fn invalid_uploads_are_refused_with_the_reason_and_change_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let limit = guest_wasm("hostile").len() + 1024;
    let server = TestServer::start_with(&db, |config| config.wasm.max_handler_bytes = limit).await;
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    let empty_component = wat::parse_str("(component)").expect("wat");
    let keyvalue = wat::parse_str(r#"(component (import "wasi:keyvalue/store@0.2.0" (instance)))"#)
        .expect("wat");
    let foreign =
        wat::parse_str(r#"(component (import "acme:admin/shell" (instance)))"#).expect("wat");
    let big = vec![0_u8; limit + 1];
    // (handler name, body, config, expected status, code, words the reason must contain)
    let cases: Vec<BadUpload> = vec![
        ("empty", Vec::new(), None, 400, "invalid-handler", "empty"),
        (
            "text",
            b"hello, world".to_vec(),
            None,
            400,
            "invalid-handler",
            "not WebAssembly",
        ),
        (
            "core",
            core_module,
            None,
            400,
            "invalid-handler",
            "core WebAssembly module",
        ),
        (
            "corrupt",
            b"\0asm\x0d\0\x01\0\x07garbage".to_vec(),
            None,
            400,
            "invalid-handler",
            "not a valid component",
        ),
        (
            "world",
            empty_component,
            None,
            400,
            "invalid-handler",
            "does not implement the world",
        ),
        (
            "keyvalue",
            keyvalue,
            None,
            400,
            "invalid-handler",
            "imports `wasi:keyvalue/store@0.2.0`",
        ),
        (
            "foreign",
            foreign,
            None,
            400,
            "invalid-handler",
            "hookwing:action interfaces and WASI only",
        ),
        (
            "big",
            big,
            None,
            413,
            "request-too-large",
            "larger than the limit",
        ),
        (
            "config",
            guest_wasm("hostile"),
            Some(json!({"allowed_hostz": []})),
            400,
            "invalid-config",
            "allowed_hostz",
        ),
        (
            "memory",
            guest_wasm("hostile"),
            Some(json!({"memory_limit_mib": 100_000})),
            400,
            "invalid-config",
            "memory_limit_mib",
        ),
        (
            "bad name!",
            guest_wasm("hostile"),
            None,
            400,
            "invalid-name",
            "not a valid handler name",
        ),
    ];
    for (name, bytes, config, status, code, reason) in cases {
        let path = name.replace(' ', "%20");
        let (got_status, body) = server.upload_handler(&path, bytes, config).await;
        assert_eq!(
            (got_status, body["code"].as_str()),
            (status, Some(code)),
            "{name}: {body}"
        );
        let error = body["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(reason),
            "{name}: `{error}` should mention `{reason}`"
        );
    }
    let (status, listing) = server.handlers_api(Method::GET, "").await;
    assert_eq!((status, listing), (200, json!({"handlers": []})));
    server.stop().await;
}

async fn new_versions_activate_atomically_and_pins_keep_old_ones(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let first = server.upload_guest("login", "user-login", json!({})).await;
    let first_sha = first["sha256"].as_str().expect("sha").to_owned();
    server.metadata_ok(login_types()).await;
    server
        .metadata_ok(login_action("wasm://login", json!({})))
        .await;
    assert!(server.graphql(SECRET_LOGIN, json!({})).await["errors"].is_null());

    // Same bytes, new config: the new version takes over at once.
    let second = server
        .upload_guest(
            "login",
            "user-login",
            json!({"config": {"password": "hunter2"}}),
        )
        .await;
    assert_eq!(second["sha256"], first_sha.as_str());
    let response = server.graphql(SECRET_LOGIN, json!({})).await;
    assert_eq!(
        response["errors"][0]["extensions"]["code"], "invalid-credentials",
        "{response}"
    );

    // Different bytes under the same name: a second version; the first stays pinnable.
    let third = server.upload_guest("login", "conformance", json!({})).await;
    assert_ne!(third["sha256"], first_sha.as_str());
    let (_, details) = server.handlers_api(Method::GET, "/login").await;
    assert_eq!(details["sha256"], third["sha256"]);
    assert_eq!(details["versions"].as_array().map(Vec::len), Some(2));
    assert_eq!(details["used_by"], json!(["userLogin"]));

    let pinned = format!("wasm://login@{}", &first_sha[..12]);
    let update = json!({"type": "update_action", "args": {"name": "userLogin", "definition": {
        "kind": "synchronous", "type": "mutation",
        "arguments": [{"name": "username", "type": "String!"}, {"name": "password", "type": "String!"}],
        "output_type": "UserInfo", "handler": pinned, "timeout": 5}}});
    server.metadata_ok(update).await;
    let response = server
        .graphql(
            "mutation { userLogin(username: \"ada\", password: \"hunter2\") { accessToken } }",
            json!({}),
        )
        .await;
    assert_eq!(
        response,
        json!({"data": {"userLogin": {"accessToken": "token-for-ada"}}})
    );

    let (status, body) = server
        .metadata(login_action("wasm://login@0000000000", json!({})))
        .await;
    assert_eq!(status, 400, "{body}");

    // A rollback without the bytes at hand: the first version is made the active one again,
    // through the client the CLI uses; its upload time stays what it was.
    let admin = hookwing::remote::AdminClient::new(&server.url, None);
    let activated = admin
        .activate_handler("login", &first_sha[..12])
        .await
        .expect("activate");
    assert_eq!(activated["sha256"], first_sha.as_str(), "{activated}");
    let time = |value: &Value| {
        chrono::DateTime::parse_from_rfc3339(value.as_str().expect("a time")).expect("RFC 3339")
    };
    assert!(
        time(&activated["activated_at"]) > time(&activated["uploaded_at"]),
        "{activated}"
    );
    let (_, details) = server.handlers_api(Method::GET, "/login").await;
    assert_eq!(details["sha256"], first_sha.as_str());
    assert_eq!(
        details["versions"][0]["sha256"],
        first_sha.as_str(),
        "active listed first"
    );
    assert_eq!(details["versions"][1]["sha256"], third["sha256"]);
    let refused = admin
        .activate_handler("login", "ffffffffffff")
        .await
        .expect_err("no such version");
    assert!(
        matches!(refused, hookwing::remote::RemoteError::Refused { status, .. } if status == 404),
        "{refused}"
    );
    let (status, body) = server
        .admin_request(Method::POST, "/v1/handlers/login/versions/not-hex/activate")
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid-request"))
    );

    // A prefix that starts two versions names neither: refused, and the active one stays.
    let shared = upload_until_two_share_a_first_digit(&server, "twins").await;
    let (_, before) = server.handlers_api(Method::GET, "/twins").await;
    let (status, body) = server
        .admin_request(
            Method::POST,
            &format!("/v1/handlers/twins/versions/{shared}/activate"),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid-request")),
        "{body}"
    );
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("give more of the sha256")),
        "{body}"
    );
    let (_, after) = server.handlers_api(Method::GET, "/twins").await;
    assert_eq!(
        after["sha256"], before["sha256"],
        "the active version stays"
    );
    server.stop().await;
}

/// Uploads versions of one component (told apart by a custom section, which changes the
/// bytes and nothing else) until two versions' sha256 start with the same hex digit, as one
/// must by the seventeenth; that digit.
async fn upload_until_two_share_a_first_digit(server: &TestServer, name: &str) -> char {
    let wasm = guest_wasm("user-login");
    let mut seen = std::collections::HashSet::new();
    for n in 0..17_u8 {
        let section_name = b"hookwing-test";
        let payload = [n];
        let mut bytes = wasm.clone();
        bytes.push(0); // custom section
        bytes.push(u8::try_from(1 + section_name.len() + payload.len()).expect("small"));
        bytes.push(u8::try_from(section_name.len()).expect("small"));
        bytes.extend_from_slice(section_name);
        bytes.extend_from_slice(&payload);
        let (status, body) = server.upload_handler(name, bytes, None).await;
        assert_eq!(status, 200, "{body}");
        let first = body["sha256"]
            .as_str()
            .and_then(|sha| sha.chars().next())
            .expect("a sha256");
        if !seen.insert(first) {
            return first;
        }
    }
    unreachable!("17 versions over 16 hex digits: two share one")
}

async fn handlers_in_use_cannot_be_deleted_and_unknown_handlers_cannot_be_used(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    server.metadata_ok(login_types()).await;
    let (status, body) = server
        .metadata(login_action("wasm://nobody", json!({})))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("validation-failed")),
        "{body}"
    );
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("no wasm handler `nobody`")),
        "{body}"
    );
    assert_eq!(body["path"], "$.definition.handler");

    server.upload_guest("login", "user-login", json!({})).await;
    server
        .metadata_ok(login_action("wasm://login", json!({})))
        .await;
    let (status, body) = server.handlers_api(Method::DELETE, "/login").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("handler-in-use")),
        "{body}"
    );
    assert!(server.graphql(SECRET_LOGIN, json!({})).await["errors"].is_null());

    server
        .metadata_ok(json!({"type": "drop_action", "args": {"name": "userLogin"}}))
        .await;
    let (status, _) = server.handlers_api(Method::DELETE, "/login").await;
    assert_eq!(status, 200);
    let (status, body) = server.handlers_api(Method::GET, "/login").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not-exists")));
    let (status, _) = server.handlers_api(Method::DELETE, "/login").await;
    assert_eq!(status, 404);
    server.stop().await;
}

async fn handlers_survive_a_restart(backend: Backend) {
    let db = TestDb::new(backend).await;
    let cache = tempfile::tempdir().expect("cache dir");
    let cache_dir = cache.path().to_owned();
    let dir = cache_dir.clone();
    let server = TestServer::start_with(&db, |config| config.wasm.cache_dir = dir).await;
    server.upload_guest("login", "user-login", json!({})).await;
    server.metadata_ok(login_types()).await;
    server
        .metadata_ok(login_action("wasm://login", json!({})))
        .await;
    server.stop().await;
    assert!(
        std::fs::read_dir(&cache_dir)
            .expect("cache")
            .next()
            .is_some(),
        "compiled artifacts are cached on disk"
    );

    let server = TestServer::start_with(&db, |config| config.wasm.cache_dir = cache_dir).await;
    let response = server.graphql(SECRET_LOGIN, json!({})).await;
    assert_eq!(
        response["data"]["userLogin"]["accessToken"], "token-for-ada",
        "{response}"
    );
    server.stop().await;
}

async fn guests_reach_only_allow_listed_hosts_and_never_the_inside_by_default(backend: Backend) {
    let api = WebhookServer::start(|request, _| match request.path.as_str() {
        "/postcodes/FR/75001" => Reply::json(200, json!({"city": "Paris", "region": "IDF"})),
        _ => Reply::json(404, json!({})),
    })
    .await;
    let api_host = api.url.trim_start_matches("http://").to_owned();
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let config = |hosts: Vec<&str>, private: bool| {
        json!({"allowed_hosts": hosts, "allow_private_network": private,
               "config": {"api_url": api.url}})
    };
    server
        .upload_guest("enrich", "enrich-address", config(vec![&api_host], true))
        .await;
    server
        .metadata_ok(crate::harness::enrich_metadata("enrich"))
        .await;
    let lookup = |postcode: &str| {
        format!("{{ enrichAddress(country: \"fr\", postcode: \"{postcode}\") {{ city region }} }}")
    };

    let found = server.graphql(&lookup("75 001"), json!({})).await;
    assert_eq!(
        found,
        json!({"data": {"enrichAddress": {"city": "Paris", "region": "IDF"}}})
    );
    let missing = server.graphql(&lookup("99999"), json!({})).await;
    assert_eq!(
        missing["errors"][0]["extensions"]["code"], "not-found",
        "{missing}"
    );
    assert_eq!(api.requests().len(), 2);

    let refused = [
        (config(vec![&api_host], false), "an internal address"),
        (
            config(vec!["api.example.com"], true),
            "not in this handler's allowed_hosts",
        ),
        (config(vec![], true), "not in this handler's allowed_hosts"),
    ];
    for (config, why) in refused {
        server
            .upload_guest("enrich", "enrich-address", config)
            .await;
        let response = server.graphql(&lookup("75001"), json!({})).await;
        let reason = response["errors"][0]["extensions"]["internal"]["reason"]
            .as_str()
            .unwrap_or_default();
        assert!(reason.contains("HTTP request failed"), "{response}");
        let events = db.events("enrichAddress").await;
        let store = db.store().await;
        let attempt = &store.attempts(events[0].id).await.expect("attempts")[0];
        assert!(
            attempt.logs.to_string().contains(why),
            "{why}: {}",
            attempt.logs
        );
    }
    assert_eq!(
        api.requests().len(),
        2,
        "refused requests never left the server"
    );
    server.stop().await;
}

async fn validation_handler_rejects_with_field_extensions(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    server
        .upload_guest("validate-signup", "validate-signup", json!({}))
        .await;
    server
        .metadata_ok(json!({"type": "bulk", "args": [
            {"type": "set_custom_types", "args": {"objects": [{"name": "SignupCheck", "fields": [
                {"name": "email", "type": "String!"}, {"name": "username", "type": "String!"}]}]}},
            {"type": "create_action", "args": {"name": "validateSignup", "definition": {
                "arguments": [{"name": "email", "type": "String!"},
                    {"name": "username", "type": "String!"}, {"name": "age", "type": "Int!"}],
                "output_type": "SignupCheck", "handler": "wasm://validate-signup"}}}
        ]}))
        .await;
    let signup = "mutation($e: String!, $a: Int!) { validateSignup(email: $e, username: \"ada_l\", age: $a) { email username } }";
    let good = server
        .graphql(signup, json!({"e": "Ada@Example.com", "a": 36}))
        .await;
    assert_eq!(
        good,
        json!({"data": {"validateSignup": {"email": "ada@example.com", "username": "ada_l"}}})
    );
    let young = server
        .graphql(signup, json!({"e": "ada@example.com", "a": 7}))
        .await;
    assert_eq!(
        young["errors"][0]["extensions"],
        json!({"code": "invalid-input", "field": "age", "rule": "range"}),
        "{young}"
    );
    assert_eq!(
        young["errors"][0]["message"],
        "age must be between 13 and 130"
    );
    server.stop().await;
}

async fn operator_commands_manage_handlers_through_the_server(backend: Backend) {
    use hookwing::remote::{AdminClient, RemoteError};

    let db = TestDb::new(backend).await;
    let server =
        TestServer::start_with(&db, |config| config.admin_secret = Some("s3cret".into())).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let wasm = dir.path().join("login.wasm");
    std::fs::write(&wasm, guest_wasm("user-login")).expect("write wasm");
    let config = dir.path().join("login.json");
    std::fs::write(&config, r#"{"config": {"password": "pw"}}"#).expect("write config");

    let anonymous = AdminClient::new(&server.url, None);
    let denied = anonymous.list_handlers().await.expect_err("no secret");
    assert!(
        matches!(denied, RemoteError::Refused { status, .. } if status == 401),
        "{denied}"
    );

    let admin = AdminClient::new(&server.url, Some("s3cret".into()));
    let uploaded = admin
        .upload_handler("login", &wasm, Some(&config))
        .await
        .expect("upload");
    assert_eq!(uploaded["config"], json!({"config": {"password": "pw"}}));
    let listed = admin.list_handlers().await.expect("list");
    assert_eq!(listed["handlers"][0]["name"], "login");
    // `hookwing handlers show`: every version, the active one with its world.
    let shown = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookwing-under-test"))
        .args(["handlers", "show", "login", "--server", &server.url])
        .args(["--admin-secret", "s3cret"])
        .output()
        .await
        .expect("hookwing handlers show");
    assert!(shown.status.success(), "{shown:?}");
    let shown: Value = serde_json::from_slice(&shown.stdout).expect("JSON");
    assert_eq!(
        shown["versions"][0]["sha256"], uploaded["sha256"],
        "{shown}"
    );
    assert_eq!(
        shown["versions"][0]["world"],
        "hookwing:action/action-handler@0.2.0"
    );

    std::fs::write(&config, "{not json").expect("write config");
    let bad = admin
        .upload_handler("login", &wasm, Some(&config))
        .await
        .expect_err("bad config");
    assert!(matches!(bad, RemoteError::Config { .. }), "{bad}");
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not wasm").expect("write text");
    let refused = admin
        .upload_handler("login", &text, None)
        .await
        .expect_err("not wasm");
    assert!(refused.to_string().contains("not WebAssembly"), "{refused}");

    admin.delete_handler("login").await.expect("delete");
    assert_eq!(
        admin.list_handlers().await.expect("list"),
        json!({"handlers": []})
    );
    server.stop().await;
}

/// The same handler written in Python (componentize-py) behaves exactly like the Rust one:
/// the WIT world is the contract, not the SDK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_guest_answers_exactly_like_the_rust_one() {
    let Some(python) = guests::USER_LOGIN_PY else {
        eprintln!("skipping: componentize-py was not available when the tests were built");
        return;
    };
    let db = TestDb::new(Backend::Sqlite).await;
    let server = TestServer::start(&db).await;
    let (status, body) = server
        .upload_handler(
            "login-py",
            std::fs::read(python).expect("read python guest"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    server
        .upload_guest("login-rs", "user-login", json!({}))
        .await;
    server.metadata_ok(login_types()).await;
    server
        .metadata_ok(login_action("wasm://login-py", json!({})))
        .await;
    let mut answers = Vec::new();
    for handler in ["wasm://login-py", "wasm://login-rs"] {
        let update = login_action(handler, json!({}));
        let update = json!({"type": "update_action", "args": update["args"]});
        server.metadata_ok(update).await;
        answers.push((
            server.graphql(SECRET_LOGIN, json!({})).await,
            server.graphql(LOGIN_MUTATION, json!({})).await,
        ));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(
        answers[0].0["data"]["userLogin"]["accessToken"],
        "token-for-ada"
    );
    assert_eq!(
        answers[0].1["errors"][0]["extensions"]["code"],
        "invalid-credentials"
    );
    server.stop().await;
}

/// Every guest example must be exercised by some test; adding one without a test fails here.
#[test]
fn every_guest_example_has_a_test() {
    const TESTED: [&str; 6] = [
        "conformance",
        "enrich-address",
        "hostile",
        "kv-probe",
        "user-login",
        "validate-signup",
    ];
    let built: Vec<&str> = guests::ALL.iter().map(|(name, _)| *name).collect();
    assert_eq!(built, TESTED, "guest-examples/ and the tests disagree");
}

/// The versions each attempt ran, in order.
fn versions(event: &Value) -> Vec<String> {
    event["attempt_log"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| a["handler_version"].as_str().unwrap_or("none").to_owned())
        .collect()
}

/// An asynchronous event's retries run the component version its first attempt ran, even
/// after a new version is uploaded; a redelivery repeats that version unless asked for the
/// current one.
async fn retries_run_the_version_that_first_ran_the_event(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let first = server.upload_guest("flaky", "conformance", json!({})).await;
    let first_sha = first["sha256"].as_str().expect("sha").to_owned();
    server.metadata_ok(login_types()).await;
    server
        .metadata_ok(
            json!({"type": "create_action", "args": {"name": "flakyCall", "definition": {
                "kind": "asynchronous",
                "arguments": [{"name": "scenario", "type": "String!"}],
                "output_type": "UserInfo",
                "handler": "wasm://flaky",
                "retry": {"max_attempts": 3, "initial_interval_ms": 2000,
                          "max_interval_ms": 2000, "jitter": 0.0}
            }}}),
        )
        .await;
    let created = server
        .graphql(
            r#"mutation { flakyCall(scenario: "always-fail") }"#,
            json!({}),
        )
        .await;
    let id = created["data"]["flakyCall"]
        .as_str()
        .expect("an id")
        .to_owned();

    // The first attempt has run; then another version becomes the active one.
    server
        .event_when(&id, |e| e["attempts"].as_i64() >= Some(1))
        .await;
    let second = server.upload_guest("flaky", "user-login", json!({})).await;
    let second_sha = second["sha256"].as_str().expect("sha").to_owned();
    assert_ne!(first_sha, second_sha);
    let uploaded = chrono::Utc::now();
    let dead = server.event_when(&id, |e| e["status"] == "error").await;
    assert_eq!(versions(&dead), vec![first_sha.clone(); 3], "{dead}");
    assert_eq!(dead["handler_version"], first_sha.as_str());
    let after_upload = dead["attempt_log"]
        .as_array()
        .expect("attempts")
        .iter()
        .filter(|a| {
            chrono::DateTime::parse_from_rfc3339(a["started_at"].as_str().expect("a time"))
                .expect("RFC 3339")
                > uploaded
        })
        .count();
    assert!(after_upload >= 1, "a retry ran after the upload: {dead}");

    // Redelivered as it ran: the same version again.
    let (status, body) = server
        .admin_request(Method::POST, &format!("/v1/events/{id}/redeliver"))
        .await;
    assert_eq!(status, 200, "{body}");
    let again = server
        .event_when(&id, |e| {
            e["status"] == "error" && e["attempts"].as_i64() == Some(6)
        })
        .await;
    assert_eq!(versions(&again), vec![first_sha.clone(); 6], "{again}");

    // Redelivered to the current version: the newer component answers.
    let (status, body) = server
        .admin_request(
            Method::POST,
            &format!("/v1/events/{id}/redeliver?handler=current"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let current = server
        .event_when(&id, |e| {
            e["attempts"].as_i64() >= Some(7)
                && e["status"] != "created"
                && e["status"] != "processing"
        })
        .await;
    assert_eq!(versions(&current)[6], second_sha, "{current}");

    let (status, body) = server
        .admin_request(
            Method::POST,
            &format!("/v1/events/{id}/redeliver?handler=newest"),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid-request")),
        "{body}"
    );
    let (status, _) = server
        .admin_request(Method::GET, "/v1/events?handler=same")
        .await;
    assert_eq!(status, 400, "handler belongs to redeliveries");
    server.stop().await;
}

/// A synchronous call that retries keeps the component version of its first attempt, even
/// when a new version becomes active while it waits to retry.
async fn a_synchronous_calls_retries_run_the_version_its_first_attempt_ran(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let first = server
        .upload_guest("steady", "conformance", json!({}))
        .await;
    server.metadata_ok(login_types()).await;
    server
        .metadata_ok(
            json!({"type": "create_action", "args": {"name": "steadyCall", "definition": {
                "arguments": [{"name": "scenario", "type": "String!"}],
                "output_type": "UserInfo",
                "handler": "wasm://steady",
                "timeout": 20,
                "retry": {"max_attempts": 2, "initial_interval_ms": 2500,
                          "max_interval_ms": 2500, "jitter": 0.0}
            }}}),
        )
        .await;
    // The call fails once, then waits 2.5 s to retry; meanwhile another version (the login
    // component, which would refuse this input) becomes the active one.
    let call = server.graphql(
        r#"mutation { steadyCall(scenario: "fail-then-succeed") { accessToken } }"#,
        json!({}),
    );
    let upload = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        server.upload_guest("steady", "user-login", json!({})).await
    };
    let (answer, second) = tokio::join!(call, upload);
    assert_ne!(first["sha256"], second["sha256"]);
    assert_eq!(
        answer,
        json!({"data": {"steadyCall": {"accessToken": "t-2"}}}),
        "the retry ran the first version"
    );
    let (_, listed) = server
        .admin_request(Method::GET, "/v1/events?action=steadyCall")
        .await;
    assert_eq!(
        versions(&listed["events"][0]),
        vec![first["sha256"].as_str().expect("sha").to_owned(); 2],
        "{listed}"
    );
}
