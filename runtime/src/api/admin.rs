//! The admin check, applied once as middleware in front of every admin API (`/v1/metadata`,
//! `/v1/handlers`, `/v1/events`).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};

use tracing::Instrument;

use super::error::AdminError;
use crate::server::AppState;

/// Lets admins (or anyone in dev mode) through and answers everyone else with 401 (403 for a
/// role a token does not allow).
pub async fn require_admin<B: MessageBody + 'static>(
    request: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    if super::csrf::is_forged_service(&request) {
        let refused = AdminError::new(StatusCode::FORBIDDEN, "access-denied", super::csrf::REFUSAL);
        return Ok(request
            .into_response(refused.error_response())
            .map_into_right_body());
    }
    let verdict = match request.app_data::<web::Data<AppState>>() {
        Some(state) => state.auth.is_admin(request.headers()).await,
        None => Ok(false),
    };
    let denied = match verdict {
        Ok(true) => {
            crate::server::access::record_role(request.request(), "admin");
            // Whatever the request changes is logged inside this span: who asked. The socket's
            // peer, not a forwarding header any caller may set.
            let client = request
                .peer_addr()
                .map_or_else(|| "unknown".to_owned(), |peer| peer.ip().to_string());
            let span = tracing::info_span!("admin_request", %client);
            return next
                .call(request)
                .instrument(span)
                .await
                .map(ServiceResponse::map_into_left_body);
        }
        Ok(false) => AdminError::new(
            StatusCode::UNAUTHORIZED,
            "access-denied",
            "restricted access: admin only",
        ),
        Err(error) => AdminError::from(error),
    };
    Ok(request
        .into_response(denied.error_response())
        .map_into_right_body())
}
