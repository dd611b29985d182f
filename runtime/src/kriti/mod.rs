//! Kriti, the JSON templating language of Hasura's request and response transforms.
//!
//! No maintained Rust crate implements Kriti, so this module does: a winnow parser
//! ([`parser`]), an evaluator over `serde_json` values ([`eval`]) and Kriti's basic function
//! library ([`functions`]). It depends on nothing else in Hookwing. The language, as
//! Hookwing implements it, is described in `docs/TRANSFORMS.md`.
//!
//! Templates are parsed once, when metadata is validated, and evaluated per call; neither
//! step panics, and every error carries the line and column of the expression at fault.

mod ast;
mod eval;
mod functions;
mod parser;

use serde_json::Value;

pub use eval::json_eq;
pub use functions::{BASIC as BASIC_FUNCTIONS, escape_uri};
pub use parser::MAX_DEPTH;

/// Functions a host adds to Kriti's basic library (Hasura adds `getSessionVariable`).
pub trait Functions {
    /// Calls `name`, or `None` when the host has no such function.
    fn call(&self, name: &str, argument: &Value) -> Option<Result<Value, String>>;
}

/// No functions beyond the basic library.
pub struct NoFunctions;

impl Functions for NoFunctions {
    fn call(&self, _: &str, _: &Value) -> Option<Result<Value, String>> {
        None
    }
}

/// A parsed template, ready to render any number of times.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    source: String,
    expr: ast::Expr,
}

/// What kind of failure an [`Error`] is; `as_str` is the stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The template does not parse.
    Parse,
    /// An unbound variable, a missing field, an index out of bounds.
    InvalidPath,
    /// A value of the wrong type for what was done with it.
    Type,
    /// An unknown function, or a function that refused its argument.
    Function,
}

impl ErrorCode {
    /// The stable code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Parse => "parse-error",
            Self::InvalidPath => "invalid-path",
            Self::Type => "type-error",
            Self::Function => "function-error",
        }
    }

    /// Kriti's own name for the error class (Hasura shows it as `error_code`).
    pub fn kriti_name(self) -> &'static str {
        match self {
            Self::Parse => "Parse Error",
            Self::InvalidPath => "Invalid Path",
            Self::Type => "Type Error",
            Self::Function => "Function Error",
        }
    }
}

/// A line and column, both from 1, columns in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    fn at(source: &str, offset: usize) -> Self {
        let before = source.get(..offset).unwrap_or(source);
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit('\n')
            .next()
            .map_or(0, |text| text.chars().count())
            + 1;
        Self { line, column }
    }
}

/// A failed parse or evaluation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (line {}, column {})", start.line, start.column)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
    pub start: Position,
    pub end: Position,
}

impl Error {
    fn new(code: ErrorCode, message: String, source: &str, span: ast::Span) -> Self {
        Self {
            code,
            message,
            start: Position::at(source, span.start),
            end: Position::at(source, span.end),
        }
    }

    /// The error as Hasura reports a Kriti error: `{error_code, message, source_position}`
    /// (lines and columns from 0 there).
    pub fn to_hasura_json(&self) -> Value {
        serde_json::json!({
            "error_code": self.code.kriti_name(),
            "message": self.message,
            "source_position": {
                "start_line": self.start.line - 1,
                "start_column": self.start.column - 1,
                "end_line": self.end.line - 1,
                "end_column": self.end.column - 1,
            },
        })
    }
}

impl Template {
    /// Parses a template: JSON extended with `{{ … }}` expressions, `if`, `range`, and
    /// string interpolation.
    pub fn parse(source: &str) -> Result<Self, Error> {
        parser::parse(source)
            .map(|expr| Self {
                source: source.to_owned(),
                expr,
            })
            .map_err(|failure| parse_error(source, failure))
    }

    /// Parses text with `{{ … }}` parts, which always renders to a string: what Hasura's
    /// URL, query parameter, header and form value templates are.
    pub fn parse_interpolated(source: &str) -> Result<Self, Error> {
        parser::parse_interpolated(source)
            .map(|expr| Self {
                source: source.to_owned(),
                expr,
            })
            .map_err(|failure| parse_error(source, failure))
    }

    /// Whether the template reads the variable `name` anywhere (as a `range` binder of that
    /// name shadows it, this may say yes when the outer variable is not read).
    pub fn mentions(&self, name: &str) -> bool {
        let mut found = false;
        self.expr.walk(&mut |expr| {
            if let ast::Expr::Var(_, var) = expr {
                found |= var == name;
            }
        });
        found
    }

    /// The template as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Fails on the first call of a function that is neither basic nor in `host`, so that a
    /// misspelt name is found when the template is saved rather than when it runs.
    pub fn check_functions(&self, host: &[&str]) -> Result<(), Error> {
        let mut calls = Vec::new();
        self.expr.walk(&mut |expr| {
            if let ast::Expr::Call { span, name, .. } = expr {
                calls.push((name.clone(), *span));
            }
        });
        for (name, span) in calls {
            if !BASIC_FUNCTIONS.contains(&name.as_str()) && !host.contains(&name.as_str()) {
                return Err(Error::new(
                    ErrorCode::Function,
                    format!("there is no function '{name}'"),
                    &self.source,
                    span,
                ));
            }
        }
        Ok(())
    }

    /// Renders the template with `bindings` (a variable name as written, `$body` or `x`, to
    /// its value) and the basic functions plus `functions`.
    pub fn render<'b>(
        &self,
        bindings: &'b dyn Fn(&str) -> Option<&'b Value>,
        functions: &dyn Functions,
    ) -> Result<Value, Error> {
        let scope = eval::Scope::Root(bindings);
        eval::eval(&self.expr, &scope, functions, &self.source).map_err(|error| {
            let code = match error.kind {
                eval::EvalErrorKind::InvalidPath => ErrorCode::InvalidPath,
                eval::EvalErrorKind::Type => ErrorCode::Type,
                eval::EvalErrorKind::Function => ErrorCode::Function,
            };
            Error::new(code, error.message, &self.source, error.span)
        })
    }
}

fn parse_error(source: &str, failure: parser::Failure) -> Error {
    let rest = source.get(failure.offset..).unwrap_or_default();
    let offset = failure.offset + (rest.len() - rest.trim_start().len());
    let span = ast::Span {
        start: offset,
        end: offset,
    };
    let message = if failure.too_deep {
        format!("The template nests more than {MAX_DEPTH} levels deep.")
    } else {
        match token_at(source, offset) {
            Some(token) => format!("Unexpected token '{token}'."),
            None => "Unexpected end of template.".to_owned(),
        }
    };
    let mut error = Error::new(ErrorCode::Parse, message, source, span);
    if let Some(token) = token_at(source, offset) {
        error.end = Position::at(source, offset + token.len());
    }
    error
}

/// The token starting at `offset` (after any whitespace), for a parse error's message.
fn token_at(source: &str, offset: usize) -> Option<&str> {
    let rest = source.get(offset..)?.trim_start();
    let first = rest.chars().next()?;
    fn word(rest: &str, keep: fn(char) -> bool) -> &str {
        let end = rest.find(|c: char| !keep(c)).unwrap_or(rest.len());
        &rest[..end]
    }
    if first.is_alphabetic() || first == '_' || first == '$' {
        return Some(word(rest, |c| c.is_alphanumeric() || c == '_' || c == '$'));
    }
    if first.is_ascii_digit() {
        return Some(word(rest, |c| c.is_ascii_digit() || c == '.'));
    }
    for pair in ["{{", "}}", ":=", "??", "&&", "||", "==", "!=", ">=", "<="] {
        if rest.starts_with(pair) {
            return Some(&rest[..2]);
        }
    }
    Some(&rest[..first.len_utf8()])
}

/// Renders a Kriti value as text the way string interpolation does: strings as they are,
/// everything else as compact JSON.
pub fn to_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
