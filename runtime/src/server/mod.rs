//! HTTP wiring: routes, shared state, and the entry point embedders and tests call.

pub mod admin;
pub mod body;
pub mod events_api;
pub mod metrics;
pub mod state;

use std::net::TcpListener;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, web};

pub use state::{AppState, StartError};

use crate::config::Config;
use crate::handler::wasm::api as wasm_api;
use crate::{graphql, metadata};

/// A started server: await `server` to run it; `state` is what it serves.
pub struct Running {
    pub server: actix_web::dev::Server,
    pub state: web::Data<AppState>,
}

/// Starts the server on an already bound listener (bind port 0 to let the OS choose), after
/// connecting the store and loading metadata. The returned server must be awaited or spawned.
pub async fn serve(config: Config, listener: TcpListener) -> Result<Running, StartError> {
    let address = listener.local_addr().ok();
    let state = web::Data::new(AppState::start(config).await?);
    if state.config.dev_mode() {
        tracing::warn!(
            "DEV MODE: no admin secret is set; every caller is admin and sees internal errors. \
             Set HOOKWING_ADMIN_SECRET before exposing this server."
        );
    }
    spawn_refresher(&state);
    let app_state = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .route("/", web::get().to(graphql::http::graphiql))
            .route("/v1/graphql", web::post().to(graphql::http::execute))
            .route(
                "/v1/graphql",
                web::get()
                    .guard(actix_web::guard::Header("upgrade", "websocket"))
                    .to(graphql::ws::subscriptions),
            )
            // The admin APIs: one admin check, in front of all of them.
            .service(
                web::scope("/v1/metadata")
                    .wrap(from_fn(admin::require_admin))
                    .route("", web::post().to(metadata::api::handle)),
            )
            .service(
                web::scope("/v1/handlers")
                    .wrap(from_fn(admin::require_admin))
                    .route("", web::get().to(wasm_api::list))
                    .route("/{name}", web::put().to(wasm_api::upload))
                    .route("/{name}", web::get().to(wasm_api::get))
                    .route("/{name}", web::delete().to(wasm_api::delete)),
            )
            .service(
                web::scope("/v1/events")
                    .wrap(from_fn(admin::require_admin))
                    .route("", web::get().to(events_api::list))
                    .route("", web::delete().to(events_api::clear))
                    .route("/{id}/redeliver", web::post().to(events_api::redeliver)),
            )
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(metrics::readyz))
            .route("/metrics", web::get().to(metrics::render))
    })
    .listen(listener)
    .map_err(|e| StartError::Listen(e.to_string()))?
    .shutdown_timeout(10)
    .run();
    tracing::info!(
        address = ?address,
        backend = state.store.backend_name(),
        "hookwing is serving /v1/graphql"
    );
    Ok(Running { server, state })
}

/// How often a replica checks for metadata and handler changes made elsewhere when no
/// notification arrives (always, on SQLite: `hookwing metadata apply` beside a running server).
const REFRESH_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Keeps this replica's schema and handlers in step with the database until the server's
/// state is dropped.
fn spawn_refresher(state: &web::Data<AppState>) {
    let weak = std::sync::Arc::downgrade(&state.clone().into_inner());
    let signals = state.store.signals_handle();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = signals.metadata.notified() => {}
                () = tokio::time::sleep(REFRESH_EVERY) => {}
            }
            let Some(state) = weak.upgrade() else { return };
            if let Err(error) = state.refresh().await {
                tracing::warn!(%error, "cannot pick up metadata changed elsewhere");
            }
        }
    });
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}
