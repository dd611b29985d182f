//! The README's quick start: Hookwing on the embedded SQLite default with the `userLogin`
//! action from `examples/quickstart/metadata`, answered by a tiny webhook served beside it.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! Settings come from the same layers as `hookwing serve` (`HOOKWING_LISTEN`, `DATABASE_URL`,
//! …); only the metadata directory and the webhook's address are fixed here.

use std::net::TcpListener;
use std::path::PathBuf;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use hookwing::config::{Config, Overrides};
use serde_json::{Value, json};

/// The example webhook: any username logs in with the password `secret`.
async fn login(payload: web::Json<Value>) -> HttpResponse {
    let input = &payload["input"];
    let username = input["username"].as_str().unwrap_or_default();
    if input["password"] != "secret" {
        return HttpResponse::BadRequest().json(json!({
            "message": "invalid credentials",
            "extensions": {"code": "invalid-credentials"}
        }));
    }
    let user_id = username
        .bytes()
        .fold(7_i32, |acc, b| acc.wrapping_mul(31).wrapping_add(b.into()));
    HttpResponse::Ok().json(json!({
        "accessToken": format!("token-for-{username}"),
        "userId": user_id.rem_euclid(100_000),
    }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();

    let webhook_listener = TcpListener::bind("127.0.0.1:0").context("bind the example webhook")?;
    let webhook_url = format!("http://{}", webhook_listener.local_addr()?);
    let webhook = HttpServer::new(|| App::new().route("/login", web::post().to(login)))
        .workers(1)
        .listen(webhook_listener)?
        .run();
    tokio::spawn(webhook);

    let metadata_dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart/metadata");
    let overrides = Overrides {
        metadata_dir: Some(metadata_dir),
        ..Overrides::default()
    };
    let mut config = Config::load(None, &overrides)?;
    config.environment = config
        .environment
        .with("QUICKSTART_WEBHOOK_URL", webhook_url);

    let listener = TcpListener::bind(config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    let running = hookwing::serve(config, listener).await?;
    println!(
        "\nHookwing is up: GraphiQL at http://{address}/ — try:\n\n  curl -s http://{address}/v1/graphql \\\n    -d '{{\"query\": \"mutation {{ userLogin(username: \\\"ada\\\", password: \\\"secret\\\") {{ accessToken userId }} }}\"}}'\n"
    );
    running.until_signal().await?;
    Ok(())
}
