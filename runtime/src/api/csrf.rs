//! Cross-site request forgery: a page on any site can make a browser send a `POST` with a form or
//! plain-text body to any server, without asking first (CORS preflights only requests that are
//! not "simple"), and in dev mode such a request is an admin. So a `POST` that carries a
//! browser's `Origin` from another site, with a body type a form can produce (or none), is
//! refused before anything runs. Browsers calling on purpose send JSON, which is preflighted and
//! then governed by the CORS policy; clients that are not browsers send no `Origin`.

use actix_web::http::Method;
use actix_web::http::header::{CONTENT_TYPE, ORIGIN};
use actix_web::{HttpRequest, dev::ServiceRequest};

/// The body types a cross-site form or a "simple" request can have.
const FORM_TYPES: [&str; 3] = [
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "text/plain",
];

/// Whether `origin` is the server itself, as the request addressed it.
pub fn same_origin(origin: &str, host: &str) -> bool {
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority.trim_end_matches('/').eq_ignore_ascii_case(host))
}

fn forged(method: &Method, headers: &actix_web::http::header::HeaderMap, host: &str) -> bool {
    if method != Method::POST {
        return false;
    }
    let Some(origin) = headers.get(ORIGIN).and_then(|o| o.to_str().ok()) else {
        return false;
    };
    if same_origin(origin, host) {
        return false;
    }
    let media_type = headers
        .get(CONTENT_TYPE)
        .and_then(|t| t.to_str().ok())
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase());
    media_type.is_none_or(|t| FORM_TYPES.contains(&t.as_str()))
}

/// Whether `request` looks like a forged cross-site form post.
pub fn is_forged(request: &HttpRequest) -> bool {
    forged(
        request.method(),
        request.headers(),
        request.connection_info().host(),
    )
}

/// The same, for middleware.
pub fn is_forged_service(request: &ServiceRequest) -> bool {
    forged(
        request.method(),
        request.headers(),
        request.connection_info().host(),
    )
}

/// What a refused request is told.
pub const REFUSAL: &str = "a cross-site request must send its body as application/json";

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderMap, HeaderValue};

    use super::*;

    fn headers(origin: Option<&'static str>, content_type: Option<&'static str>) -> HeaderMap {
        let mut map = HeaderMap::new();
        if let Some(origin) = origin {
            map.insert(ORIGIN, HeaderValue::from_static(origin));
        }
        if let Some(content_type) = content_type {
            map.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        map
    }

    #[test]
    fn only_cross_site_posts_with_form_bodies_are_forged() {
        let host = "127.0.0.1:8080";
        let evil = Some("https://evil.example");
        assert!(forged(
            &Method::POST,
            &headers(evil, Some("text/plain")),
            host
        ));
        assert!(forged(
            &Method::POST,
            &headers(evil, Some("text/plain; charset=utf-8")),
            host
        ));
        assert!(forged(
            &Method::POST,
            &headers(evil, Some("multipart/form-data; boundary=x")),
            host
        ));
        assert!(forged(&Method::POST, &headers(evil, None), host));
        assert!(!forged(
            &Method::POST,
            &headers(evil, Some("application/json")),
            host
        ));
        assert!(
            !forged(&Method::POST, &headers(None, Some("text/plain")), host),
            "curl"
        );
        let same = Some("http://127.0.0.1:8080");
        assert!(!forged(
            &Method::POST,
            &headers(same, Some("text/plain")),
            host
        ));
        assert!(!forged(&Method::GET, &headers(evil, None), host));
    }
}
