//! Hasura-style `{{ENV_VAR}}` templates in handler URLs.

use crate::config::Environment;

/// A handler URL with `{{NAME}}` placeholders, checked once when metadata is validated and
/// rendered at call time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate {
    raw: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable(String),
}

impl UrlTemplate {
    /// Splits `raw` into literal text and variables.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = raw;
        while let Some(start) = rest.find("{{") {
            let end = rest[start..]
                .find("}}")
                .ok_or_else(|| format!("unclosed '{{{{' in handler '{raw}'"))?;
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_owned()));
            }
            let name = rest[start + 2..start + end].trim();
            let valid =
                !name.is_empty() && name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric());
            if !valid {
                return Err(format!("'{name}' is not an environment variable name"));
            }
            if let Some(prefix) = crate::config::reserved_prefix(name) {
                return Err(format!(
                    "env variables starting with \"{prefix}\" are not allowed in URL templates: {name}"
                ));
            }
            parts.push(Part::Variable(name.to_owned()));
            rest = &rest[start + end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Self {
            raw: raw.to_owned(),
            parts,
        })
    }

    /// The environment variables the template reads, in order.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Variable(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The URL with every variable replaced; it must be an http(s) URL.
    pub fn render(&self, env: &Environment) -> Result<url::Url, String> {
        let rendered = self.render_text(env)?;
        check_url(&rendered, &self.raw)
    }

    /// The text with every variable replaced, as written (no normalisation): a transform's
    /// `$base_url`.
    pub fn render_text(&self, env: &Environment) -> Result<String, String> {
        let mut rendered = String::with_capacity(self.raw.len());
        for part in &self.parts {
            match part {
                Part::Literal(text) => rendered.push_str(text),
                Part::Variable(name) => rendered.push_str(
                    env.get(name)
                        .ok_or_else(|| format!("environment variable '{name}' is not set"))?,
                ),
            }
        }
        Ok(rendered)
    }
}

/// `text` as an http(s) URL; `raw` is how the handler was written, for messages.
pub fn check_url(text: &str, raw: &str) -> Result<url::Url, String> {
    let url =
        url::Url::parse(text).map_err(|e| format!("handler '{raw}' is not a valid URL: {e}"))?;
    match url.scheme() {
        "http" | "https" if url.has_host() => Ok(url),
        _ => Err(format!(
            "handler '{raw}' must be an http:// or https:// URL or wasm://<name>"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_variables_from_the_environment() {
        let env = Environment::default().with("BASE", "http://example.test:8000");
        let template = UrlTemplate::parse("{{BASE}}/login?x={{ BASE }}").expect("parses");
        let url = template.render(&env).expect("renders");
        assert_eq!(
            url.as_str(),
            "http://example.test:8000/login?x=http://example.test:8000"
        );
    }

    #[test]
    fn reports_missing_variables_and_bad_urls() {
        let env = Environment::default();
        let missing = UrlTemplate::parse("{{NOPE}}/x")
            .expect("parses")
            .render(&env);
        assert!(missing.expect_err("missing").contains("NOPE"));
        assert!(UrlTemplate::parse("{{OPEN").is_err());
        assert!(UrlTemplate::parse("{{a-b}}").is_err());
        let ftp = UrlTemplate::parse("ftp://host/x")
            .expect("parses")
            .render(&env);
        assert!(ftp.is_err());
        let junk = UrlTemplate::parse("not a url")
            .expect("parses")
            .render(&env);
        assert!(junk.is_err());
    }
}
