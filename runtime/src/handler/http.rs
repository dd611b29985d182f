//! Webhook handlers: the request goes out as an HTTP `POST` of the handler payload, and the
//! reply's status class decides the outcome, exactly as in Hasura (SPEC §3):
//! 2xx → output, 4xx → rejection with `{message, extensions}`, 5xx/429/transport → retryable.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER, SET_COOKIE};
use serde_json::Value;

use serde::{Deserialize, Serialize};

use super::signature::SigningKey;
use super::transform::{
    OutgoingRequest, RequestTransform, ResponseTransform, Session, TransformFailure,
};
use super::{CallContext, Delivery, HandlerRequest, Reply, UrlTemplate};
use crate::config::Environment;

/// Client headers never forwarded to a webhook, whatever an action says: those describing the
/// client's own message (this request has its own), and the admin secret, which must never
/// leave the server.
const NEVER_FORWARDED: [&str; 7] = [
    "content-length",
    "content-type",
    "host",
    "connection",
    "transfer-encoding",
    "x-hasura-admin-secret",
    "x-hookwing-admin-secret",
];

/// Client headers not forwarded unless an action's `ignored_client_headers` says otherwise:
/// content negotiation and the like (Hasura's default list).
const IGNORED_BY_DEFAULT: [&str; 10] = [
    "content-md5",
    "user-agent",
    "origin",
    "referer",
    "accept",
    "accept-encoding",
    "accept-language",
    "accept-datetime",
    "cache-control",
    "dnt",
];

/// A header sent to a webhook: a literal, or read from the server's environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum HeaderConf {
    Value {
        name: String,
        value: String,
    },
    FromEnv {
        name: String,
        value_from_env: String,
    },
}

impl HeaderConf {
    /// The header's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Value { name, .. } | Self::FromEnv { name, .. } => name,
        }
    }
}

/// Where and how one action's webhook is called, resolved from the action's definition.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookTarget {
    /// `http(s)://…`, possibly with `{{ENV_VAR}}` parts.
    pub url: UrlTemplate,
    /// Headers sent with every call.
    pub headers: Vec<HeaderConf>,
    /// Whether the client's headers are forwarded (less [`NEVER_FORWARDED`] and the ignored
    /// ones).
    pub forward_client_headers: bool,
    /// Client headers not forwarded, lower-case, in place of [`IGNORED_BY_DEFAULT`].
    pub ignored_client_headers: Option<Vec<String>>,
    /// Environment variable holding this action's signing secret, over the server's.
    pub signing_secret_from_env: Option<String>,
    /// Hasura's `request_transform`: reshapes the request before it is sent (and signed).
    pub request_transform: Option<Arc<RequestTransform>>,
}

impl WebhookTarget {
    /// A target at `url` with no headers, forwarding nothing, signed with the server's key.
    pub fn new(url: UrlTemplate) -> Self {
        Self {
            url,
            headers: Vec::new(),
            forward_client_headers: false,
            ignored_client_headers: None,
            signing_secret_from_env: None,
            request_transform: None,
        }
    }
}

/// Calls webhooks. One per server: it owns the connection pool.
#[derive(Clone)]
pub struct Webhook {
    client: reqwest::Client,
    env: Environment,
    max_response_bytes: usize,
    /// The server-wide signing secret, for actions without their own.
    signing_key: Option<SigningKey>,
}

/// Everything one webhook call needs.
struct WebhookCall<'a> {
    target: &'a WebhookTarget,
    request: &'a HandlerRequest<'a>,
    context: &'a CallContext<'a>,
    reshape: Option<&'a ResponseTransform>,
}

impl Webhook {
    /// A caller reading `{{VAR}}` and `value_from_env` from `env`, signing with `signing_key`
    /// unless an action names its own.
    pub fn new(
        env: Environment,
        max_response_bytes: usize,
        signing_key: Option<SigningKey>,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("hookwing/", env!("CARGO_PKG_VERSION")))
            // A redirect would re-send the payload somewhere the metadata never named.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            client,
            env,
            max_response_bytes,
            signing_key,
        })
    }

    /// Makes one attempt; never fails, every problem is a [`Reply`]. `reshape` is the
    /// action's response transform, applied to 2xx and 4xx replies before they are judged.
    pub async fn call(
        &self,
        target: &WebhookTarget,
        request: &HandlerRequest<'_>,
        context: &CallContext<'_>,
        reshape: Option<&ResponseTransform>,
        timeout: Duration,
    ) -> Delivery {
        let call = WebhookCall {
            target,
            request,
            context,
            reshape,
        };
        match tokio::time::timeout(timeout, self.exchange(&call)).await {
            Ok(delivery) => delivery,
            Err(_) => Delivery {
                reply: Reply::Failed {
                    // Hasura's words for it, then ours.
                    reason: format!(
                        "Response timeout: the webhook did not answer within {} ms",
                        timeout.as_millis()
                    ),
                    retry_after: None,
                },
                status_code: None,
                logs: Vec::new(),
                set_cookies: Vec::new(),
                version: None,
                http_exchanges: None,
            },
        }
    }

    async fn exchange(&self, call: &WebhookCall<'_>) -> Delivery {
        let failed = |reason: String| Delivery {
            reply: Reply::Failed {
                reason,
                retry_after: None,
            },
            status_code: None,
            logs: Vec::new(),
            set_cookies: Vec::new(),
            version: None,
            http_exchanges: None,
        };
        let url = match call.target.url.render_text(&self.env) {
            Ok(url) => url,
            Err(reason) => return failed(reason),
        };
        let headers = match self.base_headers(call) {
            Ok(headers) => headers,
            Err(reason) => return failed(reason),
        };
        let session = Session {
            variables: call.request.session_variables,
        };
        let mut sent_as = Value::Null;
        let mut outgoing = OutgoingRequest {
            method: reqwest::Method::POST,
            url,
            headers,
            body: Vec::new(),
        };
        if let Some(transform) = &call.target.request_transform {
            // Templates read the payload as JSON; the body is encoded from it only when the
            // transform keeps it.
            let payload = match serde_json::to_value(call.request) {
                Ok(payload) => payload,
                Err(e) => return failed(format!("cannot encode the request: {e}")),
            };
            if !transform.replaces_body() {
                outgoing.body = match serde_json::to_vec(&payload) {
                    Ok(body) => body,
                    Err(e) => return failed(format!("cannot encode the request: {e}")),
                };
            }
            outgoing = match transform.apply(outgoing, &payload, session) {
                Ok(transformed) => transformed,
                Err(failure) => return transform_failed("Request", &failure, None),
            };
            if call.reshape.is_some_and(ResponseTransform::reads_request) {
                sent_as = RequestTransform::request_binding(&outgoing, session);
            }
        } else {
            outgoing.body = match serde_json::to_vec(call.request) {
                Ok(body) => body,
                Err(e) => return failed(format!("cannot encode the request: {e}")),
            };
        }
        let url = match super::template::check_url(&outgoing.url, call.target.url.as_str()) {
            Ok(url) => url,
            Err(reason) => return failed(reason),
        };
        let headers = match self.final_headers(call, &outgoing) {
            Ok(headers) => headers,
            Err(reason) => return failed(reason),
        };
        let response = match self
            .client
            .request(outgoing.method, url)
            .headers(headers)
            .body(outgoing.body)
            .send()
            .await
        {
            Ok(response) => response,
            Err(e) => return failed(format!("cannot reach webhook: {}", error_chain(&e))),
        };
        let status = response.status().as_u16();
        let set_cookies: Vec<String> = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok().map(str::to_owned))
            .collect();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, Utc::now()));
        let mut body = match read_limited(response, self.max_response_bytes).await {
            Ok(body) => body,
            Err(reason) => {
                return Delivery {
                    reply: Reply::Failed {
                        reason,
                        retry_after: None,
                    },
                    status_code: Some(status),
                    logs: Vec::new(),
                    set_cookies: Vec::new(),
                    version: None,
                    http_exchanges: None,
                };
            }
        };
        // Only replies whose body is judged are reshaped: a retryable one stays retryable.
        if let Some(transform) = call.reshape
            && matches!(status, 200..=299 | 400..=428 | 430..=499)
        {
            body = match transform.apply(status, &body, &sent_as, session) {
                Ok(body) => body,
                Err(failure) => return transform_failed("Response", &failure, Some(status)),
            };
        }
        Delivery {
            reply: classify(status, retry_after, &body),
            status_code: Some(status),
            logs: Vec::new(),
            set_cookies,
            version: None,
            http_exchanges: None,
        }
    }

    /// The headers every call sends before any transform: the forwarded client headers,
    /// then the action's (replacing same-named ones), then the content type.
    fn base_headers(&self, call: &WebhookCall<'_>) -> Result<Vec<(String, String)>, String> {
        let mut headers: Vec<(String, String)> = Vec::new();
        if call.target.forward_client_headers {
            let ignored = |name: &str| match &call.target.ignored_client_headers {
                Some(listed) => listed.iter().any(|header| header == name),
                None => IGNORED_BY_DEFAULT.contains(&name),
            };
            for (name, value) in call.context.client_headers.iter() {
                let sendable = HeaderName::from_bytes(name.as_bytes()).is_ok()
                    && HeaderValue::from_str(value).is_ok();
                if NEVER_FORWARDED.contains(&name) || ignored(name) || !sendable {
                    continue;
                }
                headers.push((name.to_owned(), value.to_owned()));
            }
        }
        let mut set = |name: &str, value: String| {
            headers.retain(|(existing, _)| !existing.eq_ignore_ascii_case(name));
            headers.push((name.to_owned(), value));
        };
        for header in &call.target.headers {
            let value = match header {
                HeaderConf::Value { value, .. } => value.clone(),
                HeaderConf::FromEnv { value_from_env, .. } => self
                    .env
                    .get(value_from_env)
                    .ok_or_else(|| format!("environment variable '{value_from_env}' is not set"))?
                    .to_owned(),
            };
            set(header.name(), value);
        }
        set(CONTENT_TYPE.as_str(), "application/json".to_owned());
        Ok(headers)
    }

    /// The headers as sent: `outgoing`'s, then the Standard Webhooks headers, signed over the
    /// body as sent.
    fn final_headers(
        &self,
        call: &WebhookCall<'_>,
        outgoing: &OutgoingRequest,
    ) -> Result<HeaderMap, String> {
        let mut headers = HeaderMap::new();
        for (name, value) in &outgoing.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("'{name}' is not a valid header name"))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| format!("header '{name}' has a value that cannot be sent"))?;
            headers.append(name, value);
        }
        let id = call.request.event.id.to_string();
        let timestamp = Utc::now().timestamp();
        if let Some(key) = self.signing_key_for(call.target)? {
            headers.insert(
                "webhook-signature",
                header_value(key.sign(&id, timestamp, &outgoing.body)),
            );
        }
        headers.insert("webhook-id", header_value(id));
        headers.insert("webhook-timestamp", header_value(timestamp.to_string()));
        // The attempt's trace context (when traces are exported), so that the webhook's own
        // spans join the caller's trace; it replaces a forwarded client `traceparent`.
        for (name, value) in crate::traces::current_context_headers() {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                headers.insert(name, value);
            }
        }
        Ok(headers)
    }

    fn signing_key_for(&self, target: &WebhookTarget) -> Result<Option<SigningKey>, String> {
        match &target.signing_secret_from_env {
            Some(var) => {
                let secret = self
                    .env
                    .get(var)
                    .ok_or_else(|| format!("environment variable '{var}' is not set"))?;
                SigningKey::parse(secret).map(Some)
            }
            None => Ok(self.signing_key.clone()),
        }
    }
}

/// A transform that failed: the attempt is rejected (never retried) with Hasura's message;
/// what failed where is for operators only (`extensions.internal`).
pub fn transform_failed(which: &str, failure: &TransformFailure, status: Option<u16>) -> Delivery {
    Delivery {
        reply: transform_rejection(which, failure),
        status_code: status,
        logs: Vec::new(),
        set_cookies: Vec::new(),
        version: None,
        http_exchanges: None,
    }
}

/// The rejection a failed `which` ("Request" or "Response") transform is.
pub fn transform_rejection(which: &str, failure: &TransformFailure) -> Reply {
    Reply::Rejected {
        message: format!("{which} Transformation Failed"),
        code: Some(TRANSFORM_FAILED.to_owned()),
        extensions: Some(serde_json::json!({
            "code": TRANSFORM_FAILED,
            "path": "$",
            "internal": {"reason": failure.summary(), "errors": failure.errors},
        })),
    }
}

/// The code of a call whose request or response transform failed.
pub const TRANSFORM_FAILED: &str = "transform-failed";

fn header_value(text: String) -> HeaderValue {
    HeaderValue::try_from(text).expect("ids and digits are valid header values")
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(format!("webhook reply is larger than {limit} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(format!("cannot read webhook reply: {}", error_chain(&e))),
        }
    }
}

/// Maps a webhook's HTTP reply onto the shared outcome classes.
pub fn classify(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Reply {
    match status {
        200..=299 => match serde_json::from_slice::<Value>(body) {
            Ok(output) => Reply::Success { output },
            Err(e) => Reply::Failed {
                reason: format!(
                    "webhook returned status {status} with a body that is not JSON: {e}"
                ),
                retry_after: None,
            },
        },
        429 | 500..=599 => Reply::Failed {
            reason: format!("webhook returned status {status}"),
            retry_after,
        },
        400..=499 => rejection(status, body),
        _ => Reply::Failed {
            reason: format!("webhook returned unexpected status {status}"),
            retry_after: None,
        },
    }
}

fn rejection(status: u16, body: &[u8]) -> Reply {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|body| body.get("message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("handler rejected the request with status {status}"));
    let extensions = parsed
        .as_ref()
        .and_then(|body| body.get("extensions"))
        .filter(|extensions| extensions.is_object())
        .cloned();
    let code = parsed
        .as_ref()
        .and_then(|body| body.get("code"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Reply::Rejected {
        message,
        code,
        extensions,
    }
}

/// `Retry-After` is either delay-seconds or an HTTP date.
fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value.trim())
        .ok()?
        .with_timezone(&Utc);
    (at - now).to_std().ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn success_needs_a_json_body() {
        assert_eq!(
            classify(200, None, br#"{"a":1}"#),
            Reply::Success {
                output: json!({"a": 1})
            }
        );
        assert!(matches!(
            classify(200, None, b"<html>"),
            Reply::Failed { .. }
        ));
    }

    #[test]
    fn client_errors_are_rejections_with_the_handlers_message() {
        let body = br#"{"message":"bad password","extensions":{"code":"auth"}}"#;
        assert_eq!(
            classify(400, None, body),
            Reply::Rejected {
                message: "bad password".into(),
                code: None,
                extensions: Some(json!({"code": "auth"}))
            }
        );
        let Reply::Rejected {
            message,
            extensions,
            ..
        } = classify(404, None, b"nope")
        else {
            panic!("a 404 is a rejection");
        };
        assert!(message.contains("404"));
        assert_eq!(extensions, None);
    }

    #[test]
    fn server_errors_and_429_are_retryable_and_keep_retry_after() {
        let wait = Some(Duration::from_secs(3));
        assert_eq!(
            classify(429, wait, b""),
            Reply::Failed {
                reason: "webhook returned status 429".into(),
                retry_after: wait
            }
        );
        assert!(matches!(classify(503, None, b"{}"), Reply::Failed { .. }));
        assert!(matches!(classify(302, None, b""), Reply::Failed { .. }));
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .expect("date")
            .to_utc();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        let date = "Thu, 01 Jan 2026 00:00:10 GMT";
        assert_eq!(parse_retry_after(date, now), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
