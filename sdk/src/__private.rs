//! The component side, for the [`export_handler!`](crate::export_handler) macro: bindings of
//! the `hookwing:action` world and the glue between them and the SDK's own types. Not public
//! API: the generated types never appear in a handler's signature.

// Generated bindings necessarily contain `unsafe` (the canonical ABI); they are the only
// place in the SDK that does.
#[allow(unsafe_code)]
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "hookwing:action/action-handler@0.2.0",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "hookwing_sdk::__private::bindings",
    });
}

use std::collections::BTreeMap;

pub use bindings::export;
pub use bindings::exports::hookwing::action::handler::Guest;
pub use bindings::hookwing::action::types::{
    ActionError as WitActionError, HandlerError, Request, Retry,
};
use bindings::hookwing::action::{config as wit_config, kv as wit_kv, log as wit_log};
use bindings::wasi::http::{outgoing_handler, types as wasi_http};
use bindings::wasi::io::streams::StreamError;

use crate::context::{Context, Event, Host, Level, decode_input, encode_output};
use crate::error::ActionError;
use crate::http::{HttpError, Request as HttpRequest, Response as HttpResponse};
use crate::kv::KvError;

/// Runs `handler` on one request: JSON in, JSON out, rejections as the world's error record.
pub fn run<I, O>(
    request: Request,
    handler: fn(I, &Context) -> Result<O, ActionError>,
) -> Result<String, HandlerError>
where
    I: serde::de::DeserializeOwned,
    O: serde::Serialize,
{
    let context = Context {
        action: request.action,
        session_variables: request
            .session_variables
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        request_query: request.request_query,
        event: Event {
            id: request.event.id,
            attempt: request.event.attempt,
            created_at: request.event.created_at,
        },
        host: Host::Component,
    };
    decode_input(&request.input)
        .and_then(|input| handler(input, &context))
        .and_then(|output| encode_output(&output))
        .map_err(|error| {
            if error.is_retry() {
                let after_ms = error
                    .retry_delay()
                    .map(|d| d.as_millis().try_into().unwrap_or(u64::MAX));
                return HandlerError::Retry(Retry {
                    reason: error.message,
                    after_ms,
                });
            }
            HandlerError::Reject(WitActionError {
                message: error.message,
                extensions: (!error.extensions.is_empty())
                    .then(|| serde_json::Value::Object(error.extensions).to_string()),
            })
        })
}

pub(crate) fn log(level: Level, message: &str) {
    let level = match level {
        Level::Trace => wit_log::Level::Trace,
        Level::Debug => wit_log::Level::Debug,
        Level::Info => wit_log::Level::Info,
        Level::Warn => wit_log::Level::Warn,
        Level::Error => wit_log::Level::Error,
    };
    wit_log::log(level, message);
}

pub(crate) fn config(key: &str) -> Option<String> {
    wit_config::get(key)
}

fn kv_error(error: wit_kv::Error) -> KvError {
    match error {
        wit_kv::Error::Invalid(message) => KvError::Invalid(message),
        wit_kv::Error::QuotaExceeded(message) => KvError::QuotaExceeded(message),
        wit_kv::Error::Unavailable(message) => KvError::Unavailable(message),
    }
}

pub(crate) fn kv_get(key: &str) -> Result<Option<Vec<u8>>, KvError> {
    wit_kv::get(key).map_err(kv_error)
}

pub(crate) fn kv_set(key: &str, value: &[u8], ttl_ms: Option<u64>) -> Result<(), KvError> {
    wit_kv::set(key, value, ttl_ms).map_err(kv_error)
}

pub(crate) fn kv_delete(key: &str) -> Result<bool, KvError> {
    wit_kv::delete(key).map_err(kv_error)
}

pub(crate) fn kv_swap(
    key: &str,
    expected: Option<&[u8]>,
    new: Option<&[u8]>,
    ttl_ms: Option<u64>,
) -> Result<bool, KvError> {
    wit_kv::compare_and_swap(key, expected, new, ttl_ms).map_err(kv_error)
}

fn http_error(context: &str, error: impl std::fmt::Debug) -> HttpError {
    HttpError(format!("{context}: {error:?}"))
}

/// One blocking request through `wasi:http/outgoing-handler`.
pub(crate) fn send(request: HttpRequest) -> Result<HttpResponse, HttpError> {
    let (scheme, rest) = request
        .url
        .split_once("://")
        .ok_or_else(|| HttpError(format!("`{}` is not an absolute URL", request.url)))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => wasi_http::Scheme::Http,
        "https" => wasi_http::Scheme::Https,
        other => return Err(HttpError(format!("unsupported scheme `{other}`"))),
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(at) if rest[at..].starts_with('/') => (&rest[..at], rest[at..].to_owned()),
        Some(at) => (&rest[..at], format!("/{}", &rest[at..])),
        None => (rest, "/".to_owned()),
    };
    let method = match request.method.to_ascii_uppercase().as_str() {
        "GET" => wasi_http::Method::Get,
        "POST" => wasi_http::Method::Post,
        "PUT" => wasi_http::Method::Put,
        "DELETE" => wasi_http::Method::Delete,
        "PATCH" => wasi_http::Method::Patch,
        "HEAD" => wasi_http::Method::Head,
        "OPTIONS" => wasi_http::Method::Options,
        other => wasi_http::Method::Other(other.to_owned()),
    };

    let headers = wasi_http::Fields::new();
    for (name, value) in &request.headers {
        headers
            .append(name, value.as_bytes())
            .map_err(|e| http_error(&format!("header `{name}`"), e))?;
    }
    let outgoing = wasi_http::OutgoingRequest::new(headers);
    outgoing
        .set_method(&method)
        .map_err(|()| HttpError("invalid method".into()))?;
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| HttpError("invalid scheme".into()))?;
    outgoing
        .set_authority(Some(authority))
        .map_err(|()| HttpError(format!("invalid host `{authority}`")))?;
    outgoing
        .set_path_with_query(Some(&path))
        .map_err(|()| HttpError(format!("invalid path `{path}`")))?;
    let body = outgoing
        .body()
        .map_err(|()| HttpError("request body unavailable".into()))?;
    if !request.body.is_empty() {
        let stream = body
            .write()
            .map_err(|()| HttpError("request body unavailable".into()))?;
        for chunk in request.body.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| http_error("writing body", e))?;
        }
    }
    wasi_http::OutgoingBody::finish(body, None).map_err(|e| http_error("finishing body", e))?;

    let future = outgoing_handler::handle(outgoing, None).map_err(|e| http_error("request", e))?;
    let response = loop {
        match future.get() {
            Some(result) => {
                break result
                    .map_err(|()| HttpError("response already taken".into()))?
                    .map_err(|e| http_error("request failed", e))?;
            }
            None => future.subscribe().block(),
        }
    };
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .collect();
    let incoming = response
        .consume()
        .map_err(|()| HttpError("response body unavailable".into()))?;
    let mut body = Vec::new();
    {
        let stream = incoming
            .stream()
            .map_err(|()| HttpError("response body unavailable".into()))?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => body.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(e) => return Err(http_error("reading response body", e)),
            }
        }
    }
    drop(wasi_http::IncomingBody::finish(incoming));
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}
