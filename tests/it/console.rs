//! GraphiQL and the console in a real browser (Debian's chromium, driven by playwright-core),
//! with no network but the server's: GraphiQL runs a mutation and receives the asynchronous
//! result over a subscription, with the schema of the role it was given; the console signs
//! in, edits an action (showing the server's errors by the field they concern), uploads a
//! component, shows a failed event's attempts with the guest's log lines as text, redelivers
//! it, replays it (against the active version and a webhook, then recorded, then the whole
//! selection), activates an older handler version, reports a refused delete, and reads the live
//! metrics. Screenshots of each page are saved under the target directory.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::browser::browser_available;
use crate::harness::{
    Backend, TestDb, TestServer, WebhookServer, async_login, guests, login_action,
};

const SECRET: &str = "console-secret";

/// Whether the pages were built (`npm ci && npm run build` in runtime/console); under CI
/// they must be.
fn pages_built() -> bool {
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/console/dist/console.html");
    if page.exists() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the console test needs {} under CI=true (npm ci && npm run build in runtime/console)",
        page.display()
    );
    eprintln!("skipping: the console is not built");
    false
}

fn screenshots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("screenshots/console")
}

fn hostile_wasm() -> &'static str {
    guests::ALL
        .iter()
        .find(|(name, _)| *name == "hostile")
        .map(|(_, path)| *path)
        .expect("the hostile guest is built")
}

async fn console_server(db: &TestDb, webhook: &WebhookServer) -> TestServer {
    let server =
        TestServer::start_with(db, |config| config.admin_secret = Some(SECRET.into())).await;
    let login = format!("{}/login", webhook.url);
    server.metadata_ok(async_login(&login, json!({}))).await;
    server.metadata_ok(login_action(&login, json!({}))).await;
    server
        .metadata_ok(json!({"type": "create_action_permission",
            "args": {"action": "asyncLogin", "role": "user"}}))
        .await;
    // `markup` starts as the login component; the console uploads a second version.
    server.upload_guest("markup", "user-login", json!({})).await;
    server
        .metadata_ok(
            json!({"type": "create_action", "args": {"name": "flaky", "definition": {
                "kind": "asynchronous",
                "arguments": [{"name": "mode", "type": "String!"}],
                "output_type": "UserInfo",
                "handler": "wasm://markup"
            }}}),
        )
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_and_the_console_work_offline_in_a_browser() {
    if !browser_available() || !pages_built() {
        return;
    }
    let webhook = WebhookServer::login_ok().await;
    let db = TestDb::new(Backend::Sqlite).await;
    let server = console_server(&db, &webhook).await;
    let shots = screenshots_dir();
    let report: Value = crate::harness::node_client(
        "console.mjs",
        &[
            &server.url,
            SECRET,
            &shots.display().to_string(),
            hostile_wasm(),
            &format!("{}/login", webhook.url),
        ],
    )
    .await;

    assert_eq!(
        report["offsite"],
        json!([]),
        "nothing loads from elsewhere: {report}"
    );
    assert_eq!(report["pageErrors"], json!([]), "{report}");

    // GraphiQL: the role's schema, a mutation, its result pushed over the WebSocket.
    assert_eq!(
        report["userMutations"],
        json!(["asyncLogin"]),
        "role user sees only its action"
    );
    assert_eq!(report["pushed"]["id"], report["asyncId"], "{report}");
    assert_eq!(report["pushed"]["output"]["accessToken"], "t", "{report}");
    let sockets = report["sockets"].as_array().expect("sockets");
    assert!(
        sockets.iter().any(|s| s["url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/v1/graphql"))
            && s["pushedResult"] == true),
        "the result came over the page's WebSocket: {report}"
    );
    assert_eq!(
        report["persisted"],
        json!({"adminSecret": true, "role": "user"})
    );

    // Console: actions, and edits with the server's errors where they belong.
    let actions = report["actions"].to_string();
    for name in ["asyncLogin", "userLogin", "flaky", "wasm://markup"] {
        assert!(actions.contains(name), "{name} listed: {actions}");
    }
    let edit = &report["edit"];
    assert!(
        edit["sdl"]
            .as_str()
            .expect("sdl")
            .contains("flaky(mode: String!): UserInfo"),
        "{edit}"
    );
    assert!(
        edit["definitionError"]
            .as_str()
            .expect("shown")
            .contains("nowhere"),
        "the unknown handler is reported by the definition: {edit}"
    );
    assert!(
        edit["sdlError"]
            .as_str()
            .expect("shown")
            .contains("NoSuchType"),
        "the unknown type is reported by the SDL: {edit}"
    );
    assert!(edit["row"].as_str().expect("row").contains("7 s"), "{edit}");
    let stored = server
        .metadata_ok(json!({"type": "export_metadata", "args": {}}))
        .await;
    let flaky = stored["actions"]
        .as_array()
        .and_then(|actions| actions.iter().find(|a| a["name"] == "flaky"))
        .expect("flaky stored");
    assert_eq!(
        flaky["definition"]["timeout"], 7,
        "the edit went through the metadata API"
    );

    // Upload, then the failed event: log lines shown as text, nothing rendered or run.
    assert!(
        report["upload"]["result"]
            .as_str()
            .expect("result")
            .contains("markup"),
        "{report}"
    );
    let event = &report["event"];
    let logs = event["logs"].to_string();
    assert!(
        logs.contains(r#"<img src=x onerror=\"window.__hookwingXss=true\">"#),
        "{logs}"
    );
    assert!(
        logs.contains("<script>window.__hookwingXss=true</script>"),
        "{logs}"
    );
    assert!(
        event["detail"]
            .as_str()
            .expect("detail")
            .contains("<i>markup</i>"),
        "{event}"
    );
    assert_eq!(
        event["markupElements"], 0,
        "no element came from the guest: {event}"
    );
    assert_eq!(event["xss"], Value::Null, "no guest script ran: {event}");
    assert_eq!(event["attemptsBefore"], 1, "{event}");
    assert_eq!(event["attemptsAfter"], 2, "redelivered once: {event}");
    assert_eq!(
        event["afterSelection"], 3,
        "and once more as a selection: {event}"
    );
    let id = event["id"].as_str().expect("id");
    let (_, stored_event) = server
        .admin_request(reqwest::Method::GET, &format!("/v1/events/{id}"))
        .await;
    // Three deliveries, and the replay the console recorded.
    assert_eq!(stored_event["attempts"], 4, "{stored_event}");
    assert_eq!(
        stored_event["attempt_log"][3]["outcome"], "rejected",
        "{stored_event}"
    );

    // Replays: the same refusal from the active version; a webhook's answer, with the diff;
    // nothing stored until asked; then the selection, with its summary.
    let replay = &report["replay"];
    assert_eq!(replay["current"], "same as stored", "{replay}");
    assert_eq!(replay["webhook"], "different from stored", "{replay}");
    let diff = replay["diff"].to_string();
    assert!(
        diff.contains("add /output") && diff.contains("remove /errors"),
        "{replay}"
    );
    assert!(
        replay["output"]
            .as_str()
            .is_some_and(|o| o.contains("\"accessToken\": \"t\"")),
        "{replay}"
    );
    assert_eq!(replay["unrecorded"], replay["before"], "{replay}");
    assert_eq!(
        replay["recorded"].as_u64(),
        replay["before"].as_u64().map(|n| n + 1),
        "{replay}"
    );
    assert_eq!(
        replay["selection"], "1 replayed: 1 same, 0 different, 0 not replayed",
        "{replay}"
    );

    // Versions: activation of the older one, and a delete refused with the reason.
    let handler = &report["handler"];
    assert_eq!(handler["versions"], 2, "{handler}");
    assert_ne!(handler["activeBefore"], handler["activeAfter"], "{handler}");
    let (_, markup) = server.handlers_api(reqwest::Method::GET, "/markup").await;
    assert_eq!(
        markup["sha256"], handler["activeAfter"],
        "the older version is active: {markup}"
    );
    let pinned_to = handler["activeBefore"].as_str().expect("sha");
    assert_eq!(
        flaky["definition"]["handler"],
        format!("wasm://markup@{}", &pinned_to[..12]),
        "pinned to the version that was active before"
    );
    assert!(
        handler["refusal"]
            .as_str()
            .expect("refusal")
            .contains("flaky"),
        "the refusal names the action: {handler}"
    );

    // Live: the failed calls counted.
    assert!(report["live"]["calls"].as_u64() >= Some(3), "{report}");
    assert!(report["live"]["failures"].as_u64() >= Some(3), "{report}");

    // A phone's screen: no page is wider than it.
    for (page, overflow) in report["phone"].as_object().expect("phone") {
        assert!(
            overflow.as_i64() <= Some(0),
            "{page} overflows a phone by {overflow} px"
        );
    }
    for name in [
        "graphiql",
        "console-actions",
        "console-event",
        "console-handler",
        "console-live",
    ] {
        assert!(
            shots.join(format!("{name}.png")).exists(),
            "screenshot {name}"
        );
    }
    server.stop().await;
}

/// The pages' headers: a content security policy that allows nothing from elsewhere, hashed
/// assets cached for good; and no pages at all when the console is turned off.
#[tokio::test]
async fn the_pages_are_locked_down_and_can_be_turned_off() {
    if !pages_built() {
        return;
    }
    let db = TestDb::new(Backend::Sqlite).await;
    let server = TestServer::start(&db).await;
    let client = server.client.clone();
    let get = |url: String| {
        let request = client.get(url);
        async move { request.send().await.expect("a reply") }
    };
    for path in ["/", "/console"] {
        let response = get(format!("{}{path}", server.url)).await;
        assert_eq!(response.status(), 200, "{path}");
        let policy = response.headers()["content-security-policy"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(
            policy.contains("default-src 'self'") && policy.contains("frame-ancestors 'none'"),
            "{policy}"
        );
        let html = response.text().await.expect("html");
        let asset = html
            .split("src=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a script");
        assert!(asset.starts_with("/assets/"), "{asset}");
        let script = get(format!("{}{asset}", server.url)).await;
        assert_eq!(script.status(), 200);
        assert_eq!(script.headers()["content-type"], "text/javascript");
        assert!(
            script.headers()["cache-control"]
                .to_str()
                .expect("ascii")
                .contains("immutable")
        );
    }
    let missing = get(format!("{}/assets/nothing.js", server.url)).await;
    assert_eq!(missing.status(), 404);
    // Nothing outside the built pages, however the path is spelled.
    for outside in [
        "..%2f..%2fbuild.mjs",
        "%2e%2e/%2e%2e/package.json",
        "..%2F..%2F..%2FCargo.toml",
    ] {
        let response = get(format!("{}/assets/{outside}", server.url)).await;
        assert_eq!(response.status(), 404, "{outside}");
    }
    server.stop().await;

    let db = TestDb::new(Backend::Sqlite).await;
    let server = TestServer::start_with(&db, |config| config.enable_console = false).await;
    for path in ["/", "/console"] {
        let response = get(format!("{}{path}", server.url)).await;
        assert_eq!(response.status(), 404, "{path} with the console off");
    }
    server.stop().await;
}
