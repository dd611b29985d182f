//! Operator commands that talk to a running server's admin API (`hookwing handlers …`,
//! `hookwing events …`): uploads must be validated and activated by the server that runs them,
//! and replays run there.

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::api::handlers::CONFIG_HEADER;

/// Why a remote command failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid handler config: {source}")]
    Config {
        path: String,
        source: serde_json::Error,
    },
    #[error("cannot reach the server at {url}: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("the server refused ({status}): {message}")]
    Refused { status: StatusCode, message: String },
    #[error("the server's reply was cut short: {0}")]
    Truncated(String),
}

/// What `hookwing events replay` asks of each event.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReplayRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_attempt: Option<i32>,
    pub record: bool,
}

/// A request body.
enum Body {
    /// A component, with its JSON config for the config header.
    Wasm(Vec<u8>, Option<String>),
    Json(Value),
}

/// A running server's admin API.
pub struct AdminClient {
    base: String,
    admin_secret: Option<String>,
    client: reqwest::Client,
}

impl AdminClient {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: &str, admin_secret: Option<String>) -> Self {
        crate::install_crypto_provider();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            admin_secret,
            client: reqwest::Client::new(),
        }
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Body>,
    ) -> Result<reqwest::Response, RemoteError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.client.request(method, &url);
        if let Some(secret) = &self.admin_secret {
            request = request.header("x-hookwing-admin-secret", secret);
        }
        match body {
            Some(Body::Wasm(bytes, config)) => {
                request = request
                    .header("content-type", "application/wasm")
                    .body(bytes);
                if let Some(config) = config {
                    request = request.header(CONFIG_HEADER, config);
                }
            }
            Some(Body::Json(value)) => request = request.json(&value),
            None => {}
        }
        let response = request
            .send()
            .await
            .map_err(|source| RemoteError::Unreachable { url, source })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let message = body["error"]
            .as_str()
            .map_or_else(|| body.to_string(), str::to_owned);
        Err(RemoteError::Refused { status, message })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Body>,
    ) -> Result<Value, RemoteError> {
        let response = self.request(method, path, body).await?;
        Ok(response.json().await.unwrap_or(Value::Null))
    }

    /// Uploads `wasm` as handler `name`, with the JSON config in `config` if given.
    pub async fn upload_handler(
        &self,
        name: &str,
        wasm: &Path,
        config: Option<&Path>,
    ) -> Result<Value, RemoteError> {
        let bytes = std::fs::read(wasm).map_err(|source| RemoteError::Read {
            path: wasm.display().to_string(),
            source,
        })?;
        let config = match config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| RemoteError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                // Parsed here so a typo is reported against the file, and sent on one line.
                let value: Value =
                    serde_json::from_str(&text).map_err(|source| RemoteError::Config {
                        path: path.display().to_string(),
                        source,
                    })?;
                Some(ascii_json(&value))
            }
            None => None,
        };
        self.send(
            Method::PUT,
            &format!("/v1/handlers/{name}"),
            Some(Body::Wasm(bytes, config)),
        )
        .await
    }

    /// Lists the uploaded handlers.
    pub async fn list_handlers(&self) -> Result<Value, RemoteError> {
        self.send(Method::GET, "/v1/handlers", None).await
    }

    /// Handler `name`: its versions and the actions that use it.
    pub async fn handler(&self, name: &str) -> Result<Value, RemoteError> {
        self.send(Method::GET, &format!("/v1/handlers/{name}"), None)
            .await
    }

    /// Makes the stored version of `name` whose sha256 starts with `sha256` the active one.
    pub async fn activate_handler(&self, name: &str, sha256: &str) -> Result<Value, RemoteError> {
        self.send(
            Method::POST,
            &format!("/v1/handlers/{name}/versions/{sha256}/activate"),
            None,
        )
        .await
    }

    /// Replays event `id` once, as `options` say; the server's answer, with the diff.
    pub async fn replay_event(
        &self,
        id: uuid::Uuid,
        options: &ReplayRequest,
    ) -> Result<Value, RemoteError> {
        let body = serde_json::to_value(options).unwrap_or_default();
        self.send(
            Method::POST,
            &format!("/v1/events/{id}/replay"),
            Some(Body::Json(body)),
        )
        .await
    }

    /// Replays the events `selection` picks (its unset parts left out), calling `each` with
    /// every line as the server sends it; returns the summary line.
    pub async fn replay_events(
        &self,
        selection: &[(&str, Option<String>)],
        options: &ReplayRequest,
        mut each: impl FnMut(&Value),
    ) -> Result<Value, RemoteError> {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(
                selection
                    .iter()
                    .filter_map(|(key, value)| value.as_deref().map(|value| (*key, value))),
            )
            .finish();
        let body = serde_json::to_value(options).unwrap_or_default();
        let mut response = self
            .request(
                Method::POST,
                &format!("/v1/events/replay?{query}"),
                Some(Body::Json(body)),
            )
            .await?;
        let mut pending = Vec::new();
        loop {
            let chunk = response
                .chunk()
                .await
                .map_err(|error| RemoteError::Truncated(error.to_string()))?;
            let Some(chunk) = chunk else {
                return Err(RemoteError::Truncated("no summary line".into()));
            };
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let value: Value = serde_json::from_slice(&line)
                    .map_err(|error| RemoteError::Truncated(error.to_string()))?;
                if value["done"] == true {
                    return Ok(value);
                }
                each(&value);
            }
        }
    }

    /// Deletes handler `name` (refused while an action uses it).
    pub async fn delete_handler(&self, name: &str) -> Result<Value, RemoteError> {
        self.send(Method::DELETE, &format!("/v1/handlers/{name}"), None)
            .await
    }
}

/// `value` as JSON text with every non-ASCII character written as a `\\u` escape: the config
/// travels in a header, where only visible ASCII is safe, and any UTF-8 value survives.
pub fn ascii_json(value: &Value) -> String {
    let mut text = String::new();
    for c in value.to_string().chars() {
        if c.is_ascii() {
            text.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                text.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn any_utf8_config_is_sent_as_ascii_and_reads_back_the_same() {
        let config = json!({"config": {"greeting": "héllo… 🍣", "key": "a\"b"}});
        let text = ascii_json(&config);
        assert!(text.is_ascii(), "{text}");
        let back: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(back, config);
    }
}
