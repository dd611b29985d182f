//! `POST /v1/graphql`, and GraphiQL on `GET /`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::http::GraphiQLSource;
use async_graphql::{BatchRequest, BatchResponse, Request, Response};

use super::body;
use super::error::{Envelope, GraphqlError};
use crate::auth::{ClientHeaders, Session};
use crate::graphql::budget::{self, Cost};
use crate::graphql::errors::{ensure_code, with_codes};
use crate::graphql::{NullItems, RequestContext};
use crate::server::AppState;

/// Registers `POST /v1/graphql` and `GET /`; subscriptions (`GET /v1/graphql` with an upgrade)
/// are registered before, by [`super::subscriptions`].
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource("/")
                .route(web::get().to(graphiql))
                .default_service(Envelope::Graphql.method_not_allowed()),
        )
        .service(
            web::resource("/v1/graphql")
                .route(web::post().to(execute))
                .default_service(Envelope::Graphql.method_not_allowed()),
        );
}

/// `POST /v1/graphql`.
async fn execute(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, GraphqlError> {
    if super::csrf::is_forged(&request) {
        return Err(GraphqlError::new(
            StatusCode::FORBIDDEN,
            "access-denied",
            super::csrf::REFUSAL,
        ));
    }
    let session = state.auth.authenticate(request.headers()).await?;
    let limit = state.config.limits.max_body_bytes;
    let body = body::read(payload, request.headers(), limit).await?;
    let batch: BatchRequest = serde_json::from_slice(&body).map_err(|error| {
        GraphqlError::new(
            StatusCode::BAD_REQUEST,
            "invalid-json",
            format!("the request body is not a GraphQL request: {error}"),
        )
    })?;
    let client_headers = ClientHeaders::capture(request.headers());
    let live = state.live();
    let schema = live.schema_for(session.role());
    let (batched, mut operations) = match batch {
        BatchRequest::Single(one) => (false, vec![one]),
        BatchRequest::Batch(many) => (true, many),
    };
    // The whole request's budget is checked before any of it runs, so a refused request
    // stores nothing and calls nothing.
    let mut total = Cost::default();
    for operation in &mut operations {
        let name = operation.operation_name.clone();
        if state.parsed.parse(operation).is_ok()
            && let Ok(document) = operation.parsed_query()
        {
            total += budget::cost(document, name.as_deref());
        }
    }
    budget::check(operations.len(), total, &state.config.limits)
        .map_err(|over| GraphqlError::new(StatusCode::BAD_REQUEST, over.code, over.message))?;
    let mut responses = Vec::with_capacity(operations.len());
    for one in operations {
        let context = (session.clone(), client_headers.clone());
        responses.push(run(&state, schema, one, context.0, context.1).await);
    }
    let response = if batched {
        BatchResponse::Batch(responses)
    } else {
        BatchResponse::Single(responses.pop().unwrap_or_default())
    };
    let mut answer = HttpResponse::Ok();
    // Headers resolvers set for the client: a synchronous webhook's `Set-Cookie`.
    let responses: Vec<&Response> = match &response {
        BatchResponse::Single(one) => vec![one],
        BatchResponse::Batch(many) => many.iter().collect(),
    };
    for one in responses {
        for (name, value) in &one.http_headers {
            if let Ok(value) = value.to_str() {
                answer.append_header((name.as_str(), value));
            }
        }
    }
    Ok(answer.json(response))
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
    let request = request.data(context).data(NullItems::default());
    with_codes(schema.execute(request).await)
}

/// `GET /`: GraphiQL pointed at this server.
async fn graphiql() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(
            GraphiQLSource::build()
                .endpoint("/v1/graphql")
                .title("Hookwing")
                .finish(),
        )
}
