//! Operator commands that talk to a running server's admin API (`hookwing handlers …`): uploads
//! must be validated and activated by the server that runs them.

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

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(Vec<u8>, Option<String>)>,
    ) -> Result<Value, RemoteError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.client.request(method, &url);
        if let Some(secret) = &self.admin_secret {
            request = request.header("x-hookwing-admin-secret", secret);
        }
        if let Some((bytes, config)) = body {
            request = request
                .header("content-type", "application/wasm")
                .body(bytes);
            if let Some(config) = config {
                request = request.header(CONFIG_HEADER, config);
            }
        }
        let response = request
            .send()
            .await
            .map_err(|source| RemoteError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(body)
        } else {
            let message = body["error"]
                .as_str()
                .map_or_else(|| body.to_string(), str::to_owned);
            Err(RemoteError::Refused { status, message })
        }
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
            Some((bytes, config)),
        )
        .await
    }

    /// Lists the uploaded handlers.
    pub async fn list_handlers(&self) -> Result<Value, RemoteError> {
        self.send(Method::GET, "/v1/handlers", None).await
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
