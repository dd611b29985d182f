//! What the admin APIs (`/v1/metadata`, `/v1/handlers`, `/v1/events`) share: the admin check,
//! applied once as middleware, and Hasura's metadata error shape, `{"error", "path", "code"}`.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

use super::AppState;
use crate::metadata::MetadataError;

/// Middleware in front of every admin API: lets admins (or anyone in dev mode) through and
/// answers everyone else with 401 (403 for a role a token does not allow).
pub async fn require_admin<B: MessageBody + 'static>(
    request: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let verdict = match request.app_data::<web::Data<AppState>>() {
        Some(state) => state.auth.is_admin(request.headers()),
        None => Ok(false),
    };
    let denied = match verdict {
        Ok(true) => {
            return next
                .call(request)
                .await
                .map(ServiceResponse::map_into_left_body);
        }
        Ok(false) => error(
            StatusCode::UNAUTHORIZED,
            "access-denied",
            "restricted access: admin only",
        ),
        Err(e) => error(e.status(), e.code(), e.to_string()),
    };
    Ok(request.into_response(denied).map_into_right_body())
}

/// An error reply in the admin APIs' shape.
pub fn error(status: StatusCode, code: &'static str, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(MetadataError::new(code, "$", message.into()))
}
