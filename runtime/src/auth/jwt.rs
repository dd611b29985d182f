//! JWT authentication, configured like Hasura's `HASURA_GRAPHQL_JWT_SECRET`: a JSON document
//! naming the algorithm and key (or a JWK set file), the claims namespace and optional issuer
//! and audience. Claims carry the allowed roles, the default role and session variables.

use std::collections::BTreeMap;
use std::path::PathBuf;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use serde_json::Value;

use super::AuthError;

/// Hasura's default claims namespace, so existing tokens work unchanged.
pub const DEFAULT_NAMESPACE: &str = "https://hasura.io/jwt/claims";

/// The `jwt_secret` setting.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JwtSecret {
    #[serde(rename = "type")]
    algorithm: Option<String>,
    key: Option<String>,
    jwk_file: Option<PathBuf>,
    claims_namespace: Option<String>,
    issuer: Option<String>,
    audience: Option<Audience>,
    /// Seconds of clock skew tolerated on `exp`/`nbf` (default 0).
    allowed_skew: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// Verifies tokens and turns their claims into a session.
pub struct JwtVerifier {
    keys: Keys,
    validation: Validation,
    namespace: String,
}

enum Keys {
    One(DecodingKey),
    /// From a JWK set, by key id.
    Set(Vec<(Option<String>, DecodingKey)>),
}

/// A verified token's roles and variables.
#[derive(Debug, Clone)]
pub struct Claims {
    pub allowed_roles: Vec<String>,
    pub default_role: String,
    pub variables: BTreeMap<String, String>,
}

impl JwtVerifier {
    /// Parses the `jwt_secret` setting (a JSON document).
    pub fn from_setting(setting: &str) -> Result<Self, String> {
        let secret: JwtSecret =
            serde_json::from_str(setting).map_err(|e| format!("jwt_secret is not valid: {e}"))?;
        let algorithm = match secret.algorithm.as_deref().unwrap_or("HS256") {
            "HS256" => Algorithm::HS256,
            "HS384" => Algorithm::HS384,
            "HS512" => Algorithm::HS512,
            "RS256" => Algorithm::RS256,
            "RS384" => Algorithm::RS384,
            "RS512" => Algorithm::RS512,
            other => return Err(format!("jwt_secret: unsupported type `{other}`")),
        };
        let hmac = matches!(
            algorithm,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        );
        let keys = match (&secret.key, &secret.jwk_file) {
            (Some(_), Some(_)) => {
                return Err("jwt_secret: give `key` or `jwk_file`, not both".into());
            }
            (None, None) => return Err("jwt_secret: `key` or `jwk_file` is required".into()),
            (Some(key), None) if hmac => {
                if key.len() < 32 {
                    return Err("jwt_secret: an HMAC key must be at least 32 characters".into());
                }
                Keys::One(DecodingKey::from_secret(key.as_bytes()))
            }
            (Some(pem), None) => {
                Keys::One(DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| {
                    format!("jwt_secret: `key` is not an RSA public key in PEM: {e}")
                })?)
            }
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("jwt_secret: cannot read {}: {e}", path.display()))?;
                let set: JwkSet = serde_json::from_str(&text)
                    .map_err(|e| format!("jwt_secret: {} is not a JWK set: {e}", path.display()))?;
                let keys = set
                    .keys
                    .iter()
                    .map(|jwk| Ok((jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk)?)))
                    .collect::<Result<Vec<_>, jsonwebtoken::errors::Error>>()
                    .map_err(|e| format!("jwt_secret: unusable key in {}: {e}", path.display()))?;
                if keys.is_empty() {
                    return Err(format!("jwt_secret: {} has no keys", path.display()));
                }
                Keys::Set(keys)
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = secret.allowed_skew.unwrap_or(0);
        validation.validate_nbf = true;
        if let Some(issuer) = &secret.issuer {
            validation.set_issuer(&[issuer]);
        }
        match &secret.audience {
            Some(Audience::One(one)) => validation.set_audience(&[one]),
            Some(Audience::Many(many)) => validation.set_audience(many),
            None => validation.validate_aud = false,
        }
        // A configured issuer or audience is required, not merely checked when present: a
        // token without the claim is refused.
        let mut required = vec!["exp"];
        if secret.issuer.is_some() {
            required.push("iss");
        }
        if secret.audience.is_some() {
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        Ok(Self {
            keys,
            validation,
            namespace: secret
                .claims_namespace
                .unwrap_or_else(|| DEFAULT_NAMESPACE.into()),
        })
    }

    /// Verifies `token` (signature, algorithm, expiry, issuer, audience) and reads its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let invalid = |reason: String| AuthError::InvalidJwt(reason);
        let key = match &self.keys {
            Keys::One(key) => key,
            Keys::Set(keys) => {
                let header = decode_header(token).map_err(|e| invalid(e.to_string()))?;
                keys.iter()
                    .find(|(kid, _)| header.kid.is_none() || *kid == header.kid)
                    .map(|(_, key)| key)
                    .ok_or_else(|| {
                        invalid("no key in the JWK set matches the token's kid".into())
                    })?
            }
        };
        let data =
            decode::<Value>(token, key, &self.validation).map_err(|e| invalid(e.to_string()))?;
        let claims = data
            .claims
            .get(&self.namespace)
            .and_then(Value::as_object)
            .ok_or_else(|| invalid(format!("claims namespace `{}` is missing", self.namespace)))?;
        let allowed_roles: Vec<String> = claims
            .get("x-hasura-allowed-roles")
            .and_then(Value::as_array)
            .map(|roles| {
                roles
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .ok_or_else(|| invalid("x-hasura-allowed-roles is missing".into()))?;
        let default_role = claims
            .get("x-hasura-default-role")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("x-hasura-default-role is missing".into()))?
            .to_owned();
        if !allowed_roles.contains(&default_role) {
            return Err(invalid(
                "x-hasura-default-role is not in x-hasura-allowed-roles".into(),
            ));
        }
        let variables = claims
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value))
            .filter(|(name, _)| name.starts_with("x-hasura-"))
            .filter(|(name, _)| name != "x-hasura-allowed-roles" && name != "x-hasura-default-role")
            .map(|(name, value)| (name, session_value(value)))
            .collect();
        Ok(Claims {
            allowed_roles,
            default_role,
            variables,
        })
    }
}

/// Session variables are strings; arrays become Postgres array literals, as in Hasura.
fn session_value(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(session_value).collect();
            format!("{{{}}}", items.join(","))
        }
        other => other.to_string(),
    }
}
