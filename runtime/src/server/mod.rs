//! Wiring: the shared state, the HTTP server around [`crate::api`], and the entry point
//! embedders and tests call.

pub(crate) mod access;
pub mod cors;
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

impl Running {
    /// Serves until SIGINT or SIGTERM, then shuts down gracefully: stops accepting and lets
    /// in-flight requests finish while the calls and deliveries behind them get the grace
    /// period and are then interrupted and recorded ([`AppState::shutdown`]).
    pub async fn until_signal(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let mut server = tokio::spawn(self.server);
        tokio::select! {
            finished = &mut server => return finished.map_err(std::io::Error::other)?,
            signal = shutdown_signal() => {
                tracing::info!(signal, "shutting down gracefully");
            }
        }
        tokio::join!(handle.stop(true), self.state.shutdown());
        server.await.map_err(std::io::Error::other)?
    }
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM (what orchestrators send); both mean the same
/// graceful shutdown. Returns the signal's name.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::error!("cannot listen for shutdown signals");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
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
    for notice in &state.config.notices {
        tracing::warn!("{notice}");
    }
    if state.config.dev_mode() {
        tracing::warn!(
            "DEV MODE: no admin secret is set; every caller is admin and sees internal errors. \
             Set HOOKWING_ADMIN_SECRET before exposing this server."
        );
    }
    spawn_refresher(&state);
    let app_state = state.clone();
    let server = HttpServer::new(move || {
        let metrics = app_state.metrics.clone();
        let access_log = app_state.config.log.access;
        App::new()
            .app_data(app_state.clone())
            .wrap(app_state.cors.middleware())
            .wrap_fn(move |request, service| {
                use actix_web::dev::Service as _;
                let started = std::time::Instant::now();
                let metrics = metrics.clone();
                let method = request.method().to_string();
                let answer = service.call(request);
                async move {
                    let response = answer.await?;
                    let route = response
                        .request()
                        .match_pattern()
                        .unwrap_or_else(|| "unmatched".into());
                    let status = response.status().as_u16();
                    let took = started.elapsed();
                    metrics.http_request(&route, &method, status, took);
                    if access_log {
                        access::log(response.request(), status, took);
                    }
                    Ok(response)
                }
            })
            .configure(routes)
    })
    // A subscription's messages are small writes, one after another: with Nagle's algorithm
    // each waited for the client's delayed ACK of the one before (40 ms on Linux) — an async
    // result reached its subscriber about 44 ms late.
    .tcp_nodelay(true)
    .listen(listener)
    .map_err(|e| StartError::Listen(e.to_string()))?
    // Signals are the embedder's (the binary's `main`): SIGINT and SIGTERM alike stop the
    // server gracefully, which actix would not do for SIGINT.
    .disable_signals()
    // In-flight requests get the grace period, plus the few seconds interrupted calls need
    // to be recorded and answered (`AppState::shutdown`).
    .shutdown_timeout(
        state
            .config
            .delivery
            .shutdown_grace_secs
            .saturating_add(crate::dispatch::worker::INTERRUPT_SETTLE.as_secs()),
    )
    .run();
    let address = address.map_or_else(|| "?".to_owned(), |address| address.to_string());
    tracing::info!(
        %address,
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
