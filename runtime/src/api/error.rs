//! The two error envelopes of the HTTP edge, and nothing else answers an error:
//!
//! - [`GraphqlError`], on `/v1/graphql` (and GraphiQL): `{"errors": [{"message", "extensions":
//!   {"code"}}]}`, what GraphQL clients parse;
//! - [`AdminError`], on the admin APIs, the probes and unknown paths: Hasura's `{"error",
//!   "path", "code"}`.
//!
//! Both implement actix's `ResponseError`, so endpoints return `Result<_, Envelope>` and `?`
//! works; the scopes made here route actix's own JSON, query and path extractor errors
//! through them too, so no request ever gets actix's plain-text replies.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::web;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde_json::json;

use super::body::BodyError;
use crate::auth::AuthError;
use crate::metadata::MetadataError;

/// An error in the GraphQL envelope.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct GraphqlError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl GraphqlError {
    /// An error with HTTP `status` and a stable `code`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl ResponseError for GraphqlError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status)
            .json(json!({"errors": [{"message": self.message, "extensions": {"code": self.code}}]}))
    }
}

/// An error in the admin APIs' envelope.
#[derive(Debug, thiserror::Error)]
#[error("{body}")]
pub struct AdminError {
    status: StatusCode,
    body: MetadataError,
}

impl AdminError {
    /// An error with HTTP `status` and a stable `code`, about the request as a whole (`$`).
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::at(status, MetadataError::new(code, "$", message.into()))
    }

    /// An error located by `body.path`.
    pub fn at(status: StatusCode, body: MetadataError) -> Self {
        Self { status, body }
    }

    /// The error as it is answered, for a reply that carries several (a bulk replay's lines).
    pub fn body(&self) -> &MetadataError {
        &self.body
    }

    /// A database failure: logged for operators, a generic message for the caller.
    pub fn store(context: &str, error: &crate::store::Error) -> Self {
        tracing::error!(%error, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "unexpected",
            "database query error",
        )
    }
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(&self.body)
    }
}

/// The HTTP status of a body that could not be read.
fn body_status(error: &BodyError) -> StatusCode {
    match error {
        BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        BodyError::Read(_) => StatusCode::BAD_REQUEST,
    }
}

impl From<BodyError> for GraphqlError {
    fn from(error: BodyError) -> Self {
        Self::new(body_status(&error), error.code(), error.to_string())
    }
}

impl From<BodyError> for AdminError {
    fn from(error: BodyError) -> Self {
        Self::new(body_status(&error), error.code(), error.to_string())
    }
}

impl From<AuthError> for GraphqlError {
    fn from(error: AuthError) -> Self {
        Self::new(error.status(), error.code(), error.to_string())
    }
}

impl From<AuthError> for AdminError {
    fn from(error: AuthError) -> Self {
        Self::new(error.status(), error.code(), error.to_string())
    }
}

/// Which envelope a group of endpoints answers in.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Envelope {
    Graphql,
    Admin,
}

impl Envelope {
    /// `status`, `code` and `message` in this envelope, as an actix error.
    fn error(
        self,
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> actix_web::Error {
        match self {
            Self::Graphql => GraphqlError::new(status, code, message).into(),
            Self::Admin => AdminError::new(status, code, message).into(),
        }
    }

    /// A scope whose extractor errors answer in this envelope: a JSON body that does not
    /// parse, a query string or path segment that does not fit.
    pub(crate) fn scope(self, path: &str) -> actix_web::Scope {
        web::scope(path)
            .app_data(web::JsonConfig::default().error_handler(
                move |error: JsonPayloadError, _: &HttpRequest| {
                    let status = match error {
                        JsonPayloadError::OverflowKnownLength { .. }
                        | JsonPayloadError::Overflow { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                        _ => StatusCode::BAD_REQUEST,
                    };
                    self.error(status, "invalid-json", error.to_string())
                },
            ))
            .app_data(web::QueryConfig::default().error_handler(
                move |error: QueryPayloadError, _: &HttpRequest| {
                    self.error(
                        StatusCode::BAD_REQUEST,
                        "invalid-request",
                        format!("invalid query parameters: {error}"),
                    )
                },
            ))
            .app_data(web::PathConfig::default().error_handler(
                move |error: PathError, _: &HttpRequest| {
                    self.error(
                        StatusCode::BAD_REQUEST,
                        "invalid-request",
                        format!("invalid path: {error}"),
                    )
                },
            ))
            .default_service(self.not_found())
    }

    /// The reply to a path nothing is served on, in Hasura's words.
    pub(crate) fn not_found(self) -> actix_web::Route {
        web::route().to(move || async move {
            Err::<HttpResponse, _>(self.error(
                StatusCode::NOT_FOUND,
                "not-found",
                "resource does not exist",
            ))
        })
    }

    /// The reply to a method a resource does not have.
    pub(crate) fn method_not_allowed(self) -> actix_web::Route {
        web::route().to(move |request: HttpRequest| async move {
            Err::<HttpResponse, _>(self.error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                format!("{} is not allowed on {}", request.method(), request.path()),
            ))
        })
    }
}
