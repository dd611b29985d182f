//! The browser pages: GraphiQL on `GET /` and the operator console on `GET /console`, with
//! their scripts and styles under `/assets/`.
//!
//! The pages are built from `runtime/console` with npm (`npm ci && npm run build`): release
//! builds embed them, debug builds read them from disk, and a server built without them says
//! so on both paths instead of serving a page that cannot load. Nothing comes from a CDN.
//!
//! The pages hold no data: everything they show comes from the APIs (`/v1/graphql` and the
//! admin APIs), called with the credential the user typed into the page. So the pages are
//! served to anyone, as Hasura serves its console, and every read and write is checked where
//! the CLI's would be.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError, web};

use super::error::{AdminError, Envelope};
use crate::server::AppState;

#[derive(rust_embed::Embed)]
#[folder = "console/dist/"]
#[allow_missing = true]
struct Pages;

/// The pages' policy for the browser: scripts, styles and connections only from this server
/// (so a handler's output or log line that slipped past escaping still could not run or send
/// anything anywhere), and no framing by other sites. Inline styles are allowed because the
/// editors position their lines with `style` attributes.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
    connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Registers `/`, `/console` and `/assets/…` (when the console is enabled).
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource("/")
                .route(web::get().to(|state: web::Data<AppState>| page(state, "graphiql.html")))
                // GraphiQL's path answers other methods as `/v1/graphql` does.
                .default_service(Envelope::Graphql.method_not_allowed()),
        )
        .service(
            web::resource(["/console", "/console/"])
                .route(web::get().to(|state: web::Data<AppState>| page(state, "console.html")))
                .default_service(Envelope::Admin.method_not_allowed()),
        )
        .service(web::resource("/assets/{file:.+}").route(web::get().to(asset)));
}

/// One of the two pages, or why it is missing.
async fn page(state: web::Data<AppState>, file: &str) -> HttpResponse {
    if !state.config.enable_console {
        return not_found();
    }
    let Some(content) = Pages::get(file) else {
        return not_built();
    };
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(content.data.into_owned())
}

/// A script, style or font of the pages. Their names carry a hash of their content, so a
/// browser may keep them for good.
async fn asset(state: web::Data<AppState>, file: web::Path<String>) -> HttpResponse {
    let found = state
        .config
        .enable_console
        .then(|| Pages::get(&format!("assets/{file}")))
        .flatten();
    let Some(content) = found else {
        return not_found();
    };
    HttpResponse::Ok()
        .content_type(content.metadata.mimetype())
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(content.data.into_owned())
}

/// What a server built without its pages answers on `/` and `/console`.
fn not_built() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/html; charset=utf-8")
        .body(
            "<!doctype html><meta charset=utf-8><title>Hookwing</title>\
             <h1>GraphiQL and the console are not built into this server</h1>\
             <p>They are built with npm: run <code>npm ci &amp;&amp; npm run build</code> in \
             <code>runtime/console</code>, then build the server again. The APIs work without \
             them: <code>POST /v1/graphql</code>, <code>/v1/metadata</code>, \
             <code>/v1/handlers</code>, <code>/v1/events</code>.</p>",
        )
}

/// The reply when the pages are turned off, or for an asset that does not exist.
fn not_found() -> HttpResponse {
    AdminError::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "resource does not exist",
    )
    .error_response()
}

#[cfg(test)]
mod tests {
    #[actix_web::test]
    async fn a_server_without_its_pages_says_how_to_build_them() {
        let response = super::not_built();
        assert_eq!(response.status(), actix_web::http::StatusCode::NOT_FOUND);
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .expect("a body");
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("npm ci &amp;&amp; npm run build"), "{text}");
        assert!(text.contains("runtime/console"), "{text}");
    }
}
