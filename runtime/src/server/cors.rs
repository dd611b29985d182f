//! Which browser origins may call the server, with the semantics of Hasura's
//! `HASURA_GRAPHQL_CORS_DOMAIN`: `*` (the default) allows every origin; otherwise a
//! comma-separated list of origins, each `scheme://host[:port]`, where the host may start with
//! `*.` to allow every subdomain. The actix-cors middleware answers preflights and sets the
//! headers; this module only decides whether an origin is allowed, for that middleware and for
//! the WebSocket upgrade (which CORS does not cover: browsers send `Origin` and obey nothing).

use actix_cors::Cors;
use actix_web::middleware::Condition;

/// One allowed origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    scheme: String,
    /// `*.example.com` is stored as `example.com` with `subdomains`.
    host: String,
    subdomains: bool,
    port: Option<u16>,
}

/// The allowed origins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsPolicy {
    /// No CORS headers at all: browsers on other origins are refused by the browser itself.
    Disabled,
    AnyOrigin,
    Listed(Vec<Allowed>),
}

/// An origin split into its parts, or `None` if it is not `scheme://host[:port]`.
fn split(origin: &str) -> Option<(String, String, Option<u16>)> {
    let (scheme, rest) = origin.trim().split_once("://")?;
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') {
        return None;
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port.parse::<u16>().ok()?)),
        None => (rest, None),
    };
    Some((scheme.to_ascii_lowercase(), host.to_ascii_lowercase(), port))
}

impl CorsPolicy {
    /// The policy for the `cors_domain` setting (`disabled` wins).
    pub fn parse(domains: &str, disabled: bool) -> Result<Self, String> {
        if disabled {
            return Ok(Self::Disabled);
        }
        let mut allowed = Vec::new();
        for entry in domains.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                return Ok(Self::AnyOrigin);
            }
            let (scheme, host, port) = split(entry)
                .ok_or_else(|| format!("cors_domain: `{entry}` is not scheme://host[:port]"))?;
            let (host, subdomains) = match host.strip_prefix("*.") {
                Some(parent) => (parent.to_owned(), true),
                None => (host, false),
            };
            if host.is_empty() || host.contains('*') {
                return Err(format!("cors_domain: `{entry}` has a misplaced wildcard"));
            }
            allowed.push(Allowed {
                scheme,
                host,
                subdomains,
                port,
            });
        }
        if allowed.is_empty() {
            return Err("cors_domain is empty: use `*` or list origins".into());
        }
        Ok(Self::Listed(allowed))
    }

    /// Whether a browser page on `origin` may call the server.
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            Self::Disabled => false,
            Self::AnyOrigin => true,
            Self::Listed(allowed) => {
                let Some((scheme, host, port)) = split(origin) else {
                    return false;
                };
                allowed.iter().any(|entry| {
                    entry.scheme == scheme
                        && entry.port == port
                        && if entry.subdomains {
                            host.strip_suffix(&entry.host)
                                .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.'))
                        } else {
                            entry.host == host
                        }
                })
            }
        }
    }

    /// The middleware for this policy, off when disabled: preflights answered on every
    /// path, any method and header a caller asks for, credentials allowed (the origin is
    /// echoed, never `*`, as browsers require with credentials), preflights cached for a day.
    /// A request from an origin that is not allowed is served without CORS headers, so the
    /// browser withholds the answer from the page (same-origin pages, like GraphiQL, need none).
    pub fn middleware(&self) -> Condition<Cors> {
        let policy = self.clone();
        Condition::new(
            *self != Self::Disabled,
            Cors::default()
                .allowed_origin_fn(move |origin, _| {
                    origin.to_str().is_ok_and(|origin| policy.allows(origin))
                })
                .allow_any_method()
                .allow_any_header()
                .expose_any_header()
                .supports_credentials()
                .block_on_origin_mismatch(false)
                .max_age(86_400),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::CorsPolicy;

    #[test]
    fn any_origin_by_default_and_nothing_when_disabled() {
        let any = CorsPolicy::parse("*", false).expect("valid");
        assert!(any.allows("https://app.example.com"));
        let off = CorsPolicy::parse("*", true).expect("valid");
        assert!(!off.allows("https://app.example.com"));
    }

    #[test]
    fn lists_match_scheme_host_and_port_with_wildcard_subdomains() {
        let policy = CorsPolicy::parse(
            "https://*.foo.bar.com:8080, http://*.localhost, http://localhost:3000",
            false,
        )
        .expect("valid");
        for allowed in [
            "https://a.foo.bar.com:8080",
            "https://a.b.foo.bar.com:8080",
            "http://app.localhost",
            "http://localhost:3000",
        ] {
            assert!(policy.allows(allowed), "{allowed}");
        }
        for refused in [
            "https://foo.bar.com:8080",
            "http://a.foo.bar.com:8080",
            "https://a.foo.bar.com",
            "https://evilfoo.bar.com:8080",
            "http://localhost:3001",
            "http://localhost",
            "null",
            "",
        ] {
            assert!(!policy.allows(refused), "{refused}");
        }
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in [
            "",
            "localhost",
            "https://*",
            "https://a.*.com",
            "https://x.com:port",
        ] {
            assert!(CorsPolicy::parse(bad, false).is_err(), "{bad}");
        }
    }
}
