//! The HTTP edge: every endpoint, one module each, each registering its routes with
//! `configure`. Endpoints parse the request, call the core, and map the outcome into one of
//! the two error envelopes of [`error`]; nothing below this module knows about HTTP requests.

mod admin;
mod body;
mod console;
mod csrf;
pub mod error;
mod events;
mod graphql;
pub mod handlers;
mod health;
mod metadata;
mod replay;
mod subscriptions;
mod websocket;

use actix_web::web::ServiceConfig;

/// Registers every endpoint, and the not-found reply for every other path.
pub fn configure(config: &mut ServiceConfig) {
    // Subscriptions first: the upgrade request shares its path with `POST /v1/graphql`.
    subscriptions::configure(config);
    graphql::configure(config);
    metadata::configure(config);
    handlers::configure(config);
    events::configure(config);
    health::configure(config);
    console::configure(config);
    config.default_service(error::Envelope::Admin.not_found());
}
