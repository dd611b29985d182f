//! The probes and metrics: `GET /healthz` (the process answers), `GET /readyz` (the database
//! answers), `GET /metrics` (Prometheus text format) and `GET /v1/version`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::error::{AdminError, Envelope};
use crate::server::AppState;

/// Registers `/healthz`, `/readyz` and `/metrics`.
pub fn configure(config: &mut web::ServiceConfig) {
    for (path, route) in [
        ("/healthz", web::get().to(healthz)),
        ("/readyz", web::get().to(readyz)),
        ("/metrics", web::get().to(metrics)),
        ("/v1/version", web::get().to(version)),
    ] {
        config.service(
            web::resource(path)
                .route(route)
                .default_service(Envelope::Admin.method_not_allowed()),
        );
    }
}

/// The server's version, where Hasura's tools look for it.
async fn version() -> HttpResponse {
    HttpResponse::Ok()
        .json(json!({"version": env!("CARGO_PKG_VERSION"), "server_type": "hookwing"}))
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// 200 when the database takes writes, 503 otherwise — for load balancers, which should stop
/// sending traffic while the store cannot record calls. The reason is one of a few fixed
/// texts; the database's own error goes to the log only.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.store.readiness().await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Err(reason) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "unavailable", "reason": reason.to_string()})),
    }
}

/// Whether the caller may read the metrics: anyone when they are public, else admins and
/// holders of the metrics secret.
async fn may_read_metrics(state: &AppState, request: &HttpRequest) -> bool {
    if state.config.public_metrics
        || state
            .auth
            .is_admin(request.headers())
            .await
            .unwrap_or(false)
    {
        return true;
    }
    let Some(secret) = &state.config.metrics_secret else {
        return false;
    };
    request
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|token| {
            crate::auth::constant_time_eq(secret.as_bytes(), token.trim().as_bytes())
        })
}

async fn metrics(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, AdminError> {
    if !may_read_metrics(&state, &request).await {
        return Err(AdminError::new(
            StatusCode::UNAUTHORIZED,
            "access-denied",
            "the metrics need the admin secret or the metrics secret",
        ));
    }
    match state.store.queue_by_action().await {
        Ok(queue) => {
            state.metrics.reset_queue();
            for action in queue {
                state.metrics.set_action_queue(
                    &action.action,
                    action.waiting,
                    action.delivering,
                    action.oldest_due_age,
                );
            }
        }
        Err(error) => tracing::warn!(%error, "cannot read the queue depth"),
    }
    let text = state.metrics.encode().map_err(|error| {
        tracing::error!(%error, "cannot encode metrics");
        AdminError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "unexpected",
            "cannot encode metrics",
        )
    })?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text))
}
