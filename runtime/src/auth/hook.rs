//! The auth webhook, as Hasura's `HASURA_GRAPHQL_AUTH_HOOK`: for each request without the admin
//! secret, the server asks a webhook of the operator's who the caller is — `GET` with the
//! client's headers, or `POST` with `{"headers": {...}}` — and takes the session variables from a
//! `200` answer's JSON body. `401` means the caller is not authenticated. An answer whose body
//! holds `Cache-Control: max-age=N` or `Expires` (as keys, as Hasura's spec puts them) is kept
//! for that long for the same headers, so a busy client does not cost a webhook call each time.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::http::header::HeaderMap;
use lru::LruCache;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{ADMIN_SECRET_HEADERS, AuthError};

pub use crate::config::AuthHookMode as HookMode;

/// Headers of the client's that describe its own message, not who it is.
const NOT_SENT: [&str; 5] = [
    "content-length",
    "content-type",
    "host",
    "connection",
    "transfer-encoding",
];

/// Most callers whose answers are kept.
const CACHED: usize = 10_000;

/// Kept answers, by a digest of the client's headers: the session variables, and until when.
type Answers = LruCache<[u8; 32], (BTreeMap<String, String>, Instant)>;

/// The webhook and the answers it allowed to be kept.
pub struct AuthHook {
    url: String,
    mode: HookMode,
    client: reqwest::Client,
    cache: Mutex<Answers>,
}

/// How long an answer may be kept, from its body's `Cache-Control` or `Expires`.
fn cache_time(body: &serde_json::Map<String, Value>) -> Option<Duration> {
    let get = |name: &str| {
        body.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| value.as_str())
    };
    super::freshness::cache_time(get("cache-control"), get("expires"))
}

impl AuthHook {
    /// A hook at `url`, called in `mode`.
    pub fn new(url: &str, mode: HookMode) -> Result<Self, String> {
        url::Url::parse(url).map_err(|e| format!("auth_hook `{url}` is not a URL: {e}"))?;
        let client = reqwest::Client::builder()
            .user_agent(concat!("hookwing/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the auth hook's HTTP client: {e}"))?;
        Ok(Self {
            url: url.to_owned(),
            mode,
            client,
            cache: Mutex::new(LruCache::new(
                NonZeroUsize::new(CACHED).expect("a positive size"),
            )),
        })
    }

    /// The session variables the webhook gives the caller with `headers`.
    pub async fn session_variables(
        &self,
        headers: &HeaderMap,
    ) -> Result<BTreeMap<String, String>, AuthError> {
        let mut sent: Vec<(String, String)> = headers
            .iter()
            .filter(|(name, _)| {
                !NOT_SENT.contains(&name.as_str()) && !ADMIN_SECRET_HEADERS.contains(&name.as_str())
            })
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
            .collect();
        // The header map's order is not the request's (it is a hash map): sort, so the same
        // headers always make the same cache key.
        sent.sort();
        let key: [u8; 32] = {
            let mut digest = Sha256::new();
            for (name, value) in &sent {
                digest.update(name.as_bytes());
                digest.update([0]);
                digest.update(value.as_bytes());
                digest.update([0]);
            }
            digest.finalize().into()
        };
        if let Some((variables, until)) = self.cache_lock().get(&key)
            && *until > Instant::now()
        {
            return Ok(variables.clone());
        }
        let request = match self.mode {
            HookMode::Get => {
                let mut request = self.client.get(&self.url);
                for (name, value) in &sent {
                    request = request.header(name, value);
                }
                request
            }
            HookMode::Post => {
                let headers: serde_json::Map<String, Value> = sent
                    .iter()
                    .map(|(name, value)| (name.clone(), Value::String(value.clone())))
                    .collect();
                self.client
                    .post(&self.url)
                    .json(&serde_json::json!({"headers": headers}))
            }
        };
        let failed = |reason: String| {
            tracing::warn!(%reason, "the auth hook failed");
            AuthError::HookFailed
        };
        let response = request.send().await.map_err(|e| failed(e.to_string()))?;
        match response.status().as_u16() {
            200 => {}
            401 => return Err(AuthError::HookUnauthorized),
            other => return Err(failed(format!("the auth hook answered {other}"))),
        }
        let body: serde_json::Map<String, Value> =
            response.json().await.map_err(|e| failed(e.to_string()))?;
        let variables: BTreeMap<String, String> = body
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value))
            .filter(|(name, _)| name.starts_with("x-hasura-"))
            .map(|(name, value)| {
                let text = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned);
                (name, text)
            })
            .collect();
        if !variables.contains_key("x-hasura-role") {
            return Err(failed("the auth hook's answer has no X-Hasura-Role".into()));
        }
        if let Some(keep) = cache_time(&body) {
            self.cache_lock()
                .put(key, (variables.clone(), Instant::now() + keep));
        }
        Ok(variables)
    }

    fn cache_lock(&self) -> std::sync::MutexGuard<'_, Answers> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::cache_time;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn answers_are_kept_for_their_max_age_or_until_they_expire() {
        let body = |value: serde_json::Value| value.as_object().cloned().expect("object");
        assert_eq!(
            cache_time(&body(json!({"Cache-Control": "max-age=600"}))),
            Some(Duration::from_secs(600))
        );
        let later = (chrono::Utc::now() + chrono::Duration::seconds(60)).to_rfc2822();
        let kept = cache_time(&body(json!({"Expires": later}))).expect("expires");
        assert!(kept <= Duration::from_secs(60) && kept > Duration::from_secs(50));
        assert_eq!(cache_time(&body(json!({"X-Hasura-Role": "user"}))), None);
    }
}
