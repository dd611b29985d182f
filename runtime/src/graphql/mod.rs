//! The GraphQL API: `POST /v1/graphql` over a schema rebuilt from metadata, GraphiQL on `GET /`.

pub mod errors;
pub mod http;
pub mod schema;

use crate::auth::{ClientHeaders, Session};

/// What a resolver needs to know about the HTTP request it serves.
pub struct RequestContext {
    pub session: Session,
    /// The GraphQL document as sent, for the handler payload's `request_query`.
    pub query: String,
    pub client_headers: ClientHeaders,
}
