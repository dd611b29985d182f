//! What the admin APIs (`/v1/metadata`, `/v1/handlers`) share: the admin check and Hasura's
//! metadata error shape, `{"error", "path", "code"}`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

use super::AppState;
use crate::metadata::MetadataError;

/// `None` for admins (or anyone in dev mode); otherwise the 401 to send.
pub fn deny_unless_admin(state: &AppState, request: &HttpRequest) -> Option<HttpResponse> {
    match state.auth.is_admin(request.headers()) {
        Ok(true) => None,
        Ok(false) => Some(error(
            StatusCode::UNAUTHORIZED,
            "access-denied",
            "restricted access: admin only",
        )),
        Err(e) => Some(error(e.status(), e.code(), e.to_string())),
    }
}

/// An error reply in the admin APIs' shape.
pub fn error(status: StatusCode, code: &'static str, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(MetadataError::new(code, "$", message.into()))
}
