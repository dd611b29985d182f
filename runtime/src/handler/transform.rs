//! Hasura's request and response transforms: Kriti templates that reshape what goes to a
//! webhook (method, URL, query parameters, headers, body) and what comes back, so an action
//! can call an existing REST API directly. Metadata keeps the transforms as written; they are
//! parsed here once, when metadata is validated, and applied per attempt.
//!
//! The semantics are Hasura's (versions 1 and 2 of the metadata shape); `docs/TRANSFORMS.md`
//! states them with examples, and where Hookwing chooses differently.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::kriti::{self, Template};

/// Hasura's only template engine.
const KRITI: &str = "Kriti";

/// The functions a transform template may call beyond Kriti's basic library.
pub const HOST_FUNCTIONS: [&str; 1] = ["getSessionVariable"];

/// A `request_transform`, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestTransform {
    method: Option<Method>,
    url: Option<Template>,
    query_params: Option<QueryParams>,
    add_headers: Vec<(String, Template)>,
    /// Lower-case.
    remove_headers: Vec<String>,
    body: Option<BodyTransform>,
}

/// A `response_transform`, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseTransform {
    body: Option<BodyTransform>,
}

#[derive(Debug, Clone, PartialEq)]
enum QueryParams {
    /// `{key: value}`, both string templates; a `null` value is a parameter without `=`.
    Pairs(Vec<(Template, Option<Template>)>),
    /// One string template rendering a whole query string.
    Template(Template),
}

#[derive(Debug, Clone, PartialEq)]
enum BodyTransform {
    Remove,
    /// A template rendering the JSON body.
    Json(Template),
    /// `form_template`: each value a string template, sent `application/x-www-form-urlencoded`.
    Form(Vec<(String, Template)>),
}

/// A transform that cannot be accepted, found when metadata is validated. `path` is relative
/// to the transform (`body.template`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidTransform {
    pub path: String,
    pub message: String,
}

impl InvalidTransform {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// A transform that failed while a call was made: the attempt is rejected, never retried.
/// `errors` are in Hasura's shape (`{error_code, message, source_position}`), for operators.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformFailure {
    pub errors: Vec<Value>,
}

impl TransformFailure {
    fn one(error_code: &str, message: String) -> Self {
        Self {
            errors: vec![json!({"error_code": error_code, "message": message})],
        }
    }

    /// All errors on one line, for attempt records and logs.
    pub fn summary(&self) -> String {
        self.errors
            .iter()
            .map(|error| {
                let message = error["message"].as_str().unwrap_or("?");
                match error.get("source_position") {
                    Some(at) => format!(
                        "{message} (line {}, column {})",
                        at["start_line"].as_u64().unwrap_or(0) + 1,
                        at["start_column"].as_u64().unwrap_or(0) + 1
                    ),
                    None => message.to_owned(),
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A request before or after a request transform.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingRequest {
    pub method: Method,
    /// Absolute; its text as configured (`$base_url` is this text before any transform).
    pub url: String,
    /// In order; names as given.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What templates see of the call besides the request itself.
#[derive(Debug, Clone, Copy)]
pub struct Session<'a> {
    /// The session variables, keys lower-case.
    pub variables: &'a Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestShape {
    #[serde(default)]
    version: Option<Value>,
    #[serde(default)]
    template_engine: Option<String>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    query_params: Option<Value>,
    #[serde(default)]
    request_headers: Option<HeadersShape>,
    #[serde(default)]
    body: Option<Value>,
    /// Version 1's; Hasura has ignored it since version 2 of the shape (set the header with
    /// `request_headers` instead). Accepted so such metadata loads.
    #[serde(default)]
    #[expect(dead_code, reason = "accepted and ignored, as Hasura does")]
    content_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeadersShape {
    #[serde(default)]
    add_headers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    remove_headers: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseShape {
    #[serde(default)]
    version: Option<Value>,
    #[serde(default)]
    template_engine: Option<String>,
    #[serde(default)]
    body: Option<Value>,
}

/// `version` (1 by default) and `template_engine` (Kriti, the only one).
fn check_header(version: Option<&Value>, engine: Option<&str>) -> Result<u64, InvalidTransform> {
    let version = match version {
        None | Some(Value::Null) => 1,
        Some(value) => match value.as_u64() {
            Some(v @ (1 | 2)) => v,
            _ => {
                return Err(InvalidTransform::new(
                    "version",
                    format!("expected 1 or 2, encountered {value}"),
                ));
            }
        },
    };
    if let Some(engine) = engine
        && engine != KRITI
    {
        return Err(InvalidTransform::new(
            "template_engine",
            format!("unknown template engine '{engine}'; the only one is {KRITI}"),
        ));
    }
    Ok(version)
}

/// A whole-JSON template, refused at `path` with the parse error's position.
fn json_template(source: &str, path: &str) -> Result<Template, InvalidTransform> {
    checked(Template::parse(source), path)
}

/// A string template (URL, query parameter, header or form value).
fn text_template(source: &str, path: &str) -> Result<Template, InvalidTransform> {
    checked(Template::parse_interpolated(source), path)
}

fn checked(
    parsed: Result<Template, kriti::Error>,
    path: &str,
) -> Result<Template, InvalidTransform> {
    let template = parsed
        .and_then(|template| template.check_functions(&HOST_FUNCTIONS).map(|()| template))
        .map_err(|error| InvalidTransform::new(path, format!("template error: {error}")))?;
    Ok(template)
}

fn parse_body(body: &Value, version: u64) -> Result<Option<BodyTransform>, InvalidTransform> {
    match body {
        Value::Null => Ok(None),
        // Version 1: the body is the template.
        Value::String(template) if version == 1 => {
            Ok(Some(BodyTransform::Json(json_template(template, "body")?)))
        }
        Value::Object(fields) => {
            let action = fields.get("action").and_then(Value::as_str);
            let allowed: &[&str] = match action {
                Some("remove") => &["action"],
                Some("transform") => &["action", "template"],
                Some("x_www_form_urlencoded") => &["action", "form_template"],
                _ => {
                    return Err(InvalidTransform::new(
                        "body.action",
                        "invalid transform action: expected remove, transform or \
                         x_www_form_urlencoded",
                    ));
                }
            };
            if let Some(extra) = fields.keys().find(|key| !allowed.contains(&key.as_str())) {
                return Err(InvalidTransform::new(
                    format!("body.{extra}"),
                    format!(
                        "unknown field `{extra}` for body action {}",
                        allowed.join(", ")
                    ),
                ));
            }
            match action {
                Some("transform") => {
                    let template =
                        fields
                            .get("template")
                            .and_then(Value::as_str)
                            .ok_or_else(|| {
                                InvalidTransform::new(
                                    "body.template",
                                    "a string template is required",
                                )
                            })?;
                    Ok(Some(BodyTransform::Json(json_template(
                        template,
                        "body.template",
                    )?)))
                }
                Some("x_www_form_urlencoded") => {
                    let form = fields
                        .get("form_template")
                        .and_then(Value::as_object)
                        .ok_or_else(|| {
                            InvalidTransform::new(
                                "body.form_template",
                                "an object of string templates is required",
                            )
                        })?;
                    let mut pairs = Vec::with_capacity(form.len());
                    for (key, value) in form {
                        let path = format!("body.form_template.{key}");
                        let source = value.as_str().ok_or_else(|| {
                            InvalidTransform::new(&path, "a string template is required")
                        })?;
                        pairs.push((key.clone(), text_template(source, &path)?));
                    }
                    Ok(Some(BodyTransform::Form(pairs)))
                }
                _ => Ok(Some(BodyTransform::Remove)),
            }
        }
        _ => Err(InvalidTransform::new(
            "body",
            if version == 1 {
                "expected a template string (version 1)"
            } else {
                "expected {action, template | form_template} (version 2)"
            },
        )),
    }
}

impl RequestTransform {
    /// Parses a `request_transform` as Hasura's metadata writes it.
    pub fn parse(value: &Value) -> Result<Self, InvalidTransform> {
        let shape: RequestShape = serde_json::from_value(value.clone())
            .map_err(|e| InvalidTransform::new("", e.to_string()))?;
        let version = check_header(shape.version.as_ref(), shape.template_engine.as_deref())?;
        let method = shape
            .method
            .map(|method| {
                Method::from_bytes(method.as_bytes()).map_err(|_| {
                    InvalidTransform::new("method", format!("'{method}' is not an HTTP method"))
                })
            })
            .transpose()?;
        let url = shape
            .url
            .map(|url| text_template(&url, "url"))
            .transpose()?;
        let query_params = match shape.query_params {
            None | Some(Value::Null) => None,
            Some(Value::String(template)) => Some(QueryParams::Template(text_template(
                &template,
                "query_params",
            )?)),
            Some(Value::Object(pairs)) => {
                let mut parsed = Vec::with_capacity(pairs.len());
                for (key, value) in pairs {
                    let path = format!("query_params.{key}");
                    let key = text_template(&key, &path)?;
                    let value = match value {
                        Value::Null => None,
                        Value::String(value) => Some(text_template(&value, &path)?),
                        _ => {
                            return Err(InvalidTransform::new(
                                path,
                                "a query parameter's value is a string template or null",
                            ));
                        }
                    };
                    parsed.push((key, value));
                }
                Some(QueryParams::Pairs(parsed))
            }
            Some(_) => {
                return Err(InvalidTransform::new(
                    "query_params",
                    "Invalid query parameter: expected an object of templates or a template \
                     string",
                ));
            }
        };
        let headers = shape.request_headers.unwrap_or(HeadersShape {
            add_headers: None,
            remove_headers: None,
        });
        let mut add_headers = Vec::new();
        for (name, value) in headers.add_headers.unwrap_or_default() {
            let path = format!("request_headers.add_headers.{name}");
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                InvalidTransform::new(&path, format!("'{name}' is not a valid header name"))
            })?;
            add_headers.push((name, text_template(&value, &path)?));
        }
        let remove_headers = headers
            .remove_headers
            .unwrap_or_default()
            .into_iter()
            .map(|name| name.to_ascii_lowercase())
            .collect();
        let body = match &shape.body {
            Some(body) => parse_body(body, version)?,
            None => None,
        };
        Ok(Self {
            method,
            url,
            query_params,
            add_headers,
            remove_headers,
            body,
        })
    }

    /// Whether the transform sends a body of its own (or none), so the original body is never
    /// sent and need not be encoded.
    pub fn replaces_body(&self) -> bool {
        self.body.is_some()
    }

    /// Applies the transform to `original`, whose body is the action payload (`$body`).
    /// Every field is computed from the original request, as in Hasura; all their errors
    /// are reported together.
    pub fn apply(
        &self,
        original: OutgoingRequest,
        payload: &Value,
        session: Session<'_>,
    ) -> Result<OutgoingRequest, TransformFailure> {
        let context = RequestContext::new(&original, payload, session);
        let bindings = |name: &str| context.get(name);
        let functions = SessionFunctions(session.variables);
        let mut errors = Vec::new();
        let mut text = |template: &Template| -> Option<String> {
            match template.render(&bindings, &functions) {
                Ok(value) => Some(kriti::to_text(&value)),
                Err(error) => {
                    errors.push(error.to_hasura_json());
                    None
                }
            }
        };

        let url = self.url.as_ref().and_then(&mut text);
        let query = match &self.query_params {
            None => None,
            Some(QueryParams::Pairs(pairs)) => {
                let mut rendered = Vec::new();
                for (key, value) in pairs {
                    let key = text(key);
                    let value = value.as_ref().map(&mut text);
                    if let Some(key) = key {
                        rendered.push((key, value));
                    }
                }
                Some(
                    rendered
                        .into_iter()
                        .filter_map(|(key, value)| match value {
                            // Hasura drops a pair whose key or value renders to "null": how an
                            // optional parameter is left out.
                            _ if key == "null" => None,
                            Some(Some(value)) if value == "null" => None,
                            Some(Some(value)) => Some((key, Some(value))),
                            Some(None) => None,
                            None => Some((key, None)),
                        })
                        .collect::<Vec<_>>(),
                )
            }
            Some(QueryParams::Template(template)) => {
                text(template).map(|query| parse_query(query.trim_start_matches('?')))
            }
        };
        let added: Vec<(String, Option<String>)> = self
            .add_headers
            .iter()
            .map(|(name, value)| (name.clone(), text(value)))
            .collect();
        let body = match &self.body {
            None => Some(original.body.clone()),
            Some(BodyTransform::Remove) => Some(Vec::new()),
            Some(BodyTransform::Json(template)) => match template.render(&bindings, &functions) {
                Ok(value) => Some(value.to_string().into_bytes()),
                Err(error) => {
                    errors.push(error.to_hasura_json());
                    None
                }
            },
            Some(BodyTransform::Form(pairs)) => {
                let rendered: Vec<(String, Option<String>)> = pairs
                    .iter()
                    .filter_map(|(key, value)| text(value).map(|value| (key.clone(), Some(value))))
                    .collect();
                Some(encode_query(&rendered).into_bytes())
            }
        };
        if !errors.is_empty() {
            return Err(TransformFailure { errors });
        }

        let mut url = match url {
            Some(url) => url::Url::parse(&url)
                .ok()
                .filter(|parsed| matches!(parsed.scheme(), "http" | "https") && parsed.has_host())
                .ok_or_else(|| {
                    TransformFailure::one("TransformationError", format!("Invalid URL: {url}"))
                })?,
            None => url::Url::parse(&original.url).map_err(|e| {
                TransformFailure::one("TransformationError", format!("Invalid URL: {e}"))
            })?,
        };
        // As in Hasura, the query is always the query parameters' result, or else the
        // handler's own: a query written into a `url` template is replaced.
        let query = query.unwrap_or_else(|| query_pairs(&original.url));
        url.set_query(None);
        if !query.is_empty() {
            url.set_query(Some(&encode_query(&query)));
        }

        let mut headers: Vec<(String, String)> = original
            .headers
            .into_iter()
            .filter(|(name, _)| !self.remove_headers.contains(&name.to_ascii_lowercase()))
            .collect();
        for (name, value) in added {
            if let Some(value) = value {
                headers.retain(|(existing, _)| !existing.eq_ignore_ascii_case(&name));
                headers.push((name, value));
            }
        }
        Ok(OutgoingRequest {
            method: self.method.clone().unwrap_or(original.method),
            url: url.to_string(),
            headers,
            body: body.unwrap_or_default(),
        })
    }

    /// The `$request` a response transform sees after this request transform made `sent`
    /// (Hasura's shape: every field holds the same request context).
    pub fn request_binding(sent: &OutgoingRequest, session: Session<'_>) -> Value {
        let body = serde_json::from_slice::<Value>(&sent.body).unwrap_or(Value::Null);
        let context = json!({
            "body": body,
            "session_variables": session.variables,
            "base_url": sent.url,
            "query_params": query_pairs_json(&sent.url),
        });
        json!({
            "method": context,
            "url": context,
            "body": context,
            "query_params": context,
            "request_headers": context,
        })
    }
}

impl ResponseTransform {
    /// Whether a template reads `$request`: building it costs a copy of the request as sent,
    /// so it is made only for transforms that use it.
    pub fn reads_request(&self) -> bool {
        match &self.body {
            Some(BodyTransform::Json(template)) => template.mentions("$request"),
            Some(BodyTransform::Form(pairs)) => pairs
                .iter()
                .any(|(_, template)| template.mentions("$request")),
            Some(BodyTransform::Remove) | None => false,
        }
    }

    /// Parses a `response_transform` as Hasura's metadata writes it.
    pub fn parse(value: &Value) -> Result<Self, InvalidTransform> {
        let shape: ResponseShape = serde_json::from_value(value.clone())
            .map_err(|e| InvalidTransform::new("", e.to_string()))?;
        let version = check_header(shape.version.as_ref(), shape.template_engine.as_deref())?;
        let body = match &shape.body {
            Some(body) => parse_body(body, version)?,
            None => None,
        };
        Ok(Self { body })
    }

    /// The new response body for a reply with `status` and `body` (raw bytes; `$body` is
    /// their JSON, or `null` when they are not JSON). `request` is the `$request` binding.
    pub fn apply(
        &self,
        status: u16,
        body: &[u8],
        request: &Value,
        session: Session<'_>,
    ) -> Result<Vec<u8>, TransformFailure> {
        let body = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
        let response = json!({"status": status});
        let bindings = |name: &str| match name {
            "$body" => Some(&body),
            "$request" => Some(request),
            "$response" => Some(&response),
            "$session_variables" => Some(session.variables),
            _ => None,
        };
        let functions = SessionFunctions(session.variables);
        let failed = |error: kriti::Error| TransformFailure {
            errors: vec![error.to_hasura_json()],
        };
        let value = match &self.body {
            None => body.clone(),
            Some(BodyTransform::Remove) => Value::Null,
            Some(BodyTransform::Json(template)) => {
                template.render(&bindings, &functions).map_err(failed)?
            }
            Some(BodyTransform::Form(pairs)) => {
                let mut rendered = Vec::with_capacity(pairs.len());
                for (key, value) in pairs {
                    let value = value.render(&bindings, &functions).map_err(failed)?;
                    rendered.push((key.clone(), Some(kriti::to_text(&value))));
                }
                Value::String(encode_query(&rendered))
            }
        };
        Ok(value.to_string().into_bytes())
    }
}

/// Hasura's `test_webhook_transform`: what `transform` makes of a `GET` of `url` with
/// `headers` and the sample `body`, without sending anything. The answer is Hasura's shape:
/// `{webhook_url, method, headers: [[name, value]], body}`, the body decoded when it is JSON.
pub fn preview(
    transform: &RequestTransform,
    url: String,
    headers: Vec<(String, String)>,
    body: &Value,
    session_variables: &Value,
) -> Result<Value, TransformFailure> {
    let original = OutgoingRequest {
        method: Method::GET,
        url,
        headers,
        body: body.to_string().into_bytes(),
    };
    let session = Session {
        variables: session_variables,
    };
    let sent = transform.apply(original, body, session)?;
    let body = if sent.body.is_empty() {
        Value::String(String::new())
    } else {
        serde_json::from_slice(&sent.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&sent.body).into_owned()))
    };
    let headers: Vec<Value> = sent
        .headers
        .iter()
        .map(|(name, value)| json!([name.to_ascii_lowercase(), value]))
        .collect();
    Ok(json!({
        "webhook_url": sent.url,
        "method": sent.method.as_str(),
        "headers": headers,
        "body": body,
    }))
}

/// The variables a request template sees.
struct RequestContext<'a> {
    body: &'a Value,
    base_url: Value,
    session_variables: &'a Value,
    query_params: Value,
}

impl<'a> RequestContext<'a> {
    fn new(original: &OutgoingRequest, payload: &'a Value, session: Session<'a>) -> Self {
        Self {
            body: payload,
            base_url: Value::String(original.url.clone()),
            session_variables: session.variables,
            query_params: query_pairs_json(&original.url),
        }
    }

    fn get(&self, name: &str) -> Option<&Value> {
        match name {
            "$body" => Some(self.body),
            "$base_url" => Some(&self.base_url),
            "$session_variables" => Some(self.session_variables),
            "$query_params" => Some(&self.query_params),
            _ => None,
        }
    }
}

/// Hasura's `getSessionVariable(name)`: case-insensitive; `null` for a `null` name.
struct SessionFunctions<'a>(&'a Value);

impl kriti::Functions for SessionFunctions<'_> {
    fn call(&self, name: &str, argument: &Value) -> Option<Result<Value, String>> {
        if name != "getSessionVariable" {
            return None;
        }
        Some(match argument {
            Value::Null => Ok(Value::Null),
            Value::String(wanted) => self
                .0
                .as_object()
                .and_then(|variables| {
                    variables
                        .iter()
                        .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
                })
                .map(|(_, value)| value.clone())
                .ok_or_else(|| format!("Session variable \"{wanted}\" not found")),
            _ => Err("Session variable name should be a string".into()),
        })
    }
}

/// The query of `url` as `(key, value)` pairs, decoded; `None` for a key without `=`.
fn query_pairs(url: &str) -> Vec<(String, Option<String>)> {
    let query = url.split_once('?').map_or("", |(_, query)| query);
    let query = query.split_once('#').map_or(query, |(query, _)| query);
    parse_query(query)
}

fn parse_query(query: &str) -> Vec<(String, Option<String>)> {
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(&text.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .split(['&', ';'])
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) => (decode(key), Some(decode(value))),
            None => (decode(pair), None),
        })
        .collect()
}

/// `$query_params`: `[[key, value-or-null], …]`.
fn query_pairs_json(url: &str) -> Value {
    Value::Array(
        query_pairs(url)
            .into_iter()
            .map(|(key, value)| json!([key, value]))
            .collect(),
    )
}

/// Every key and value percent-encoded but for the unreserved characters: a query string,
/// and the body of `x_www_form_urlencoded` (where every value is present).
fn encode_query(pairs: &[(String, Option<String>)]) -> String {
    pairs
        .iter()
        .map(|(key, value)| match value {
            Some(value) => format!("{}={}", kriti::escape_uri(key), kriti::escape_uri(value)),
            None => kriti::escape_uri(key),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn original() -> OutgoingRequest {
        OutgoingRequest {
            method: Method::POST,
            url: "http://api.test/base?keep=1&flag".into(),
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("x-team".into(), "a".into()),
            ],
            body: br#"{"action":{"name":"a"},"input":{"id":7,"tags":["x","y z"]}}"#.to_vec(),
        }
    }

    fn payload() -> Value {
        serde_json::from_slice(&original().body).expect("json")
    }

    fn session() -> Value {
        json!({"x-hasura-role": "user", "x-hasura-user-id": "42"})
    }

    fn apply(transform: Value) -> Result<OutgoingRequest, TransformFailure> {
        let transform = RequestTransform::parse(&transform).expect("valid transform");
        let variables = session();
        transform.apply(
            original(),
            &payload(),
            Session {
                variables: &variables,
            },
        )
    }

    #[test]
    fn every_field_of_a_version_2_transform() {
        let sent = apply(json!({
            "version": 2,
            "template_engine": "Kriti",
            "method": "PUT",
            "url": "http://api.test/items/{{$body.input.id}}",
            "query_params": {"user": "{{$session_variables['x-hasura-user-id']}}",
                             "skip": "{{$body.input?.nope}}", "bare": null},
            "request_headers": {"add_headers": {"x-role": "{{getSessionVariable(\"X-Hasura-Role\")}}"},
                                "remove_headers": ["X-Team"]},
            "body": {"action": "transform", "template": "{\"tags\": {{$body.input.tags}}}"}
        }))
        .expect("applies");
        assert_eq!(sent.method, Method::PUT);
        assert_eq!(sent.url, "http://api.test/items/7?bare&user=42");
        assert_eq!(
            sent.headers,
            vec![
                ("Content-Type".to_owned(), "application/json".to_owned()),
                ("x-role".to_owned(), "user".to_owned())
            ]
        );
        assert_eq!(sent.body, br#"{"tags":["x","y z"]}"#);
    }

    #[test]
    fn without_query_params_the_handlers_own_query_stays() {
        let sent =
            apply(json!({"version": 2, "url": "http://other.test/p?dropped=1"})).expect("applies");
        assert_eq!(sent.url, "http://other.test/p?keep=1&flag");
        let sent = apply(json!({"version": 2, "query_params": {}})).expect("applies");
        assert_eq!(sent.url, "http://api.test/base");
        let sent = apply(json!({"query_params": "tags={{ concat({{ range _, x := $body.input.tags }} \"{{x}},\" {{ end }}) }}"}))
            .expect("applies");
        assert_eq!(sent.url, "http://api.test/base?tags=x%2Cy%20z%2C");
    }

    #[test]
    fn version_1_body_is_a_template_and_bodies_can_be_removed_or_form_encoded() {
        let sent = apply(json!({"body": "{{ $body.input.id }}"})).expect("applies");
        assert_eq!(sent.body, b"7");
        let sent = apply(json!({"version": 2, "body": {"action": "remove"}})).expect("applies");
        assert!(sent.body.is_empty());
        let sent = apply(
            json!({"version": 2, "body": {"action": "x_www_form_urlencoded",
            "form_template": {"id": "{{$body.input.id}}", "q": "a b&c"}}}),
        )
        .expect("applies");
        assert_eq!(sent.body, b"id=7&q=a%20b%26c");
    }

    #[test]
    fn failures_at_run_time_are_collected_with_positions() {
        let failure = apply(json!({"version": 2, "url": "{{$body.input.nope}}",
            "body": {"action": "transform", "template": "{\n \"a\": {{ $body.input.id.x }}\n}"}}))
        .expect_err("fails");
        assert_eq!(failure.errors.len(), 2);
        assert_eq!(failure.errors[0]["error_code"], "Invalid Path");
        assert_eq!(failure.errors[1]["error_code"], "Type Error");
        assert_eq!(failure.errors[1]["source_position"]["start_line"], 1);
        assert!(
            failure.summary().contains("line 2"),
            "{}",
            failure.summary()
        );
        let bad_url = apply(json!({"url": "not a url {{$body.input.id}}"})).expect_err("bad url");
        assert!(
            bad_url.summary().starts_with("Invalid URL"),
            "{}",
            bad_url.summary()
        );
        let missing =
            apply(json!({"body": "{{ getSessionVariable(\"x-nope\") }}"})).expect_err("missing");
        assert!(
            missing
                .summary()
                .contains("Session variable \"x-nope\" not found")
        );
    }

    #[test]
    fn bad_transforms_are_refused_with_a_path() {
        let refused = |value: Value| RequestTransform::parse(&value).expect_err("refused");
        assert_eq!(refused(json!({"version": 3})).path, "version");
        assert_eq!(
            refused(json!({"template_engine": "Go"})).path,
            "template_engine"
        );
        assert_eq!(refused(json!({"method": "GE T"})).path, "method");
        assert_eq!(refused(json!({"url": "{{ $body. }}"})).path, "url");
        let parse = refused(
            json!({"version": 2, "body": {"action": "transform", "template": "{{ $.path }"}}),
        );
        assert_eq!(parse.path, "body.template");
        assert!(
            parse.message.contains("Unexpected token '}'"),
            "{}",
            parse.message
        );
        assert!(
            parse.message.contains("line 1, column 11"),
            "{}",
            parse.message
        );
        assert_eq!(
            refused(json!({"version": 2, "body": {"action": "send"}})).path,
            "body.action"
        );
        assert_eq!(refused(json!({"version": 2, "body": "{{1}}"})).path, "body");
        assert_eq!(refused(json!({"query_params": 3})).path, "query_params");
        assert_eq!(refused(json!({"body": "{{ nope(1) }}"})).path, "body");
        assert!(RequestTransform::parse(&json!({"content_type": "application/json"})).is_ok());
    }

    #[test]
    fn response_transforms_see_body_status_and_request() {
        let transform = ResponseTransform::parse(&json!({"version": 2, "body": {"action": "transform",
            "template": "{\"s\": {{$response.status}}, \"v\": {{$body?.v ?? 0}}, \"r\": {{$request}}}"}}))
        .expect("valid");
        let variables = session();
        let session = Session {
            variables: &variables,
        };
        let out = transform
            .apply(200, br#"{"v": 5}"#, &Value::Null, session)
            .expect("applies");
        assert_eq!(
            serde_json::from_slice::<Value>(&out).expect("json"),
            json!({"s": 200, "v": 5, "r": null})
        );
        let out = transform
            .apply(400, b"<html>", &Value::Null, session)
            .expect("applies");
        assert_eq!(serde_json::from_slice::<Value>(&out).expect("json")["v"], 0);
        let untouched = ResponseTransform::parse(&json!({"version": 2})).expect("valid");
        assert_eq!(
            untouched
                .apply(200, b"not json", &Value::Null, session)
                .expect("applies"),
            b"null"
        );
    }
}
