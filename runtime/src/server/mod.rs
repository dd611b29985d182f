//! Wiring: the shared state, the HTTP server around [`crate::api`], and the entry point
//! embedders and tests call.

pub mod state;

use std::net::TcpListener;

use actix_web::{App, HttpServer, web};

pub use state::{AppState, StartError};

use crate::config::Config;

/// A started server: await `server` to run it; `state` is what it serves.
pub struct Running {
    pub server: actix_web::dev::Server,
    pub state: web::Data<AppState>,
}

/// Starts the server on an already bound listener (bind port 0 to let the OS choose), after
/// connecting the store and loading metadata, serving the endpoints `routes` registers (the
/// HTTP edge sits above this module: [`crate::serve`] passes `api::configure`). The returned
/// server must be awaited or spawned.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    routes: fn(&mut web::ServiceConfig),
) -> Result<Running, StartError> {
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
    let server = HttpServer::new(move || App::new().app_data(app_state.clone()).configure(routes))
        .listen(listener)
        .map_err(|e| StartError::Listen(e.to_string()))?
        // Signals are the embedder's (the binary's `main`): SIGINT and SIGTERM alike stop the
        // server gracefully, which actix would not do for SIGINT.
        .disable_signals()
        // In-flight requests get the grace period, then as long again for interrupted calls to
        // be recorded and answered (`AppState::shutdown`).
        .shutdown_timeout(
            state
                .config
                .delivery
                .shutdown_grace_secs
                .saturating_add(crate::dispatch::worker::INTERRUPT_SETTLE.as_secs()),
        )
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
            if let Err(error) = state.served.refresh().await {
                tracing::warn!(%error, "cannot pick up metadata changed elsewhere");
            }
        }
    });
}
