//! A real browser on another origin: Debian's chromium, driven by playwright-core, loads a page
//! from a second server and from there calls a mutation, runs an asynchronous action and
//! receives its result over a WebSocket subscription. Under `CI=true` a missing browser or a
//! missing `npm ci` in tests/browser fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::harness::{Backend, Reply, WebhookServer, async_login, login_server};

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Whether the browser and the driver are installed; under CI they must be.
pub(crate) fn browser_available() -> bool {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let driver = browser_dir().join("node_modules/playwright-core");
    let missing: Vec<String> = [
        (
            Path::new(&chromium).exists(),
            format!("{chromium} (apt-get install chromium)"),
        ),
        (
            driver.exists(),
            format!("{} (npm ci in tests/browser)", driver.display()),
        ),
    ]
    .into_iter()
    .filter(|(present, _)| !present)
    .map(|(_, what)| what)
    .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the browser test needs {} under CI=true",
        missing.join(" and ")
    );
    eprintln!("skipping: missing {}", missing.join(" and "));
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_origin_calls_actions_and_receives_a_subscription() {
    if !browser_available() {
        return;
    }
    let webhook = WebhookServer::login_ok().await;
    let (_db, server) = login_server(Backend::Sqlite, &webhook, json!({})).await;
    let login = format!("{}/login", webhook.url);
    let async_action = async_login(&login, json!({}));
    let only_the_action = json!({"type": "create_action",
        "args": async_action["args"][1]["args"].clone()});
    server.metadata_ok(only_the_action).await;

    // The page's own origin: a second server, on another port.
    let page = WebhookServer::start(|_, _| {
        Reply::raw(200, "<!doctype html><title>app</title>")
            .with_header("content-type", "text/html")
    })
    .await;

    let output = Command::new("node")
        .arg(browser_dir().join("cross-origin.mjs"))
        .arg(format!("{}/app", page.url))
        .arg(&server.url)
        .output()
        .expect("run node");
    assert!(
        output.status.success(),
        "the browser run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).expect("the page's report is JSON");
    assert_eq!(seen["origin"], page.url, "the page ran on its own origin");
    assert_ne!(seen["origin"], server.url);
    assert_eq!(
        seen["sync"]["data"]["userLogin"]["accessToken"], "t",
        "{seen}"
    );
    assert_eq!(seen["pushed"]["id"], seen["id"], "{seen}");
    assert_eq!(seen["pushed"]["output"]["accessToken"], "t", "{seen}");
    server.stop().await;
}
