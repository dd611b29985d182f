//! The GraphQL layer: the schemas built from metadata, their resolvers (which hand action calls
//! to [`crate::dispatch`]), and GraphQL errors. The HTTP endpoints are in [`crate::api`].

mod async_action;
pub mod budget;
pub mod errors;
mod null_items;
mod parse_cache;
pub mod schema;

use serde_json::Value;

pub use null_items::NullItems;
pub use parse_cache::ParseCache;

use crate::auth::{ClientHeaders, Session};
use crate::dispatch::Invocation;
use crate::handler::wasm::StateWrites;
use crate::metadata::Catalog;
use crate::metadata::validate::ResolvedAction;
use crate::store::RequestDocument;

/// What a resolver needs to know about the HTTP request it serves.
pub struct RequestContext {
    pub session: Session,
    /// The GraphQL document as sent, for the handler payload's `request_query`: stored once
    /// however many events the request creates.
    pub query: RequestDocument,
    pub client_headers: ClientHeaders,
}

impl RequestContext {
    /// A call of `action` with `input`, made by this request.
    pub fn invocation<'a>(
        &'a self,
        catalog: &'a Catalog,
        action: &'a ResolvedAction,
        input: Value,
    ) -> Invocation<'a> {
        Invocation {
            catalog,
            action,
            input,
            session: &self.session,
            request_query: &self.query,
            client_headers: &self.client_headers,
            playback: None,
            state_writes: StateWrites::Persist,
        }
    }
}
