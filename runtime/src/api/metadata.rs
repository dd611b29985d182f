//! `POST /v1/metadata`: Hasura's metadata API for actions (admin only).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::admin::require_admin;
use super::body;
use super::error::{AdminError, Envelope};
use crate::live::CommitError;
use crate::metadata::MetadataError;
use crate::metadata::ops::Request;
use crate::server::AppState;

/// Registers `/v1/metadata`, and `/v1/query`, where Hasura's v1 API took the same operations
/// (scripts written for it keep working).
pub fn configure(config: &mut web::ServiceConfig) {
    for path in ["/v1/metadata", "/v1/query"] {
        config.service(
            Envelope::Admin
                .scope(path)
                .wrap(actix_web::middleware::from_fn(require_admin))
                .service(
                    web::resource("")
                        .route(web::post().to(handle))
                        .default_service(Envelope::Admin.method_not_allowed()),
                ),
        );
    }
}

/// Handles one metadata request.
async fn handle(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, AdminError> {
    let limit = state.config.limits.max_body_bytes;
    let body = body::read(payload, request.headers(), limit).await?;
    let operation: Request = serde_json::from_slice(&body).map_err(|error| {
        AdminError::at(
            StatusCode::BAD_REQUEST,
            MetadataError::new("parse-failed", "$", error.to_string()),
        )
    })?;
    let response = state.served.apply(&operation).await.map_err(commit_error)?;
    Ok(HttpResponse::Ok().json(response))
}

fn commit_error(error: CommitError) -> AdminError {
    let body = error.to_metadata_error();
    let status = match &error {
        CommitError::Conflict { .. } | CommitError::Store(crate::store::Error::Conflict { .. }) => {
            StatusCode::CONFLICT
        }
        CommitError::Store(_) | CommitError::Encode(_) => {
            tracing::error!(%error, "metadata write failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        CommitError::Invalid(_) | CommitError::Schema(_) => StatusCode::BAD_REQUEST,
    };
    AdminError::at(status, body)
}
