//! Evaluation of a parsed template against JSON bindings. Pure: no I/O, no panics; every
//! failure is an [`EvalError`] carrying the span of the expression that failed.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

use super::Functions;
use super::ast::{Accessor, BinaryOp, Expr, Segment, Span};
use super::functions;

/// Why evaluation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalErrorKind {
    /// A variable that is not bound, a missing field, an index out of bounds.
    InvalidPath,
    /// A value of the wrong type for what was done with it.
    Type,
    /// A function that does not exist, or refused its argument.
    Function,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    pub kind: EvalErrorKind,
    pub message: String,
    pub span: Span,
}

type Result<T> = std::result::Result<T, EvalError>;

/// Names in scope: the caller's bindings at the root, each `range` binder a link in front.
/// A linked list on the stack, so entering a loop neither clones nor mutates what is bound.
pub enum Scope<'s, 'b> {
    Root(&'b dyn Fn(&str) -> Option<&'b Value>),
    Local {
        name: &'s str,
        value: Value,
        parent: &'s Scope<'s, 'b>,
    },
}

impl Scope<'_, '_> {
    fn get(&self, wanted: &str) -> Option<&Value> {
        match self {
            Self::Root(bindings) => bindings(wanted),
            Self::Local {
                name,
                value,
                parent,
            } => {
                if *name == wanted {
                    Some(value)
                } else {
                    parent.get(wanted)
                }
            }
        }
    }
}

/// Evaluates `expr`; `source` is the template text, for messages that quote it.
pub fn eval(
    expr: &Expr,
    scope: &Scope<'_, '_>,
    functions: &dyn Functions,
    source: &str,
) -> Result<Value> {
    Evaluator { functions, source }.eval(expr, scope)
}

struct Evaluator<'f> {
    functions: &'f dyn Functions,
    source: &'f str,
}

/// A path step's key, once any `[expr]` is evaluated.
enum Key<'k> {
    Name(Cow<'k, str>),
    Position(Number, Span),
}

impl Evaluator<'_> {
    fn text(&self, span: Span) -> &str {
        self.source.get(span.start..span.end).unwrap_or("?")
    }

    fn error(&self, kind: EvalErrorKind, span: Span, message: String) -> EvalError {
        EvalError {
            kind,
            message,
            span,
        }
    }

    fn type_error(&self, span: Span, message: String) -> EvalError {
        self.error(EvalErrorKind::Type, span, message)
    }

    fn eval<'b>(&self, expr: &Expr, scope: &Scope<'_, 'b>) -> Result<Value> {
        match expr {
            Expr::Null(_) => Ok(Value::Null),
            Expr::Bool(_, b) => Ok(Value::Bool(*b)),
            Expr::Number(_, n) => Ok(Value::Number(n.clone())),
            Expr::Str(_, segments) => {
                let mut text = String::new();
                for segment in segments {
                    match segment {
                        Segment::Text(part) => text.push_str(part),
                        Segment::Interpolation(inner) => {
                            match self.lookup(inner, scope)?.as_ref() {
                                Value::String(part) => text.push_str(part),
                                other => text.push_str(&other.to_string()),
                            }
                        }
                    }
                }
                Ok(Value::String(text))
            }
            Expr::Array(_, items) => items
                .iter()
                .map(|item| self.eval(item, scope))
                .collect::<Result<Vec<_>>>()
                .map(Value::Array),
            Expr::Object(_, fields) => {
                let mut object = Map::new();
                for (key, value) in fields {
                    let value = self.eval(value, scope)?;
                    // A repeated key keeps its first value, as in Kriti.
                    object.entry(key.clone()).or_insert(value);
                }
                Ok(Value::Object(object))
            }
            Expr::Var(..) | Expr::Field { .. } | Expr::Optional { .. } => {
                self.lookup(expr, scope).map(Cow::into_owned)
            }
            Expr::Call {
                span,
                name,
                argument,
            } => {
                let argument = self.lookup(argument, scope)?;
                let result = match functions::basic(name, &argument) {
                    Some(result) => result,
                    None => self.functions.call(name, &argument).ok_or_else(|| {
                        self.error(
                            EvalErrorKind::Function,
                            *span,
                            format!("there is no function '{name}'"),
                        )
                    })?,
                };
                result.map_err(|message| {
                    self.error(EvalErrorKind::Function, *span, format!("{name}: {message}"))
                })
            }
            Expr::Not(span, operand) => match self.lookup(operand, scope)?.as_ref() {
                Value::Bool(b) => Ok(Value::Bool(!b)),
                other => Err(self.type_error(
                    *span,
                    format!("'not' needs a boolean, got {}", type_name(other)),
                )),
            },
            Expr::Binary {
                span,
                op,
                left,
                right,
            } => {
                let left_value = self.lookup(left, scope)?;
                let right_value = self.lookup(right, scope)?;
                self.binary(*op, *span, &left_value, &right_value)
            }
            // As Kriti's engine does (not as its RFC proposed), `??` replaces only `null`;
            // an undefined path still fails, and `$x? ?? d` is how to default one.
            Expr::Default { left, right, .. } => match self.eval(left, scope)? {
                Value::Null => self.eval(right, scope),
                value => Ok(value),
            },
            Expr::If {
                branches,
                otherwise,
                ..
            } => {
                for (condition, then) in branches {
                    match self.lookup(condition, scope)?.as_ref() {
                        Value::Bool(true) => return self.eval(then, scope),
                        Value::Bool(false) => {}
                        other => {
                            return Err(self.type_error(
                                condition.span(),
                                format!(
                                    "an 'if' condition must be a boolean, got {}",
                                    type_name(other)
                                ),
                            ));
                        }
                    }
                }
                self.eval(otherwise, scope)
            }
            Expr::Range {
                index,
                item,
                source,
                body,
                ..
            } => {
                let items = match self.eval(source, scope)? {
                    Value::Array(items) => items,
                    other => {
                        return Err(self.type_error(
                            source.span(),
                            format!(
                                "'range' goes over an array, and '{}' is {}",
                                self.text(source.span()),
                                type_name(&other)
                            ),
                        ));
                    }
                };
                let mut results = Vec::with_capacity(items.len());
                for (i, element) in items.into_iter().enumerate() {
                    let with_index;
                    let mut inner: &Scope<'_, 'b> = scope;
                    if let Some(name) = index {
                        with_index = Scope::Local {
                            name,
                            value: Value::from(i),
                            parent: inner,
                        };
                        inner = &with_index;
                    }
                    let result = match item {
                        Some(name) => self.eval(
                            body,
                            &Scope::Local {
                                name,
                                value: element,
                                parent: inner,
                            },
                        ),
                        None => self.eval(body, inner),
                    };
                    results.push(result?);
                }
                Ok(Value::Array(results))
            }
        }
    }

    /// Evaluates `expr`, borrowing from the bindings where it is a path into them, so that
    /// `$body.input.x` does not copy `$body`.
    fn lookup<'v>(&self, expr: &Expr, scope: &'v Scope<'_, '_>) -> Result<Cow<'v, Value>> {
        match expr {
            Expr::Var(span, name) => scope.get(name).map(Cow::Borrowed).ok_or_else(|| {
                self.error(
                    EvalErrorKind::InvalidPath,
                    *span,
                    format!("'{name}' is not bound"),
                )
            }),
            Expr::Field {
                span,
                base,
                accessor,
            } => {
                let value = self.lookup(base, scope)?;
                let key = self.key(accessor, scope)?;
                match self.step(value, key, *span, base.span())? {
                    Some(found) => Ok(found),
                    None => Err(self.error(
                        EvalErrorKind::InvalidPath,
                        *span,
                        format!("'{}' is not defined", self.text(*span)),
                    )),
                }
            }
            Expr::Optional {
                base, accessors, ..
            } => {
                // Any failure of the head is `null`; a head that cannot be looked into is a
                // type error; after that, the first step that finds nothing is `null`.
                let Ok(mut value) = self.lookup(base, scope) else {
                    return Ok(Cow::Owned(Value::Null));
                };
                match value.as_ref() {
                    Value::Null => return Ok(value),
                    Value::Object(_) | Value::Array(_) => {}
                    other => {
                        return Err(self.type_error(
                            base.span(),
                            format!(
                                "'{}' is {}, not an object or an array",
                                self.text(base.span()),
                                type_name(other)
                            ),
                        ));
                    }
                }
                for accessor in accessors {
                    let key = self.key(accessor, scope)?;
                    match child(value, &key) {
                        Some(found) => value = found,
                        None => return Ok(Cow::Owned(Value::Null)),
                    }
                }
                Ok(value)
            }
            _ => self.eval(expr, scope).map(Cow::Owned),
        }
    }

    fn key<'a>(&self, accessor: &'a Accessor, scope: &Scope<'_, '_>) -> Result<Key<'a>> {
        match accessor {
            Accessor::Name(_, name) => Ok(Key::Name(Cow::Borrowed(name))),
            Accessor::Index(index) => match self.eval(index, scope)? {
                Value::String(name) => Ok(Key::Name(Cow::Owned(name))),
                Value::Number(n) => Ok(Key::Position(n, index.span())),
                other => Err(self.type_error(
                    index.span(),
                    format!(
                        "a lookup needs a number or a string, got {}",
                        type_name(&other)
                    ),
                )),
            },
        }
    }

    /// One required path step into `value`; `None` when the field or index is not there.
    fn step<'v>(
        &self,
        value: Cow<'v, Value>,
        key: Key<'_>,
        span: Span,
        base: Span,
    ) -> Result<Option<Cow<'v, Value>>> {
        let expected = match (&key, value.as_ref()) {
            (Key::Name(_), Value::Object(_)) => None,
            (Key::Name(_), _) => Some("an object"),
            (Key::Position(..), Value::Array(_)) => None,
            (Key::Position(..), _) => Some("an array"),
        };
        if let Some(expected) = expected {
            return Err(self.type_error(
                span,
                format!(
                    "'{}' is {}, not {expected}",
                    self.text(base),
                    type_name(&value)
                ),
            ));
        }
        if let Key::Position(n, index_span) = &key
            && array_index(n).is_none()
            && n.as_f64().is_none_or(|x| x.fract() != 0.0)
        {
            return Err(self.type_error(
                *index_span,
                format!("an array index must be a whole number, got {n}"),
            ));
        }
        Ok(child(value, &key))
    }

    fn binary(&self, op: BinaryOp, span: Span, left: &Value, right: &Value) -> Result<Value> {
        let ordering = || -> Result<Ordering> { Ok(compare(left, right)) };
        let boolean = |value: &Value| -> Result<bool> {
            value.as_bool().ok_or_else(|| {
                self.type_error(
                    span,
                    format!("'&&' and '||' need booleans, got {}", type_name(value)),
                )
            })
        };
        let result = match op {
            BinaryOp::Eq => json_eq(left, right),
            BinaryOp::NotEq => !json_eq(left, right),
            BinaryOp::Gt => ordering()? == Ordering::Greater,
            BinaryOp::Lt => ordering()? == Ordering::Less,
            BinaryOp::GtEq => ordering()? != Ordering::Less,
            BinaryOp::LtEq => ordering()? != Ordering::Greater,
            BinaryOp::And => boolean(left)? && boolean(right)?,
            BinaryOp::Or => boolean(left)? || boolean(right)?,
            BinaryOp::In => match (left, right) {
                (_, Value::Array(items)) => items.iter().any(|item| json_eq(left, item)),
                (Value::String(key), Value::Object(fields)) => fields.contains_key(key),
                _ => {
                    return Err(self.type_error(
                        span,
                        format!(
                            "'in' looks for a value in an array or a string key in an object; \
                             got {} in {}",
                            type_name(left),
                            type_name(right)
                        ),
                    ));
                }
            },
        };
        Ok(Value::Bool(result))
    }
}

/// The element or field `key` names in `value`, borrowed where `value` is; `None` when there
/// is none, including when `value` is not a container of the right kind.
fn child<'v>(value: Cow<'v, Value>, key: &Key<'_>) -> Option<Cow<'v, Value>> {
    match (value, key) {
        (Cow::Borrowed(v), Key::Name(name)) => v.as_object()?.get(name.as_ref()).map(Cow::Borrowed),
        (Cow::Owned(Value::Object(mut fields)), Key::Name(name)) => {
            fields.remove(name.as_ref()).map(Cow::Owned)
        }
        (Cow::Borrowed(v), Key::Position(n, _)) => {
            v.as_array()?.get(array_index(n)?).map(Cow::Borrowed)
        }
        (Cow::Owned(Value::Array(mut items)), Key::Position(n, _)) => {
            let i = array_index(n)?;
            (i < items.len()).then(|| Cow::Owned(items.swap_remove(i)))
        }
        _ => None,
    }
}

/// A number usable as an array index: a non-negative whole number (`1.0` included).
fn array_index(n: &Number) -> Option<usize> {
    if let Some(i) = n.as_u64() {
        return usize::try_from(i).ok();
    }
    let x = n.as_f64()?;
    (x >= 0.0 && x.fract() == 0.0 && x < usize::MAX as f64).then_some(x as usize)
}

/// JSON equality where numbers compare by value (`1 == 1.0`).
pub fn json_eq(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => number_cmp(a, b) == Some(Ordering::Equal),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(key, x)| b.get(key).is_some_and(|y| json_eq(x, y)))
        }
        _ => left == right,
    }
}

/// Kriti's total order over JSON values (its host's `Ord Value`): first by kind, objects <
/// arrays < strings < numbers < booleans < null, then by content.
fn compare(left: &Value, right: &Value) -> Ordering {
    fn rank(value: &Value) -> u8 {
        match value {
            Value::Object(_) => 0,
            Value::Array(_) => 1,
            Value::String(_) => 2,
            Value::Number(_) => 3,
            Value::Bool(_) => 4,
            Value::Null => 5,
        }
    }
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => number_cmp(a, b).unwrap_or(Ordering::Equal),
        (Value::String(a), Value::String(b)) => a.cmp(b),
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        (Value::Array(a), Value::Array(b)) => {
            for (x, y) in a.iter().zip(b) {
                let order = compare(x, y);
                if order != Ordering::Equal {
                    return order;
                }
            }
            a.len().cmp(&b.len())
        }
        (Value::Object(a), Value::Object(b)) => {
            let mut a: Vec<_> = a.iter().collect();
            let mut b: Vec<_> = b.iter().collect();
            a.sort_by(|x, y| x.0.cmp(y.0));
            b.sort_by(|x, y| x.0.cmp(y.0));
            for ((ka, va), (kb, vb)) in a.iter().zip(&b) {
                let order = ka.cmp(kb).then_with(|| compare(va, vb));
                if order != Ordering::Equal {
                    return order;
                }
            }
            a.len().cmp(&b.len())
        }
        _ => rank(left).cmp(&rank(right)),
    }
}

fn number_cmp(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

/// "a string", "an object", … for messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
