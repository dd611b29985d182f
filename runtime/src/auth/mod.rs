//! Who is calling: the admin (admin secret, or anyone in dev mode) or nobody.
//!
//! The admin may act with any session variables by sending `x-hasura-*` headers, as in Hasura;
//! those variables are passed to handlers verbatim.

use std::collections::BTreeMap;

use actix_web::http::header::HeaderMap;
use serde_json::Value;

/// Header carrying the admin secret; `x-hasura-admin-secret` is accepted for compatibility.
pub const ADMIN_SECRET_HEADERS: [&str; 2] = ["x-hookwing-admin-secret", "x-hasura-admin-secret"];

/// The caller's identity for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Whether the caller holds admin rights (and sees internal error details).
    pub is_admin: bool,
    /// Session variables, lower-cased names, `x-hasura-role` included.
    pub variables: BTreeMap<String, String>,
}

impl Session {
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
    #[error("x-hasura-admin-secret required, but not found")]
    MissingCredentials,
}

impl AuthError {
    /// The stable error code, as in Hasura.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidAdminSecret | Self::MissingCredentials => "access-denied",
        }
    }
}

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

    /// Name (lower case) and value pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }
}

/// Authenticates a request. `admin_secret = None` is dev mode: everyone is admin.
pub fn authenticate(headers: &HeaderMap, admin_secret: Option<&str>) -> Result<Session, AuthError> {
    let presented = ADMIN_SECRET_HEADERS
        .iter()
        .find_map(|name| headers.get(*name))
        .map(|value| value.as_bytes());
    let is_admin = match (admin_secret, presented) {
        (None, _) => true,
        (Some(secret), Some(presented)) if constant_time_eq(secret.as_bytes(), presented) => true,
        (Some(_), Some(_)) => return Err(AuthError::InvalidAdminSecret),
        (Some(_), None) => return Err(AuthError::MissingCredentials),
    };
    let variables = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-hasura-"))
        .filter(|(name, _)| !ADMIN_SECRET_HEADERS.contains(&name.as_str()))
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect::<BTreeMap<_, _>>();
    let mut session = Session {
        is_admin,
        variables,
    };
    session
        .variables
        .entry("x-hasura-role".into())
        .or_insert_with(|| "admin".into());
    Ok(session)
}

/// Compares secrets without leaking, through timing, how long a matching prefix was.
fn constant_time_eq(expected: &[u8], presented: &[u8]) -> bool {
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

    #[test]
    fn dev_mode_is_admin_with_header_session_variables() {
        let session = authenticate(&headers(&[("x-hasura-user-id", "7")]), None).expect("dev");
        assert!(session.is_admin);
        assert_eq!(session.role(), "admin");
        assert_eq!(session.variables["x-hasura-user-id"], "7");
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
