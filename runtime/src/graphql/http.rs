//! HTTP endpoints of the GraphQL API.

use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::http::GraphiQLSource;
use async_graphql::{BatchRequest, BatchResponse, Request, Response};

use super::RequestContext;
use super::errors::{ensure_code, request_error, with_codes};
use crate::auth::{ClientHeaders, Session};
use crate::server::AppState;
use crate::server::body::{self, BodyError};

/// `POST /v1/graphql`.
pub async fn execute(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let session = match state.auth.authenticate(request.headers()) {
        Ok(session) => session,
        Err(error) => {
            return HttpResponse::build(error.status())
                .json(request_error(error.to_string(), error.code()));
        }
    };
    let limit = state.config.limits.max_body_bytes;
    let body = match body::read(payload, request.headers(), limit).await {
        Ok(body) => body,
        Err(error) => return body_error(error),
    };
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(error) => {
            let message = format!("the request body is not a GraphQL request: {error}");
            return HttpResponse::BadRequest().json(request_error(message, "invalid-json"));
        }
    };
    let client_headers = ClientHeaders::capture(request.headers());
    let live = state.live();
    let schema = live.schema_for(session.role());
    let response = match batch {
        BatchRequest::Single(one) => {
            BatchResponse::Single(run(&state, schema, one, session, client_headers).await)
        }
        BatchRequest::Batch(many) => {
            let mut responses = Vec::with_capacity(many.len());
            for one in many {
                let context = (session.clone(), client_headers.clone());
                responses.push(run(&state, schema, one, context.0, context.1).await);
            }
            BatchResponse::Batch(responses)
        }
    };
    HttpResponse::Ok().json(response)
}

async fn run(
    state: &AppState,
    schema: &async_graphql::dynamic::Schema,
    mut request: Request,
    session: Session,
    client_headers: ClientHeaders,
) -> Response {
    if let Err(mut error) = state.parsed.parse(&mut request) {
        ensure_code(&mut error, "parse-failed");
        return Response::from_errors(vec![error]);
    }
    let context = RequestContext {
        session,
        query: request.query.clone(),
        client_headers,
    };
    with_codes(schema.execute(request.data(context)).await)
}

/// Maps a body that could not be read to its error response.
pub fn body_error(error: BodyError) -> HttpResponse {
    let body = request_error(error.to_string(), error.code());
    match error {
        BodyError::TooLarge { .. } => HttpResponse::PayloadTooLarge().json(body),
        BodyError::Read(_) => HttpResponse::BadRequest().json(body),
    }
}

/// `GET /`: GraphiQL pointed at this server.
pub async fn graphiql() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(
            GraphiQLSource::build()
                .endpoint("/v1/graphql")
                .title("Hookwing")
                .finish(),
        )
}
