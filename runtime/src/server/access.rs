//! The access log: one line per HTTP request, for operators who want every request, not only
//! the failures. Off by default (`log.access`). The server's middleware writes the line; the
//! handlers that authenticate note the role.
//!
//! A line holds the method, the path (never the query string: a GET query carries the
//! GraphQL document and its variables), the status, the duration and the role the request was
//! authenticated as — never a header, a token or a body.

use std::time::Duration;

use actix_web::HttpMessage;
use actix_web::HttpRequest;

/// The role a request was authenticated as, left on the request for the access log.
#[derive(Debug, Clone)]
struct Role(String);

/// Notes the role `request` was authenticated as.
pub fn record_role(request: &HttpRequest, role: &str) {
    request.extensions_mut().insert(Role(role.to_owned()));
}

/// Logs one finished request.
pub fn log(request: &HttpRequest, status: u16, took: Duration) {
    let role = request
        .extensions()
        .get::<Role>()
        .map_or_else(|| "-".to_owned(), |role| role.0.clone());
    tracing::info!(
        target: "hookwing::access",
        method = %request.method(),
        path = request.path(),
        status,
        duration_ms = took.as_secs_f64() * 1000.0,
        role,
        "request"
    );
}
