//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>): `webhook-signature:
//! v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`, so receivers can use
//! any Standard Webhooks library to verify a request came from this server, unaltered and
//! recently.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A signing secret's key bytes.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// `whsec_<base64>`, or the base64 alone: the key is the decoded bytes, exactly as every
    /// Standard Webhooks library reads a secret, so a receiver configured with the same
    /// string verifies what this server signs. Anything else is refused, since those
    /// libraries could not be configured with it.
    pub fn parse(secret: &str) -> Result<Self, String> {
        let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
        let key = STANDARD.decode(encoded).map_err(|_| {
            "a signing secret is `whsec_<base64>` (or the base64 alone), as Standard Webhooks \
             libraries read it; for a plain-text secret give `whsec_` and its base64"
                .to_owned()
        })?;
        if key.len() < 16 {
            return Err("a signing secret must be at least 16 bytes".into());
        }
        Ok(Self(key))
    }

    /// The `webhook-signature` header value for one request.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed independently with the reference Python library (`standardwebhooks`).
    #[test]
    fn matches_the_specifications_example() {
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("key");
        let body = br#"{"type":"user.created","timestamp":"2022-11-03T20:26:10.344522Z","data":{"id":"1234","name":"John Doe"}}"#;
        assert_eq!(
            key.sign("msg_loFOjxBNrRLzqYUf", 1_674_087_231, body),
            "v1,Hq3iPbIay8WX+Sbm6Abkhwzycfh0o+bsFxsYqm21/Ys="
        );
    }

    #[test]
    fn short_or_malformed_secrets_are_refused() {
        assert!(SigningKey::parse("whsec_!!!").is_err());
        assert!(SigningKey::parse("whsec_c2hvcnQ=").is_err(), "5 bytes");
        // Plain text is not what the Standard Webhooks libraries read: refused, with advice.
        let plain = SigningKey::parse("a-long-enough-plain-secret").expect_err("plain");
        assert!(plain.contains("whsec_"), "{plain}");
        // The base64 without its prefix is the same key, as the libraries read it.
        let bare = SigningKey::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("bare");
        let prefixed = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("key");
        assert_eq!(bare.sign("i", 1, b"b"), prefixed.sign("i", 1, b"b"));
    }
}
