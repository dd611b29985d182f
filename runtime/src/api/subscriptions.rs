//! GraphQL over WebSocket on `/v1/graphql`, for subscriptions: both the `graphql-transport-ws`
//! protocol and the legacy `graphql-ws` one (async-graphql speaks both; a client naming no
//! subprotocol gets the legacy one, Hasura's default). Clients authenticate
//! with the upgrade request's headers or, as Hasura clients do from browsers, with
//! `{"headers": {...}}` in the `connection_init` payload; the connection then sees the schema
//! of the role it authenticated as.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, ORIGIN};
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::dynamic::Schema;
use async_graphql::futures_util::stream::BoxStream;
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Data, ErrorExtensions as _, Executor, Request, Response};
use futures::StreamExt;
use serde_json::Value;

use super::error::GraphqlError;
use crate::auth::{ClientHeaders, Session};
use crate::config::Limits;
use crate::graphql::budget;
use crate::graphql::errors::with_codes;
use crate::graphql::{NullItems, RequestContext};
use crate::live::Live;
use crate::server::AppState;
use crate::store::RequestDocument;

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
    /// The headers the connection authenticated with, for queries and mutations sent over it.
    client_headers: Arc<OnceLock<ClientHeaders>>,
    limits: Limits,
    /// `hookwing_subscriptions_active`.
    subscriptions: prometheus::IntGauge,
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
        mut request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        let schema = self.schema();
        // Parsed once, here: the document is handed to async-graphql with the request.
        let document = async_graphql_parser::parse_query(&request.query).ok();
        // The same budget as over HTTP: one operation's action calls.
        if let Some(document) = &document {
            let cost = budget::cost(document, request.operation_name.as_deref());
            if let Err(over) = budget::check(1, cost, &self.limits) {
                let refused = async_graphql::Error::new(over.message)
                    .extend_with(|_, extensions| extensions.set("code", over.code))
                    .into_server_error(async_graphql::Pos::default());
                return futures::stream::once(async move { Response::from_errors(vec![refused]) })
                    .boxed();
            }
        }
        // Queries and mutations sent over the socket are answered once; async-graphql's
        // stream path would refuse them on a schema without subscriptions.
        let subscription = document
            .as_ref()
            .is_none_or(|document| is_subscription(document, &request));
        if let Some(document) = document {
            request.set_parsed_query(document);
        }
        if !subscription {
            // Operations run only after `connection_init`, which sets the session.
            let Some(session) = self.session.get().cloned() else {
                let refused =
                    async_graphql::ServerError::new("the connection is not initialised", None);
                return futures::stream::once(async move { Response::from_errors(vec![refused]) })
                    .boxed();
            };
            let context = RequestContext {
                session,
                query: RequestDocument::new(request.query.as_str()),
                client_headers: self.client_headers.get().cloned().unwrap_or_default(),
            };
            let request = request.data(context).data(NullItems::default());
            return futures::stream::once(async move { with_codes(schema.execute(request).await) })
                .boxed();
        }
        // Counted while the stream lives: until it ends, the client stops it, or the
        // connection closes.
        let active = Counted::new(self.subscriptions.clone());
        Executor::execute_stream(&schema, request.data(NullItems::default()), session_data)
            .map(move |response| {
                let _active = &active;
                with_codes(response)
            })
            .boxed()
    }
}

/// Whether `request` (whose parsed query is `document`) runs a subscription; an unparsable
/// one goes the stream way, which reports the error.
fn is_subscription(document: &ExecutableDocument, request: &Request) -> bool {
    budget::chosen_operations(document, request.operation_name.as_deref()).any(|operation| {
        operation.node.ty == async_graphql_parser::types::OperationType::Subscription
    })
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
    let client_headers = Arc::new(OnceLock::new());
    let executor = RoleExecutor {
        live: state.live(),
        session: Arc::clone(&session),
        client_headers: Arc::clone(&client_headers),
        limits: state.config.limits.clone(),
        subscriptions: state.metrics.subscriptions.clone(),
    };
    let upgrade_headers = request.headers().clone();
    // The connection ends when its credential expires.
    let (expiry, expires) = tokio::sync::watch::channel(None);
    let open = Counted::new(state.metrics.websockets.clone());
    let refused = Arc::new(AtomicBool::new(false));
    let refusing = Arc::clone(&refused);
    let max_message_bytes = state.config.limits.max_body_bytes;
    let on_connection_init = move |payload: Value| async move {
        let headers = merged_headers(upgrade_headers, &payload);
        let authenticated = match state.auth.authenticate(&headers).await {
            Ok(authenticated) => authenticated,
            Err(error) => {
                refusing.store(true, Ordering::Release);
                return Err(async_graphql::Error::new(error.to_string()));
            }
        };
        let _ = expiry.send(authenticated.expires_at);
        let _ = session.set(authenticated.clone());
        let captured = ClientHeaders::capture(&headers);
        let _ = client_headers.set(captured.clone());
        let mut data = Data::default();
        data.insert(RequestContext {
            session: authenticated,
            query: RequestDocument::new(""),
            client_headers: captured,
        });
        Ok(data)
    };
    super::websocket::serve(
        &request,
        payload,
        max_message_bytes,
        expired(expires),
        refused,
        move |input, protocol| {
            async_graphql::http::WebSocket::new(executor, input, protocol)
                .on_connection_init(on_connection_init)
                // Counted for as long as the connection's protocol runs.
                .map(move |message| {
                    let _open = &open;
                    message
                })
        },
    )
}

/// One in a gauge (an open connection, an active subscription) for as long as it lives.
struct Counted(prometheus::IntGauge);

impl Counted {
    fn new(gauge: prometheus::IntGauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Resolves when the connection's credential expires (as `connection_init` reported it);
/// never for one that does not.
async fn expired(mut expires: tokio::sync::watch::Receiver<Option<std::time::SystemTime>>) {
    let at = loop {
        if let Some(at) = *expires.borrow_and_update() {
            break at;
        }
        if expires.changed().await.is_err() {
            return std::future::pending().await;
        }
    };
    let left = at
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    tokio::time::sleep(left).await;
    tracing::debug!("closing a WebSocket whose token expired");
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
