//! The syntax tree of a Kriti template. Every node keeps the byte range it was parsed from, so
//! evaluation errors can point at the expression that failed.

use serde_json::Number;

/// A byte range in the template source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl From<std::ops::Range<usize>> for Span {
    fn from(range: std::ops::Range<usize>) -> Self {
        Self {
            start: range.start,
            end: range.end,
        }
    }
}

/// One expression. A template is a single expression: JSON extended with `{{ … }}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Null(Span),
    Bool(Span, bool),
    Number(Span, Number),
    /// A string literal, possibly with `{{ … }}` parts.
    Str(Span, Vec<Segment>),
    Array(Span, Vec<Expr>),
    /// Fields in source order; a repeated key keeps the last value.
    Object(Span, Vec<(String, Expr)>),
    /// `$body`, `$`, `x`: a bound variable.
    Var(Span, String),
    /// `base.name`, `base['name']`, `base[expr]`: a lookup that must succeed.
    Field {
        span: Span,
        base: Box<Expr>,
        accessor: Accessor,
    },
    /// `base?…`: lookups that yield `null` at the first missing step.
    Optional {
        span: Span,
        base: Box<Expr>,
        accessors: Vec<Accessor>,
    },
    /// `name(argument)`.
    Call {
        span: Span,
        name: String,
        argument: Box<Expr>,
    },
    Not(Span, Box<Expr>),
    Binary {
        span: Span,
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `left ?? right`: `right` when `left` is `null` or an undefined path.
    Default {
        span: Span,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `{{ if c }} a {{ elif d }} b {{ else }} e {{ end }}`.
    If {
        span: Span,
        branches: Vec<(Expr, Expr)>,
        otherwise: Box<Expr>,
    },
    /// `{{ range i, x := source }} body {{ end }}`; `None` for a binder written `_`.
    Range {
        span: Span,
        index: Option<String>,
        item: Option<String>,
        source: Box<Expr>,
        body: Box<Expr>,
    },
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
pub enum Accessor {
    /// `.name` or `['name']`.
    Name(Span, String),
    /// `[expr]`: an array index (a number) or an object key (a string).
    Index(Box<Expr>),
}

/// A piece of a string literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    Text(String),
    Interpolation(Expr),
}

/// Binary operators, all non-short-circuiting in the order written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Eq,
    NotEq,
    Gt,
    Lt,
    GtEq,
    LtEq,
    And,
    Or,
    In,
}

impl Expr {
    /// Where this expression was written.
    pub fn span(&self) -> Span {
        match self {
            Self::Null(span)
            | Self::Bool(span, _)
            | Self::Number(span, _)
            | Self::Str(span, _)
            | Self::Array(span, _)
            | Self::Object(span, _)
            | Self::Var(span, _)
            | Self::Not(span, _) => *span,
            Self::Field { span, .. }
            | Self::Optional { span, .. }
            | Self::Call { span, .. }
            | Self::Binary { span, .. }
            | Self::Default { span, .. }
            | Self::If { span, .. }
            | Self::Range { span, .. } => *span,
        }
    }

    /// Visits this expression and every expression inside it.
    pub fn walk(&self, visit: &mut dyn FnMut(&Expr)) {
        visit(self);
        let mut inner = |expr: &Expr| expr.walk(visit);
        match self {
            Self::Null(_) | Self::Bool(..) | Self::Number(..) | Self::Var(..) => {}
            Self::Str(_, segments) => {
                for segment in segments {
                    if let Segment::Interpolation(expr) = segment {
                        inner(expr);
                    }
                }
            }
            Self::Array(_, items) => items.iter().for_each(inner),
            Self::Object(_, fields) => fields.iter().for_each(|(_, expr)| inner(expr)),
            Self::Field { base, accessor, .. } => {
                inner(base);
                if let Accessor::Index(expr) = accessor {
                    inner(expr);
                }
            }
            Self::Optional {
                base, accessors, ..
            } => {
                inner(base);
                for accessor in accessors {
                    if let Accessor::Index(expr) = accessor {
                        inner(expr);
                    }
                }
            }
            Self::Call { argument, .. } => inner(argument),
            Self::Not(_, expr) => inner(expr),
            Self::Binary { left, right, .. } | Self::Default { left, right, .. } => {
                inner(left);
                inner(right);
            }
            Self::If {
                branches,
                otherwise,
                ..
            } => {
                for (condition, then) in branches {
                    inner(condition);
                    inner(then);
                }
                inner(otherwise);
            }
            Self::Range { source, body, .. } => {
                inner(source);
                inner(body);
            }
        }
    }
}
