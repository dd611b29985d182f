//! JWT authentication, configured like Hasura's `HASURA_GRAPHQL_JWT_SECRET`: the algorithm and
//! key — a key, a JWK set file, or a `jwk_url` as hosted identity providers (Auth0, Firebase,
//! Cognito, Clerk) publish — where the token is sent (`header`), where its Hasura claims are
//! (`claims_namespace`, `claims_namespace_path`, or a `claims_map` built from any claims) and
//! in which format (`claims_format`), and optional `issuer`, `audience` and `allowed_skew`.

mod keys;

use std::collections::BTreeMap;
use std::path::PathBuf;

use actix_web::http::header::HeaderMap;
use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use serde::Deserialize;
use serde_json::Value;
use serde_json_path::JsonPath;

use self::keys::Keys;
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
    jwk_url: Option<String>,
    claims_namespace: Option<String>,
    claims_namespace_path: Option<String>,
    #[serde(default)]
    claims_format: ClaimsFormat,
    claims_map: Option<serde_json::Map<String, Value>>,
    header: Option<TokenSource>,
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

/// How the Hasura claims are written in the token.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ClaimsFormat {
    /// A JSON object.
    #[default]
    Json,
    /// A string holding a JSON object (AWS Cognito, for one, can only add strings).
    StringifiedJson,
}

/// Where a request carries its token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
enum TokenSource {
    /// `Authorization: Bearer <token>`, the default.
    Authorization,
    /// A cookie of this name.
    Cookie { name: String },
    /// A header of this name, holding the token alone.
    CustomHeader { name: String },
}

/// Where the Hasura claims come from.
enum ClaimsSource {
    /// An object (or stringified object) under this top-level claim.
    Namespace(String),
    /// An object (or stringified object) at this JSON path.
    Path(JsonPath),
    /// Each Hasura claim from a literal or from a JSON path into the whole token, with a
    /// default when the path finds nothing.
    Map(Vec<(String, Mapping)>),
}

enum Mapping {
    Literal(Value),
    Path {
        path: JsonPath,
        default: Option<Value>,
    },
}

/// Verifies tokens and turns their claims into a session.
pub struct JwtVerifier {
    keys: Keys,
    validation: Validation,
    source: TokenSource,
    claims: ClaimsSource,
    format: ClaimsFormat,
}

/// A verified token's roles and variables.
#[derive(Debug, Clone)]
pub struct Claims {
    pub allowed_roles: Vec<String>,
    pub default_role: String,
    pub variables: BTreeMap<String, String>,
    /// The token's `exp`.
    pub expires_at: Option<std::time::SystemTime>,
}

fn parse_path(text: &str, what: &str) -> Result<JsonPath, String> {
    JsonPath::parse(text)
        .map_err(|e| format!("jwt_secret: {what} `{text}` is not a JSON path: {e}"))
}

fn algorithm(name: &str) -> Result<Algorithm, String> {
    Ok(match name {
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "Ed25519" | "EdDSA" => Algorithm::EdDSA,
        other => return Err(format!("jwt_secret: unsupported type `{other}`")),
    })
}

impl JwtVerifier {
    /// Parses the `jwt_secret` setting (a JSON document); a `jwk_url` is fetched once before
    /// this returns, then kept fresh in the background.
    pub async fn from_setting(setting: &str) -> Result<Self, String> {
        let secret: JwtSecret =
            serde_json::from_str(setting).map_err(|e| format!("jwt_secret is not valid: {e}"))?;
        let key_sources = [
            secret.key.is_some(),
            secret.jwk_file.is_some(),
            secret.jwk_url.is_some(),
        ];
        if key_sources.iter().filter(|given| **given).count() != 1 {
            return Err("jwt_secret: give exactly one of `key`, `jwk_file` and `jwk_url`".into());
        }
        // Providers that publish a JWK set sign with RS256 unless told otherwise.
        let default_type = if secret.key.is_some() {
            "HS256"
        } else {
            "RS256"
        };
        let algorithm = algorithm(secret.algorithm.as_deref().unwrap_or(default_type))?;
        let keys = if let Some(key) = &secret.key {
            Keys::from_key(algorithm, key)?
        } else if let Some(path) = &secret.jwk_file {
            Keys::from_file(path)?
        } else {
            let url = secret.jwk_url.as_deref().unwrap_or_default();
            Keys::from_url(url).await?
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
        let claims = match (
            &secret.claims_map,
            &secret.claims_namespace_path,
            &secret.claims_namespace,
        ) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                return Err("jwt_secret: give at most one of `claims_map`, \
                            `claims_namespace_path` and `claims_namespace`"
                    .into());
            }
            (Some(map), None, None) => ClaimsSource::Map(
                map.iter()
                    .map(|(name, mapping)| {
                        let mapping = match mapping.get("path").and_then(Value::as_str) {
                            Some(path) => Mapping::Path {
                                path: parse_path(path, "claims_map path")?,
                                default: mapping.get("default").cloned(),
                            },
                            None => Mapping::Literal(mapping.clone()),
                        };
                        Ok((name.to_ascii_lowercase(), mapping))
                    })
                    .collect::<Result<_, String>>()?,
            ),
            (None, Some(path), None) => {
                ClaimsSource::Path(parse_path(path, "claims_namespace_path")?)
            }
            (None, None, namespace) => ClaimsSource::Namespace(
                namespace
                    .clone()
                    .unwrap_or_else(|| DEFAULT_NAMESPACE.into()),
            ),
        };
        Ok(Self {
            keys,
            validation,
            source: secret.header.unwrap_or(TokenSource::Authorization),
            claims,
            format: secret.claims_format,
        })
    }

    /// The token a request carries where the setting says, if any.
    pub fn token<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        match &self.source {
            TokenSource::Authorization => {
                let value = headers.get("authorization")?.to_str().ok()?;
                let (scheme, token) = value.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then_some(token.trim())
            }
            TokenSource::CustomHeader { name } => {
                headers.get(name.as_str())?.to_str().ok().map(str::trim)
            }
            TokenSource::Cookie { name } => headers
                .get_all("cookie")
                .filter_map(|value| value.to_str().ok())
                .flat_map(|cookies| cookies.split(';'))
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(cookie, _)| cookie == name)
                .map(|(_, token)| token),
        }
    }

    /// Verifies `token` (signature, algorithm, expiry, issuer, audience) and reads its claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let invalid = |reason: String| AuthError::InvalidJwt(reason);
        let header = decode_header(token).map_err(|e| invalid(e.to_string()))?;
        let key = self.keys.for_kid(header.kid.as_deref()).await?;
        let data =
            decode::<Value>(token, &key, &self.validation).map_err(|e| invalid(e.to_string()))?;
        let mut claims = self.hasura_claims(&data.claims)?;
        claims.expires_at = data
            .claims
            .get("exp")
            .and_then(Value::as_u64)
            .map(|seconds| std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds));
        Ok(claims)
    }

    /// The Hasura claims of a verified token's payload.
    fn hasura_claims(&self, payload: &Value) -> Result<Claims, AuthError> {
        let invalid = |reason: String| AuthError::InvalidJwt(reason);
        let found = match &self.claims {
            ClaimsSource::Namespace(namespace) => payload
                .get(namespace)
                .cloned()
                .ok_or_else(|| invalid(format!("claims namespace `{namespace}` is missing")))?,
            ClaimsSource::Path(path) => path
                .query(payload)
                .exactly_one()
                .cloned()
                .map_err(|_| invalid("claims_namespace_path finds no claims".into()))?,
            ClaimsSource::Map(mappings) => {
                let mut claims = serde_json::Map::new();
                for (name, mapping) in mappings {
                    let value = match mapping {
                        Mapping::Literal(value) => Some(value.clone()),
                        Mapping::Path { path, default } => path
                            .query(payload)
                            .exactly_one()
                            .ok()
                            .cloned()
                            .or_else(|| default.clone()),
                    };
                    if let Some(value) = value {
                        claims.insert(name.clone(), value);
                    }
                }
                // A map builds the claims itself: nothing to unwrap.
                return read_claims(&claims);
            }
        };
        let object = match (self.format, found) {
            (ClaimsFormat::Json, Value::Object(object)) => object,
            (ClaimsFormat::StringifiedJson, Value::String(text)) => {
                match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Object(object)) => object,
                    _ => {
                        return Err(invalid(
                            "the stringified claims are not a JSON object".into(),
                        ));
                    }
                }
            }
            (ClaimsFormat::Json, _) => {
                return Err(invalid("the claims are not a JSON object".into()));
            }
            (ClaimsFormat::StringifiedJson, _) => {
                return Err(invalid("the claims are not a string holding JSON".into()));
            }
        };
        read_claims(&object)
    }
}

/// Roles and session variables from Hasura claims.
fn read_claims(claims: &serde_json::Map<String, Value>) -> Result<Claims, AuthError> {
    let invalid = |reason: String| AuthError::InvalidJwt(reason);
    let get = |name: &str| {
        claims
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    };
    let allowed_roles: Vec<String> = get("x-hasura-allowed-roles")
        .and_then(Value::as_array)
        .map(|roles| {
            roles
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .ok_or_else(|| invalid("x-hasura-allowed-roles is missing".into()))?;
    let default_role = get("x-hasura-default-role")
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
        expires_at: None,
    })
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
