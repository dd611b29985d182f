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
    /// `whsec_<base64>` (the Standard Webhooks form: the key is the decoded bytes), or any
    /// other non-empty string, used as the key bytes as they are.
    pub fn parse(secret: &str) -> Result<Self, String> {
        let key = match secret.strip_prefix("whsec_") {
            Some(encoded) => STANDARD
                .decode(encoded)
                .map_err(|e| format!("a whsec_ signing secret must be base64: {e}"))?,
            None => secret.as_bytes().to_vec(),
        };
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
        assert!(SigningKey::parse("short").is_err());
        assert!(SigningKey::parse("a-long-enough-plain-secret").is_ok());
    }
}
