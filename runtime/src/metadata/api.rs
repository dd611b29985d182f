//! `POST /v1/metadata`: Hasura's metadata API for actions (admin only).

use actix_web::{HttpRequest, HttpResponse, web};

use super::MetadataError;
use super::ops::Request;
use crate::graphql::http::body_error;
use crate::server::AppState;
use crate::server::body;
use crate::server::state::CommitError;

/// Handles one metadata request.
pub async fn handle(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let limit = state.config.limits.max_body_bytes;
    let body = match body::read(payload, request.headers(), limit).await {
        Ok(body) => body,
        Err(error) => return body_error(error),
    };
    let operation: Request = match serde_json::from_slice(&body) {
        Ok(operation) => operation,
        Err(error) => {
            let error = MetadataError::new("parse-failed", "$", error.to_string());
            return HttpResponse::BadRequest().json(error);
        }
    };
    match state.apply_metadata(&operation).await {
        Ok(response) => HttpResponse::Ok().json(response),
        Err(error) => {
            let body = error.to_metadata_error();
            match error {
                CommitError::Conflict { .. }
                | CommitError::Store(crate::store::Error::Conflict { .. }) => {
                    HttpResponse::Conflict().json(body)
                }
                CommitError::Store(ref cause) => {
                    tracing::error!(error = %cause, "metadata write failed");
                    HttpResponse::InternalServerError().json(body)
                }
                CommitError::Invalid(_) | CommitError::Schema(_) => {
                    HttpResponse::BadRequest().json(body)
                }
            }
        }
    }
}
