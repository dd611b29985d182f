//! GraphQL over WebSocket on `/v1/graphql`, for subscriptions: both the `graphql-transport-ws`
//! protocol and the legacy `graphql-ws` one (async-graphql speaks both). Clients authenticate
//! with the upgrade request's headers or, as Hasura clients do from browsers, with
//! `{"headers": {...}}` in the `connection_init` payload; the connection then sees the schema
//! of the role it authenticated as.

use std::sync::{Arc, OnceLock};

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, ORIGIN};
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::dynamic::Schema;
use async_graphql::futures_util::stream::BoxStream;
use async_graphql::{Data, Executor, Request, Response};
use async_graphql_actix_web::GraphQLSubscription;
use serde_json::Value;

use super::error::GraphqlError;
use crate::auth::{ClientHeaders, Session};
use crate::graphql::RequestContext;
use crate::graphql::errors::with_codes;
use crate::live::Live;
use crate::server::AppState;

/// Registers `GET /v1/graphql` with `Upgrade: websocket`; other requests to the path fall
/// through to [`super::graphql`].
pub fn configure(config: &mut web::ServiceConfig) {
    config.service(
        web::resource("/v1/graphql")
            .guard(actix_web::guard::Get())
            .guard(actix_web::guard::Header("upgrade", "websocket"))
            .route(web::get().to(subscriptions)),
    );
}

/// Runs each operation on the schema of the role the connection authenticated as.
#[derive(Clone)]
struct RoleExecutor {
    live: Arc<Live>,
    session: Arc<OnceLock<Session>>,
}

impl RoleExecutor {
    fn schema(&self) -> Schema {
        let role = self.session.get().map_or("", Session::role);
        self.live.schema_for(role).clone()
    }
}

impl Executor for RoleExecutor {
    async fn execute(&self, request: Request) -> Response {
        with_codes(self.schema().execute(request).await)
    }

    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        use futures::StreamExt;
        Executor::execute_stream(&self.schema(), request, session_data)
            .map(with_codes)
            .boxed()
    }
}

/// `GET /v1/graphql` with `Upgrade: websocket`.
async fn subscriptions(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> actix_web::Result<HttpResponse> {
    // CORS does not cover WebSockets: a page on any origin may open one, so the upgrade checks
    // the origin against the same policy (same-origin pages, like GraphiQL, always may).
    if let Some(origin) = request.headers().get(ORIGIN).and_then(|o| o.to_str().ok())
        && !state.cors.allows(origin)
        && !super::csrf::same_origin(origin, request.connection_info().host())
    {
        return Err(GraphqlError::new(
            StatusCode::FORBIDDEN,
            "access-denied",
            format!("origin `{origin}` may not open a WebSocket here"),
        )
        .into());
    }
    let session = Arc::new(OnceLock::new());
    let executor = RoleExecutor {
        live: state.live(),
        session: Arc::clone(&session),
    };
    let upgrade_headers = request.headers().clone();
    GraphQLSubscription::new(executor)
        .on_connection_init(move |payload: Value| async move {
            let headers = merged_headers(upgrade_headers, &payload);
            let authenticated = state
                .auth
                .authenticate(&headers)
                .await
                .map_err(|error| async_graphql::Error::new(error.to_string()))?;
            let _ = session.set(authenticated.clone());
            let mut data = Data::default();
            data.insert(RequestContext {
                session: authenticated,
                query: String::new(),
                client_headers: ClientHeaders::capture(&headers),
            });
            Ok(data)
        })
        .start(&request, payload)
}

/// The upgrade request's headers, overridden by `connection_init`'s `payload.headers` (or, as
/// some clients send them, by the payload's top-level string fields).
fn merged_headers(mut headers: HeaderMap, payload: &Value) -> HeaderMap {
    let given = payload
        .get("headers")
        .and_then(Value::as_object)
        .or_else(|| payload.as_object());
    for (name, value) in given.into_iter().flatten() {
        let (Ok(name), Some(Ok(value))) = (
            HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()),
            value.as_str().map(HeaderValue::from_str),
        ) else {
            continue;
        };
        headers.insert(name, value);
    }
    headers
}
