//! The Kriti parser, built on winnow. Scannerless: Kriti switches between JSON, expression and
//! string-template syntax inside one text, which character-level combinators follow directly.
//!
//! Grammar (Kriti's, with Hasura's engine's precedence):
//!
//! ```text
//! template   := ws expr ws EOF
//! expr       := or ("??" or)*                       -- left-assoc, lowest
//! or         := and ("||" and)*
//! and        := compare ("&&" compare)*
//! compare    := unary (("=="|"!="|">="|"<="|">"|"<"|"in") unary)?
//! unary      := "not" expr | postfix
//! postfix    := primary (("." ident) | ("[" (quoted | expr) "]") | ("?" step*))*
//! primary    := null | true | false | number | string | array | object
//!             | "(" expr ")" | ident "(" expr ")" | ident | "{{" block "}}"
//! block      := "range" binder "," binder ":=" expr "}}" expr "{{" "end"
//!             | "if" expr "}}" expr ("{{" "elif" expr "}}" expr)* "{{" "else" "}}" expr "{{" "end"
//!             | expr
//! ```
//!
//! `ws` includes `#` comments to the end of the line. Nesting is bounded ([`MAX_DEPTH`]) so
//! a hostile template cannot exhaust the stack.

use serde_json::Number;
use winnow::combinator::{alt, cut_err, not, opt, peek};
use winnow::error::{ContextError, ErrMode, ModalResult};
use winnow::prelude::*;
use winnow::stream::{LocatingSlice, Location, Stateful, Stream};
use winnow::token::{any, literal, take_till, take_while};

use super::ast::{Accessor, BinaryOp, Expr, Segment, Span};

/// How deeply arrays, objects, calls, blocks and parentheses may nest.
pub const MAX_DEPTH: usize = 64;

type Input<'a> = Stateful<LocatingSlice<&'a str>, Depth>;

/// How deep the parser is, and whether it ever went past [`MAX_DEPTH`].
#[derive(Debug, Default)]
struct Depth {
    current: usize,
    exceeded: bool,
}

/// Where and why a parse failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// Byte offset of the offending token.
    pub offset: usize,
    /// The template nests more than [`MAX_DEPTH`] levels.
    pub too_deep: bool,
}

/// Parses a whole template.
pub fn parse(source: &str) -> Result<Expr, Failure> {
    run(source, |input| {
        ws(input)?;
        let expr = expr(input)?;
        ws(input)?;
        Ok(expr)
    })
}

/// Parses text with `{{ … }}` parts, as if it were the inside of a string literal (Hasura's
/// URL, query parameter, header and form templates). Quotes in it are plain characters.
pub fn parse_interpolated(source: &str) -> Result<Expr, Failure> {
    run(source, |input| {
        let segments = string_body(input, None)?;
        Ok(Expr::Str(
            Span {
                start: 0,
                end: source.len(),
            },
            segments,
        ))
    })
}

fn run<'a>(
    source: &'a str,
    parser: impl FnOnce(&mut Input<'a>) -> ModalResult<Expr>,
) -> Result<Expr, Failure> {
    let mut input = Stateful {
        input: LocatingSlice::new(source),
        state: Depth::default(),
    };
    let result = parser(&mut input).and_then(|expr| {
        if input.eof_offset() > 0 {
            Err(fail())
        } else {
            Ok(expr)
        }
    });
    result.map_err(|_| Failure {
        offset: input.current_token_start(),
        too_deep: input.state.exceeded,
    })
}

fn fail() -> ErrMode<ContextError> {
    ErrMode::Cut(ContextError::new())
}

fn backtrack() -> ErrMode<ContextError> {
    ErrMode::Backtrack(ContextError::new())
}

/// Runs `parser` one level deeper, failing past [`MAX_DEPTH`].
fn nested<'a, O>(
    input: &mut Input<'a>,
    parser: impl FnOnce(&mut Input<'a>) -> ModalResult<O>,
) -> ModalResult<O> {
    if input.state.current >= MAX_DEPTH {
        input.state.exceeded = true;
        return Err(fail());
    }
    input.state.current += 1;
    let result = parser(input);
    input.state.current -= 1;
    result
}

fn ws(input: &mut Input<'_>) -> ModalResult<()> {
    loop {
        take_while(0.., |c: char| c.is_whitespace()).parse_next(input)?;
        if opt(literal("#")).parse_next(input)?.is_none() {
            return Ok(());
        }
        take_till(0.., '\n').parse_next(input)?;
    }
}

/// `token` after optional whitespace; the whitespace is consumed only if `token` follows.
fn symbol<'a>(token: &'static str) -> impl FnMut(&mut Input<'a>) -> ModalResult<()> {
    move |input: &mut Input<'a>| {
        let start = input.checkpoint();
        ws(input)?;
        if opt(literal(token)).parse_next(input)?.is_some() {
            Ok(())
        } else {
            input.reset(&start);
            Err(backtrack())
        }
    }
}

/// `symbol(token)` where missing it is an error at this point.
fn expect<'a>(token: &'static str) -> impl FnMut(&mut Input<'a>) -> ModalResult<()> {
    move |input: &mut Input<'a>| {
        ws(input)?;
        cut_err(literal(token).void()).parse_next(input)
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '$'
}

/// Kriti's identifiers: `$` alone, or an optional `$`, an ASCII letter, then letters, digits,
/// `$`, `_` and `-` (`x-hasura-role` is one name; Kriti has no arithmetic).
fn ident<'a>(input: &mut Input<'a>) -> ModalResult<&'a str> {
    let continues = |c: char| c.is_ascii_alphanumeric() || matches!(c, '$' | '_' | '-');
    alt((
        (
            opt(literal("$")),
            take_while(1, |c: char| c.is_ascii_alphabetic()),
            take_while(0.., continues),
        )
            .take(),
        literal("$"),
    ))
    .parse_next(input)
}

/// A keyword: the word, not followed by an identifier character.
fn keyword<'a>(word: &'static str) -> impl FnMut(&mut Input<'a>) -> ModalResult<()> {
    move |input: &mut Input<'a>| {
        let start = input.checkpoint();
        ws(input)?;
        let found = opt(ident).parse_next(input)?;
        if found == Some(word) {
            Ok(())
        } else {
            input.reset(&start);
            Err(backtrack())
        }
    }
}

const KEYWORDS: [&str; 10] = [
    "null", "true", "false", "not", "in", "if", "elif", "else", "end", "range",
];

fn span_from(input: &Input<'_>, start: usize) -> Span {
    Span {
        start,
        end: input.previous_token_end().max(start),
    }
}

fn expr(input: &mut Input<'_>) -> ModalResult<Expr> {
    ws(input)?;
    let start = input.current_token_start();
    let mut left = or(input)?;
    while symbol("??")(input).is_ok() {
        let right = cut_err(or).parse_next(input)?;
        left = Expr::Default {
            span: span_from(input, start),
            left: Box::new(left),
            right: Box::new(right),
        };
    }
    Ok(left)
}

fn or(input: &mut Input<'_>) -> ModalResult<Expr> {
    binary_chain(input, "||", BinaryOp::Or, and)
}

fn and(input: &mut Input<'_>) -> ModalResult<Expr> {
    binary_chain(input, "&&", BinaryOp::And, compare)
}

fn binary_chain<'a>(
    input: &mut Input<'a>,
    token: &'static str,
    op: BinaryOp,
    mut operand: impl FnMut(&mut Input<'a>) -> ModalResult<Expr>,
) -> ModalResult<Expr> {
    ws(input)?;
    let start = input.current_token_start();
    let mut left = operand(input)?;
    while symbol(token)(input).is_ok() {
        let right = cut_err(&mut operand).parse_next(input)?;
        left = Expr::Binary {
            span: span_from(input, start),
            op,
            left: Box::new(left),
            right: Box::new(right),
        };
    }
    Ok(left)
}

fn compare(input: &mut Input<'_>) -> ModalResult<Expr> {
    ws(input)?;
    let start = input.current_token_start();
    let left = unary(input)?;
    let op = opt(alt((
        symbol("==").value(BinaryOp::Eq),
        symbol("!=").value(BinaryOp::NotEq),
        symbol(">=").value(BinaryOp::GtEq),
        symbol("<=").value(BinaryOp::LtEq),
        symbol(">").value(BinaryOp::Gt),
        symbol("<").value(BinaryOp::Lt),
        keyword("in").value(BinaryOp::In),
    )))
    .parse_next(input)?;
    let Some(op) = op else {
        return Ok(left);
    };
    let right = cut_err(unary).parse_next(input)?;
    Ok(Expr::Binary {
        span: span_from(input, start),
        op,
        left: Box::new(left),
        right: Box::new(right),
    })
}

fn unary(input: &mut Input<'_>) -> ModalResult<Expr> {
    ws(input)?;
    let start = input.current_token_start();
    if keyword("not")(input).is_ok() {
        // As in Kriti, `not` negates everything after it: `not a && b` is `not (a && b)`.
        let operand = nested(input, |input| cut_err(expr).parse_next(input))?;
        return Ok(Expr::Not(span_from(input, start), Box::new(operand)));
    }
    postfix(input)
}

fn postfix(input: &mut Input<'_>) -> ModalResult<Expr> {
    let start = input.current_token_start();
    let mut expr = primary(input)?;
    loop {
        if let Some(accessor) = opt(step).parse_next(input)? {
            expr = Expr::Field {
                span: span_from(input, start),
                base: Box::new(expr),
                accessor,
            };
            continue;
        }
        // `?` starts an optional chain, unless it is the first half of `??`.
        if opt((literal("?"), not(literal("?"))))
            .parse_next(input)?
            .is_none()
        {
            return Ok(expr);
        }
        let mut accessors = Vec::new();
        while let Some(accessor) = opt(step).parse_next(input)? {
            accessors.push(accessor);
        }
        expr = Expr::Optional {
            span: span_from(input, start),
            base: Box::new(expr),
            accessors,
        };
    }
}

/// `.name`, `['name']` or `[expr]`, directly after what it looks into.
fn step(input: &mut Input<'_>) -> ModalResult<Accessor> {
    let start = input.current_token_start();
    if opt(literal(".")).parse_next(input)?.is_some() {
        let name = cut_err(ident).parse_next(input)?;
        return Ok(Accessor::Name(span_from(input, start), name.to_owned()));
    }
    literal("[").parse_next(input)?;
    nested(input, |input| {
        ws(input)?;
        let accessor = if opt(literal("'")).parse_next(input)?.is_some() {
            let name = quoted_key(input)?;
            Accessor::Name(span_from(input, start), name)
        } else {
            Accessor::Index(Box::new(cut_err(expr).parse_next(input)?))
        };
        expect("]")(input)?;
        Ok(accessor)
    })
}

/// The rest of a `'…'` key, after the opening quote: raw text, as in Kriti.
fn quoted_key(input: &mut Input<'_>) -> ModalResult<String> {
    let key = take_till(0.., '\'').parse_next(input)?;
    cut_err(literal("'")).parse_next(input)?;
    Ok(key.to_owned())
}

fn primary(input: &mut Input<'_>) -> ModalResult<Expr> {
    ws(input)?;
    let start = input.current_token_start();
    let next = peek(opt(any)).parse_next(input)?;
    match next {
        Some('"') => string(input),
        Some('[') => nested(input, array),
        Some('{') => {
            if opt(literal("{{")).parse_next(input)?.is_some() {
                nested(input, |input| block(input, start))
            } else {
                nested(input, object)
            }
        }
        Some('(') => nested(input, |input| {
            literal("(").parse_next(input)?;
            let inner = cut_err(expr).parse_next(input)?;
            expect(")")(input)?;
            Ok(inner)
        }),
        Some(c) if c == '-' || c.is_ascii_digit() => number(input),
        Some(c) if is_ident_start(c) => {
            let checkpoint = input.checkpoint();
            let name = ident(input)?;
            let span = span_from(input, start);
            match name {
                "null" => Ok(Expr::Null(span)),
                "true" => Ok(Expr::Bool(span, true)),
                "false" => Ok(Expr::Bool(span, false)),
                _ if KEYWORDS.contains(&name) => {
                    input.reset(&checkpoint);
                    Err(backtrack())
                }
                _ => {
                    if symbol("(")(input).is_ok() {
                        let argument = nested(input, |input| cut_err(expr).parse_next(input))?;
                        expect(")")(input)?;
                        Ok(Expr::Call {
                            span: span_from(input, start),
                            name: name.to_owned(),
                            argument: Box::new(argument),
                        })
                    } else {
                        Ok(Expr::Var(span, name.to_owned()))
                    }
                }
            }
        }
        _ => Err(backtrack()),
    }
}

fn number(input: &mut Input<'_>) -> ModalResult<Expr> {
    let start = input.current_token_start();
    let text = (
        opt(literal("-")),
        take_while(1.., |c: char| c.is_ascii_digit()),
        opt((literal("."), take_while(1.., |c: char| c.is_ascii_digit()))),
        opt((
            alt((literal("e"), literal("E"))),
            opt(alt((literal("+"), literal("-")))),
            take_while(1.., |c: char| c.is_ascii_digit()),
        )),
    )
        .take()
        .parse_next(input)?;
    // Integers as integers; other numbers through the standard library's correctly rounded
    // parse (serde_json's own float parsing is approximate without a feature flag).
    let number = match text.parse::<i64>() {
        Ok(int) => Number::from(int),
        Err(_) => match text.parse::<u64>() {
            Ok(int) => Number::from(int),
            Err(_) => text
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .ok_or_else(fail)?,
        },
    };
    Ok(Expr::Number(span_from(input, start), number))
}

fn array(input: &mut Input<'_>) -> ModalResult<Expr> {
    let start = input.current_token_start();
    literal("[").parse_next(input)?;
    let mut items = Vec::new();
    if symbol("]")(input).is_err() {
        items.push(cut_err(expr).parse_next(input)?);
        while symbol(",")(input).is_ok() {
            items.push(cut_err(expr).parse_next(input)?);
        }
        expect("]")(input)?;
    }
    Ok(Expr::Array(span_from(input, start), items))
}

fn object(input: &mut Input<'_>) -> ModalResult<Expr> {
    let start = input.current_token_start();
    literal("{").parse_next(input)?;
    let mut fields = Vec::new();
    if symbol("}")(input).is_err() {
        loop {
            ws(input)?;
            cut_err(literal("\"")).parse_next(input)?;
            let key = plain_string(input)?;
            expect(":")(input)?;
            let value = cut_err(expr).parse_next(input)?;
            fields.push((key, value));
            if symbol(",")(input).is_err() {
                break;
            }
        }
        expect("}")(input)?;
    }
    Ok(Expr::Object(span_from(input, start), fields))
}

/// The rest of an object key after its opening quote: JSON escapes, no interpolation.
fn plain_string(input: &mut Input<'_>) -> ModalResult<String> {
    let mut text = String::new();
    loop {
        match cut_err(any).parse_next(input)? {
            '"' => return Ok(text),
            '\\' => escape(input, &mut text)?,
            c => text.push(c),
        }
    }
}

/// One escape after a backslash: JSON's, plus `\{` for a literal brace before `{`.
fn escape(input: &mut Input<'_>, text: &mut String) -> ModalResult<()> {
    let c = cut_err(any).parse_next(input)?;
    match c {
        '"' | '\\' | '/' | '{' | '}' | '\'' => text.push(c),
        'b' => text.push('\u{8}'),
        'f' => text.push('\u{c}'),
        'n' => text.push('\n'),
        'r' => text.push('\r'),
        't' => text.push('\t'),
        'u' => {
            let first = hex4(input)?;
            let code = if (0xD800..0xDC00).contains(&first) {
                cut_err(literal("\\u")).parse_next(input)?;
                let second = hex4(input)?;
                if !(0xDC00..0xE000).contains(&second) {
                    return Err(fail());
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            } else {
                first
            };
            text.push(char::from_u32(code).ok_or_else(fail)?);
        }
        _ => return Err(fail()),
    }
    Ok(())
}

fn hex4(input: &mut Input<'_>) -> ModalResult<u32> {
    let digits = cut_err(take_while(4, |c: char| c.is_ascii_hexdigit())).parse_next(input)?;
    u32::from_str_radix(digits, 16).map_err(|_| fail())
}

/// A string literal with `{{ expr }}` interpolations.
fn string(input: &mut Input<'_>) -> ModalResult<Expr> {
    let start = input.current_token_start();
    literal("\"").parse_next(input)?;
    let segments = string_body(input, Some('"'))?;
    Ok(Expr::Str(span_from(input, start), segments))
}

/// Text and `{{ expr }}` parts up to `end` (consumed), or to the end of input for `None`.
fn string_body(input: &mut Input<'_>, end: Option<char>) -> ModalResult<Vec<Segment>> {
    let mut segments = Vec::new();
    let mut text = String::new();
    loop {
        if opt(literal("{{")).parse_next(input)?.is_some() {
            if !text.is_empty() {
                segments.push(Segment::Text(std::mem::take(&mut text)));
            }
            let inner = nested(input, |input| cut_err(expr).parse_next(input))?;
            expect("}}")(input)?;
            segments.push(Segment::Interpolation(inner));
            continue;
        }
        let next = if end.is_some() {
            Some(cut_err(any).parse_next(input)?)
        } else {
            opt(any).parse_next(input)?
        };
        match next {
            None => break,
            Some(c) if Some(c) == end => break,
            Some('\\') => escape(input, &mut text)?,
            Some(c) => text.push(c),
        }
    }
    if !text.is_empty() {
        segments.push(Segment::Text(text));
    }
    Ok(segments)
}

/// What follows `{{`: a range, an if, or an expression; each up to and including its `}}`.
fn block(input: &mut Input<'_>, start: usize) -> ModalResult<Expr> {
    if keyword("range")(input).is_ok() {
        let index = cut_err(binder).parse_next(input)?;
        expect(",")(input)?;
        let item = cut_err(binder).parse_next(input)?;
        expect(":=")(input)?;
        let source = cut_err(expr).parse_next(input)?;
        expect("}}")(input)?;
        let body = cut_err(expr).parse_next(input)?;
        closing(input, "end")?;
        return Ok(Expr::Range {
            span: span_from(input, start),
            index,
            item,
            source: Box::new(source),
            body: Box::new(body),
        });
    }
    if keyword("if")(input).is_ok() {
        let mut branches = Vec::new();
        let condition = cut_err(expr).parse_next(input)?;
        expect("}}")(input)?;
        let then = cut_err(expr).parse_next(input)?;
        branches.push((condition, then));
        let otherwise = loop {
            expect("{{")(input)?;
            if keyword("elif")(input).is_ok() {
                let condition = cut_err(expr).parse_next(input)?;
                expect("}}")(input)?;
                let then = cut_err(expr).parse_next(input)?;
                branches.push((condition, then));
                continue;
            }
            cut_err(keyword("else")).parse_next(input)?;
            expect("}}")(input)?;
            let otherwise = cut_err(expr).parse_next(input)?;
            closing(input, "end")?;
            break otherwise;
        };
        return Ok(Expr::If {
            span: span_from(input, start),
            branches,
            otherwise: Box::new(otherwise),
        });
    }
    let inner = cut_err(expr).parse_next(input)?;
    expect("}}")(input)?;
    Ok(inner)
}

/// `{{ word }}`.
fn closing(input: &mut Input<'_>, word: &'static str) -> ModalResult<()> {
    expect("{{")(input)?;
    cut_err(keyword(word)).parse_next(input)?;
    expect("}}")(input)
}

/// A `range` binder: a name, or `_` for none.
fn binder(input: &mut Input<'_>) -> ModalResult<Option<String>> {
    ws(input)?;
    if opt(literal("_")).parse_next(input)?.is_some() {
        return Ok(None);
    }
    let name = ident(input)?;
    if KEYWORDS.contains(&name) {
        return Err(backtrack());
    }
    Ok(Some(name.to_owned()))
}
