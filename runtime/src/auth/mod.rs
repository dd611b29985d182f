//! Who is calling: the admin (admin secret, or anyone in dev mode), a JWT holder acting as one
//! of its allowed roles, or the unauthorized role — with the session variables handlers get.

mod freshness;
mod hook;
mod jwt;

use std::collections::BTreeMap;

use actix_web::http::header::HeaderMap;
use serde_json::Value;

pub use hook::{AuthHook, HookMode};
pub use jwt::{Claims, JwtVerifier};

/// Header carrying the admin secret; `x-hasura-admin-secret` is accepted for compatibility.
pub const ADMIN_SECRET_HEADERS: [&str; 2] = ["x-hookwing-admin-secret", "x-hasura-admin-secret"];

/// The caller's identity for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Whether the caller holds admin rights (and sees internal error details).
    pub is_admin: bool,
    /// Session variables, lower-cased names, `x-hasura-role` included.
    pub variables: BTreeMap<String, String>,
    /// When the credential behind the session stops being valid (a JWT's `exp`): an open
    /// WebSocket is closed then, as Hasura closes it.
    pub expires_at: Option<std::time::SystemTime>,
}

impl Session {
    /// The session an event was stored with, for deliveries made after the request is gone.
    pub fn from_stored(variables: &Value) -> Self {
        let variables = variables
            .as_object()
            .map(|vars| {
                vars.iter()
                    .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            is_admin: false,
            variables,
            expires_at: None,
        }
    }

    /// Whether the caller may see internal error details (handler URLs, transport and database
    /// errors): an admin acting as admin. An admin acting as another role (`x-hasura-role`)
    /// sees exactly what that role sees. Every path that shows an error asks this.
    pub fn sees_internal(&self) -> bool {
        self.is_admin && self.role() == "admin"
    }

    /// The role the caller acts as.
    pub fn role(&self) -> &str {
        self.variables
            .get("x-hasura-role")
            .map_or("admin", String::as_str)
    }

    /// The session variables as the JSON object handlers receive.
    pub fn variables_json(&self) -> Value {
        Value::Object(
            self.variables
                .iter()
                .map(|(name, value)| (name.clone(), Value::String(value.clone())))
                .collect(),
        )
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("invalid admin secret")]
    InvalidAdminSecret,
    #[error("x-hasura-admin-secret or an Authorization: Bearer token is required")]
    MissingCredentials,
    #[error("invalid JWT: {0}")]
    InvalidJwt(String),
    #[error("your requested role `{0}` is not in allowed roles")]
    RoleNotAllowed(String),
    #[error("the auth webhook did not authenticate the request")]
    HookUnauthorized,
    #[error("the auth webhook could not be asked who is calling")]
    HookFailed,
}

impl AuthError {
    /// The stable error code, as in Hasura.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidJwt(_) => "invalid-jwt",
            Self::InvalidAdminSecret
            | Self::MissingCredentials
            | Self::RoleNotAllowed(_)
            | Self::HookUnauthorized => "access-denied",
            Self::HookFailed => "unexpected",
        }
    }

    /// 401 when the caller is not known, 403 when a known caller asks for too much.
    pub fn status(&self) -> actix_web::http::StatusCode {
        match self {
            Self::RoleNotAllowed(_) => actix_web::http::StatusCode::FORBIDDEN,
            Self::HookFailed => actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            _ => actix_web::http::StatusCode::UNAUTHORIZED,
        }
    }
}

/// Why the auth settings are unusable.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AuthConfigError(String);

/// Decides who is calling, from the admin secret, a JWT, or the unauthorized role.
pub struct Authenticator {
    /// Empty means dev mode.
    admin_secrets: Vec<String>,
    /// Every configured JWT setting: a token is accepted if one of them verifies it.
    jwt: Vec<JwtVerifier>,
    hook: Option<AuthHook>,
    unauthorized_role: Option<String>,
}

impl Authenticator {
    /// From the server's settings.
    pub async fn new(
        admin_secrets: Vec<String>,
        jwt_secrets: &[String],
        hook: Option<(&str, HookMode)>,
        unauthorized_role: Option<String>,
    ) -> Result<Self, AuthConfigError> {
        if !jwt_secrets.is_empty() && hook.is_some() {
            return Err(AuthConfigError(
                "jwt_secret and auth_hook are exclusive, as in Hasura: choose one".into(),
            ));
        }
        if admin_secrets.is_empty() && hook.is_some() {
            return Err(AuthConfigError(
                "auth_hook needs an admin_secret (without one, every caller is admin)".into(),
            ));
        }
        if admin_secrets.is_empty() && (!jwt_secrets.is_empty() || unauthorized_role.is_some()) {
            return Err(AuthConfigError(
                "jwt_secret and unauthorized_role need an admin_secret (without one, \
                 every caller is admin)"
                    .into(),
            ));
        }
        let mut jwt = Vec::with_capacity(jwt_secrets.len());
        for setting in jwt_secrets {
            jwt.push(
                JwtVerifier::from_setting(setting)
                    .await
                    .map_err(AuthConfigError)?,
            );
        }
        let hook = hook
            .map(|(url, mode)| AuthHook::new(url, mode))
            .transpose()
            .map_err(AuthConfigError)?;
        Ok(Self {
            admin_secrets,
            jwt,
            hook,
            unauthorized_role,
        })
    }

    /// Authenticates one request, as Hasura does:
    /// - dev mode, or a valid admin secret: admin, with session variables from `x-hasura-*`
    ///   headers (so an admin can act as any role);
    /// - a bearer JWT: the token's variables, and `x-hasura-role` picked among its allowed
    ///   roles (other `x-hasura-*` headers are ignored: the token is the authority);
    /// - otherwise the unauthorized role, if one is configured.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Session, AuthError> {
        let presented = ADMIN_SECRET_HEADERS
            .iter()
            .find_map(|name| headers.get(*name));
        if self.admin_secrets.is_empty() {
            return Ok(admin_session(headers));
        }
        if let Some(presented) = presented {
            // Every secret is compared, so the time taken says nothing about which matched.
            let matched = self.admin_secrets.iter().fold(false, |matched, secret| {
                constant_time_eq(secret.as_bytes(), presented.as_bytes()) | matched
            });
            return if matched {
                Ok(admin_session(headers))
            } else {
                Err(AuthError::InvalidAdminSecret)
            };
        }
        let requested_role = headers.get("x-hasura-role").and_then(|v| v.to_str().ok());
        if let Some(hook) = &self.hook {
            return match hook.session_variables(headers).await {
                Ok(variables) => Ok(Session {
                    is_admin: false,
                    variables,
                    expires_at: None,
                }),
                Err(AuthError::HookUnauthorized) => match &self.unauthorized_role {
                    Some(role) => Ok(Session {
                        is_admin: false,
                        variables: BTreeMap::from([("x-hasura-role".to_owned(), role.clone())]),
                        expires_at: None,
                    }),
                    None => Err(AuthError::HookUnauthorized),
                },
                Err(error) => Err(error),
            };
        }
        // With several JWT settings (Hasura's `JWT_SECRETS`), the first that finds a token
        // where it looks and verifies it decides; if none does, the last one's reason is given.
        let mut refusal = None;
        for jwt in &self.jwt {
            let Some(token) = jwt.token(headers) else {
                continue;
            };
            let claims = match jwt.verify(token).await {
                Ok(claims) => claims,
                Err(error) => {
                    refusal = Some(error);
                    continue;
                }
            };
            let role = requested_role.unwrap_or(&claims.default_role);
            if !claims.allowed_roles.iter().any(|allowed| allowed == role) {
                return Err(AuthError::RoleNotAllowed(role.to_owned()));
            }
            let mut variables = claims.variables;
            variables.insert("x-hasura-role".into(), role.to_owned());
            return Ok(Session {
                is_admin: false,
                variables,
                expires_at: claims.expires_at,
            });
        }
        if let Some(error) = refusal {
            return Err(error);
        }
        match &self.unauthorized_role {
            Some(role) => Ok(Session {
                is_admin: false,
                variables: BTreeMap::from([("x-hasura-role".to_owned(), role.clone())]),
                expires_at: None,
            }),
            None => Err(AuthError::MissingCredentials),
        }
    }

    /// Whether the request carries admin rights (for the admin APIs).
    pub async fn is_admin(&self, headers: &HeaderMap) -> Result<bool, AuthError> {
        self.authenticate(headers)
            .await
            .map(|session| session.is_admin)
    }
}

fn admin_session(headers: &HeaderMap) -> Session {
    let mut variables = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-hasura-"))
        .filter(|(name, _)| !ADMIN_SECRET_HEADERS.contains(&name.as_str()))
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect::<BTreeMap<_, _>>();
    variables
        .entry("x-hasura-role".into())
        .or_insert_with(|| "admin".into());
    Session {
        is_admin: true,
        variables,
        expires_at: None,
    }
}

/// What stored request headers hold in place of a secret.
pub const REDACTED: &str = "<redacted>";

/// The request headers a webhook may have forwarded to it, captured once per request.
#[derive(Debug, Clone, Default)]
pub struct ClientHeaders(Vec<(String, String)>);

impl ClientHeaders {
    /// Captures the headers that are valid text.
    pub fn capture(headers: &HeaderMap) -> Self {
        Self(
            headers
                .iter()
                .filter_map(|(name, value)| {
                    Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
                })
                .collect(),
        )
    }

    /// Headers as stored with an event (`action_log.request_headers`), for deliveries made
    /// after the request is gone; redacted secrets are left out.
    pub fn from_stored(stored: &Value) -> Self {
        Self(
            stored
                .as_object()
                .map(|headers| {
                    headers
                        .iter()
                        .filter_map(|(name, value)| {
                            Some((name.clone(), value.as_str()?.to_owned()))
                        })
                        .filter(|(_, value)| value != REDACTED)
                        .collect()
                })
                .unwrap_or_default(),
        )
    }

    /// Name (lower case) and value pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }
}

/// Compares secrets without leaking, through timing, how long a matching prefix was.
pub fn constant_time_eq(expected: &[u8], presented: &[u8]) -> bool {
    let mut difference = expected.len() ^ presented.len();
    for (i, byte) in expected.iter().enumerate() {
        difference |= usize::from(byte ^ presented.get(i).copied().unwrap_or(0));
    }
    difference == 0
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    /// Runs `work` to completion (the authenticator is async; these tests are not).
    fn block_on<T>(work: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(work)
    }

    fn authenticator(secrets: Vec<String>) -> Authenticator {
        block_on(Authenticator::new(secrets, &[], None, None)).expect("valid")
    }

    fn authenticate(headers: &HeaderMap, secret: Option<&str>) -> Result<Session, AuthError> {
        let auth = authenticator(secret.map(str::to_owned).into_iter().collect());
        block_on(auth.authenticate(headers))
    }

    #[test]
    fn dev_mode_is_admin_with_header_session_variables() {
        let session = authenticate(&headers(&[("x-hasura-user-id", "7")]), None).expect("dev");
        assert!(session.is_admin);
        assert_eq!(session.role(), "admin");
        assert_eq!(session.variables["x-hasura-user-id"], "7");
    }

    #[test]
    fn any_of_several_admin_secrets_is_accepted() {
        let auth = authenticator(vec!["old-one".into(), "new-one".into()]);
        for (presented, admin) in [("old-one", true), ("new-one", true), ("other", false)] {
            let mut headers = HeaderMap::new();
            headers.insert(
                actix_web::http::header::HeaderName::from_static("x-hasura-admin-secret"),
                actix_web::http::header::HeaderValue::from_static(presented),
            );
            assert_eq!(
                block_on(auth.is_admin(&headers)).is_ok_and(|a| a),
                admin,
                "{presented}"
            );
        }
    }

    #[test]
    fn admin_secret_must_match_exactly() {
        let secret = Some("s3cret");
        let ok = headers(&[
            ("x-hasura-admin-secret", "s3cret"),
            ("x-hasura-role", "user"),
        ]);
        let session = authenticate(&ok, secret).expect("admin");
        assert_eq!(session.role(), "user");
        assert!(!session.variables.contains_key("x-hasura-admin-secret"));
        let wrong = headers(&[("x-hasura-admin-secret", "s3cre")]);
        assert_eq!(
            authenticate(&wrong, secret),
            Err(AuthError::InvalidAdminSecret)
        );
        assert_eq!(
            authenticate(&headers(&[]), secret),
            Err(AuthError::MissingCredentials)
        );
    }
}
