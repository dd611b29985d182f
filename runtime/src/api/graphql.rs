//! `POST /v1/graphql` and `GET /v1/graphql` (GraphiQL, on `GET /`, is in [`super::console`]).

use actix_web::http::StatusCode;
use actix_web::http::header::{ACCEPT, ORIGIN};
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{BatchRequest, BatchResponse, Request, Response, ServerError};

use super::body;
use super::error::{Envelope, GraphqlError};
use crate::auth::{ClientHeaders, Session};
use crate::graphql::budget::{self, Cost};
use crate::graphql::errors::{ensure_code, with_codes};
use crate::graphql::{NullItems, RequestContext};
use crate::server::AppState;
use crate::store::RequestDocument;

/// Registers `POST` and `GET /v1/graphql`; subscriptions (`GET /v1/graphql` with an upgrade)
/// are registered before, by [`super::subscriptions`].
pub fn configure(config: &mut web::ServiceConfig) {
    config.service(
        web::resource("/v1/graphql")
            .route(web::post().to(execute))
            .route(web::get().to(execute_get))
            .default_service(Envelope::Graphql.method_not_allowed()),
    );
}

/// `GET /v1/graphql?query=…&variables=…&operationName=…`: GraphQL over HTTP's `GET`, for
/// queries only (urql sends queries this way by default). A mutation is refused with 405: a
/// `GET` must not change anything. A browser request from another site that CORS does not
/// allow is refused before anything runs: unlike a JSON `POST`, a `GET` is never preflighted.
async fn execute_get(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, GraphqlError> {
    if cross_site_get(&state, &request) {
        return Err(GraphqlError::new(
            StatusCode::FORBIDDEN,
            "access-denied",
            "a GET from another site needs that site to be allowed by the CORS policy",
        ));
    }
    let mut operation =
        async_graphql::http::parse_query_string(request.query_string()).map_err(|error| {
            GraphqlError::new(
                StatusCode::BAD_REQUEST,
                "invalid-request",
                format!("the query string is not a GraphQL request: {error}"),
            )
        })?;
    if operation.query.trim().is_empty() {
        return Err(GraphqlError::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "a GET runs the GraphQL document in its `query` parameter, and there is none",
        ));
    }
    let name = operation.operation_name.clone();
    let parsed = state.parsed.parse(&mut operation);
    if parsed.is_ok()
        && let Ok(document) = operation.parsed_query()
        && changes_something(document, name.as_deref())
    {
        return Err(GraphqlError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "mutations and subscriptions are sent with POST; GET runs queries only",
        ));
    }
    let session = state.auth.authenticate(request.headers()).await?;
    crate::server::access::record_role(&request, session.role());
    respond(&state, &request, session, false, vec![(operation, parsed)]).await
}

/// An operation and how its parse went (through the server's cache of parsed documents),
/// parsed once for the budget, the GET check and the run.
type Parsed = (Request, Result<(), ServerError>);

/// Whether a `GET` comes from a page on another site that the CORS policy does not allow.
fn cross_site_get(state: &AppState, request: &HttpRequest) -> bool {
    let headers = request.headers();
    if let Some(origin) = headers.get(ORIGIN).and_then(|o| o.to_str().ok()) {
        return !state.cors.allows(origin)
            && !super::csrf::same_origin(origin, request.connection_info().host());
    }
    // No `Origin`: an image, a script or a link from another site says so here.
    headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| site == "cross-site" || site == "same-site")
}

/// Whether the operation `name` picks in `document` is a mutation or a subscription.
fn changes_something(document: &ExecutableDocument, name: Option<&str>) -> bool {
    budget::chosen_operations(document, name)
        .any(|operation| operation.node.ty != OperationType::Query)
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
    crate::server::access::record_role(&request, session.role());
    let limit = state.config.limits.max_body_bytes;
    let body = body::read(payload, request.headers(), limit).await?;
    let batch: BatchRequest = serde_json::from_slice(&body).map_err(|error| {
        GraphqlError::new(
            StatusCode::BAD_REQUEST,
            "invalid-json",
            format!("the request body is not a GraphQL request: {error}"),
        )
    })?;
    let (batched, operations) = match batch {
        BatchRequest::Single(one) => (false, vec![one]),
        BatchRequest::Batch(many) => (true, many),
    };
    let operations = operations
        .into_iter()
        .map(|mut operation| {
            let parsed = state.parsed.parse(&mut operation);
            (operation, parsed)
        })
        .collect();
    respond(&state, &request, session, batched, operations).await
}

/// Runs the parsed `operations` for `session` and answers, the same for `POST` and `GET`.
async fn respond(
    state: &AppState,
    request: &HttpRequest,
    session: Session,
    batched: bool,
    mut operations: Vec<Parsed>,
) -> Result<HttpResponse, GraphqlError> {
    let client_headers = ClientHeaders::capture(request.headers());
    let live = state.live();
    let schema = live.schema_for(session.role());
    // The whole request's budget is checked before any of it runs, so a refused request
    // stores nothing and calls nothing.
    let mut total = Cost::default();
    for (operation, parsed) in &mut operations {
        let name = operation.operation_name.clone();
        if parsed.is_ok()
            && let Ok(document) = operation.parsed_query()
        {
            total += budget::cost(document, name.as_deref());
        }
    }
    budget::check(operations.len(), total, &state.config.limits)
        .map_err(|over| GraphqlError::new(StatusCode::BAD_REQUEST, over.code, over.message))?;
    // The request's span, continuing the caller's trace; each action call is a child.
    let span = tracing::debug_span!(
        target: crate::traces::TARGET,
        "graphql request",
        otel.kind = "server",
        http.request.method = %request.method(),
        http.route = "/v1/graphql",
        graphql.operation.name = operations.first().and_then(|(one, _)| one.operation_name.as_deref()),
        enduser.role = session.role(),
    );
    let headers = request.headers().iter();
    crate::traces::continue_trace(
        &span,
        headers.filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?))),
    );
    let mut responses = Vec::with_capacity(operations.len());
    for (one, parsed) in operations {
        let context = (session.clone(), client_headers.clone());
        let answer = run(schema, one, parsed, context.0, context.1);
        responses.push(tracing::Instrument::instrument(answer, span.clone()).await);
    }
    let response = if batched {
        BatchResponse::Batch(responses)
    } else {
        BatchResponse::Single(responses.pop().unwrap_or_default())
    };
    let mut answer = HttpResponse::Ok();
    // GraphQL over HTTP's own media type, for clients that ask for it.
    let wants_graphql_response = request
        .headers()
        .get(ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains(GRAPHQL_RESPONSE));
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
    if wants_graphql_response {
        let body = serde_json::to_vec(&response).map_err(|error| {
            GraphqlError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "unexpected",
                format!("cannot encode the response: {error}"),
            )
        })?;
        return Ok(answer.content_type(GRAPHQL_RESPONSE).body(body));
    }
    Ok(answer.json(response))
}

/// GraphQL over HTTP's response media type.
const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

async fn run(
    schema: &async_graphql::dynamic::Schema,
    request: Request,
    parsed: Result<(), ServerError>,
    session: Session,
    client_headers: ClientHeaders,
) -> Response {
    if let Err(mut error) = parsed {
        ensure_code(&mut error, "parse-failed");
        return Response::from_errors(vec![error]);
    }
    let context = RequestContext {
        session,
        query: RequestDocument::new(request.query.as_str()),
        client_headers,
    };
    let request = request.data(context).data(NullItems::default());
    with_codes(schema.execute(request).await)
}
