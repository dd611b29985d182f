//! The keys tokens are verified with: one key, a JWK set from a file, or a JWK set fetched from
//! a `jwk_url` — cached for as long as the response's `Cache-Control: max-age` (or `Expires`)
//! says, refreshed in the background when that runs out, and fetched again at once (at most
//! once a second) when a token names a key id the set does not have: providers rotate keys, and
//! a new key must work before the old set's cache time has passed.

use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};
use reqwest::header::{CACHE_CONTROL, EXPIRES, HeaderMap};

use super::super::AuthError;

/// Keys by key id (`None`: the JWK has no `kid`).
type KeySet = Vec<(Option<String>, DecodingKey)>;

/// Where verification keys come from.
pub(super) enum Keys {
    One(DecodingKey),
    Set(KeySet),
    Remote(Arc<Remote>),
}

/// A JWK set behind a URL.
pub(super) struct Remote {
    url: String,
    client: reqwest::Client,
    set: ArcSwap<KeySet>,
    /// When the set was last fetched; held while fetching, so one fetch runs at a time.
    fetched: tokio::sync::Mutex<Instant>,
}

/// A failed fetch is tried again this soon, whatever the cache headers said.
const RETRY: Duration = Duration::from_secs(30);
/// An unknown key id makes a fetch at most this often, so tokens with made-up key ids cannot
/// make the server hammer the provider.
const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(1);

fn set_from(text: &str, what: &str) -> Result<KeySet, String> {
    let set: JwkSet = serde_json::from_str(text)
        .map_err(|e| format!("jwt_secret: {what} is not a JWK set: {e}"))?;
    let keys = set
        .keys
        .iter()
        .map(|jwk| Ok((jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk)?)))
        .collect::<Result<KeySet, jsonwebtoken::errors::Error>>()
        .map_err(|e| format!("jwt_secret: unusable key in {what}: {e}"))?;
    if keys.is_empty() {
        return Err(format!("jwt_secret: {what} has no keys"));
    }
    Ok(keys)
}

/// How long a response may be cached: `Cache-Control: max-age`, else `Expires`, else not at
/// all (the set is then fetched again only for an unknown key id).
fn cache_time(headers: &HeaderMap) -> Option<Duration> {
    let header = |name| headers.get(name).and_then(|value| value.to_str().ok());
    crate::auth::freshness::cache_time(header(CACHE_CONTROL), header(EXPIRES))
}

impl Keys {
    /// One key: an HMAC secret, or a PEM public key of the algorithm's kind.
    pub(super) fn from_key(algorithm: Algorithm, key: &str) -> Result<Self, String> {
        let pem = key.as_bytes();
        let decoded = match algorithm {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                if key.len() < 32 {
                    return Err("jwt_secret: an HMAC key must be at least 32 characters".into());
                }
                Ok(DecodingKey::from_secret(pem))
            }
            Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(pem),
            Algorithm::EdDSA => DecodingKey::from_ed_pem(pem),
            _ => DecodingKey::from_rsa_pem(pem),
        };
        decoded
            .map(Self::One)
            .map_err(|e| format!("jwt_secret: `key` is not a {algorithm:?} public key in PEM: {e}"))
    }

    /// A JWK set read from a file once.
    pub(super) fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("jwt_secret: cannot read {}: {e}", path.display()))?;
        set_from(&text, &path.display().to_string()).map(Self::Set)
    }

    /// A JWK set fetched from `url` now, and kept fresh until the keys are dropped.
    pub(super) async fn from_url(url: &str) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("hookwing/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("jwt_secret: cannot build an HTTP client: {e}"))?;
        let remote = Arc::new(Remote {
            url: url.to_owned(),
            client,
            set: ArcSwap::from_pointee(Vec::new()),
            fetched: tokio::sync::Mutex::new(Instant::now()),
        });
        let cache = remote.fetch().await?;
        tokio::spawn(refresh(Arc::downgrade(&remote), cache));
        Ok(Self::Remote(remote))
    }

    /// The key for a token with key id `kid`.
    pub(super) async fn for_kid(&self, kid: Option<&str>) -> Result<DecodingKey, AuthError> {
        let pick = |set: &KeySet| {
            set.iter()
                .find(|(id, _)| kid.is_none() || id.as_deref() == kid)
                .map(|(_, key)| key.clone())
        };
        let unknown =
            || AuthError::InvalidJwt("no key in the JWK set matches the token's kid".into());
        match self {
            Self::One(key) => Ok(key.clone()),
            Self::Set(set) => pick(set).ok_or_else(unknown),
            Self::Remote(remote) => {
                if let Some(key) = pick(&remote.set.load()) {
                    return Ok(key);
                }
                remote.refetch_for_unknown_kid().await;
                pick(&remote.set.load()).ok_or_else(unknown)
            }
        }
    }
}

impl Remote {
    /// Fetches the set and swaps it in; how long it may be cached.
    async fn fetch(&self) -> Result<Option<Duration>, String> {
        let failed =
            |e: String| format!("jwt_secret: cannot fetch the JWK set at {}: {e}", self.url);
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        if !response.status().is_success() {
            return Err(failed(format!("status {}", response.status())));
        }
        let cache = cache_time(response.headers());
        let text = response.text().await.map_err(|e| failed(e.to_string()))?;
        let set = set_from(&text, &self.url)?;
        self.set.store(Arc::new(set));
        Ok(cache)
    }

    /// A token named a key id the set lacks: fetch again, unless a fetch just happened.
    async fn refetch_for_unknown_kid(&self) {
        let mut fetched = self.fetched.lock().await;
        if fetched.elapsed() < REFETCH_AT_MOST_EVERY {
            return;
        }
        if let Err(error) = self.fetch().await {
            tracing::warn!(%error, "cannot refresh the JWK set for an unknown key id");
        }
        *fetched = Instant::now();
    }
}

/// Fetches the set again whenever its cache time runs out, until the keys are dropped.
async fn refresh(remote: Weak<Remote>, mut cache: Option<Duration>) {
    loop {
        let Some(wait) = cache else {
            return;
        };
        tokio::time::sleep(wait.max(REFETCH_AT_MOST_EVERY)).await;
        let Some(remote) = remote.upgrade() else {
            return;
        };
        let mut fetched = remote.fetched.lock().await;
        cache = match remote.fetch().await {
            Ok(next) => next,
            Err(error) => {
                tracing::warn!(%error, "cannot refresh the JWK set; keeping the keys it had");
                Some(RETRY)
            }
        };
        *fetched = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_time_follows_max_age_then_expires() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CACHE_CONTROL,
            "public, max-age=3600, must-revalidate".parse().expect("v"),
        );
        assert_eq!(cache_time(&headers), Some(Duration::from_secs(3600)));
        let mut headers = HeaderMap::new();
        let later = (chrono::Utc::now() + chrono::Duration::seconds(120)).to_rfc2822();
        headers.insert(EXPIRES, later.parse().expect("v"));
        let time = cache_time(&headers).expect("expires");
        assert!(time <= Duration::from_secs(120) && time > Duration::from_secs(100));
        assert_eq!(cache_time(&HeaderMap::new()), None);
    }
}
