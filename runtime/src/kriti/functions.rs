//! Kriti's basic function library (the `basicFuncMap` every Kriti host gets). Each function
//! takes one JSON value; errors are the function's own message, wrapped with its name by the
//! evaluator.

use serde_json::{Map, Number, Value};

/// Calls the basic function `name`, or `None` when there is no such basic function.
pub fn basic(name: &str, argument: &Value) -> Option<Result<Value, String>> {
    let result = match name {
        "empty" => empty(argument),
        "size" => Ok(size(argument)),
        "inverse" => inverse(argument),
        "head" => head(argument),
        "tail" => tail(argument),
        "toCaseFold" => text(argument, case_fold),
        "toLower" => text(argument, |s| s.to_lowercase()),
        "toUpper" => text(argument, |s| s.to_uppercase()),
        "toTitle" => text(argument, title_case),
        "escapeUri" => text(argument, escape_uri),
        "fromPairs" => from_pairs(argument),
        "toPairs" => to_pairs(argument),
        "removeNulls" => remove_nulls(argument),
        "concat" => concat(argument),
        "not" => match argument {
            Value::Bool(b) => Ok(Value::Bool(!b)),
            _ => Err("expected a boolean".into()),
        },
        _ => return None,
    };
    Some(result)
}

/// The names [`basic`] answers to.
pub const BASIC: [&str; 15] = [
    "empty",
    "size",
    "inverse",
    "head",
    "tail",
    "toCaseFold",
    "toLower",
    "toUpper",
    "toTitle",
    "escapeUri",
    "fromPairs",
    "toPairs",
    "removeNulls",
    "concat",
    "not",
];

fn empty(value: &Value) -> Result<Value, String> {
    let empty = match value {
        Value::Null => true,
        Value::Bool(_) => return Err("cannot define emptiness for a boolean".into()),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.trim().is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
    };
    Ok(Value::Bool(empty))
}

fn size(value: &Value) -> Value {
    match value {
        Value::Null => Value::from(0),
        Value::Bool(b) => Value::from(u8::from(*b)),
        Value::Number(n) => Value::Number(n.clone()),
        Value::String(s) => Value::from(s.chars().count()),
        Value::Array(items) => Value::from(items.len()),
        Value::Object(fields) => Value::from(fields.len()),
    }
}

fn inverse(value: &Value) -> Result<Value, String> {
    Ok(match value {
        Value::Null | Value::Object(_) => value.clone(),
        Value::Bool(b) => Value::Bool(!b),
        Value::String(s) => Value::String(s.chars().rev().collect()),
        Value::Array(items) => Value::Array(items.iter().rev().cloned().collect()),
        Value::Number(n) => {
            let x = n.as_f64().ok_or("not a finite number")?;
            if x == 0.0 {
                return Err("cannot invert zero".into());
            }
            Number::from_f64(1.0 / x)
                .map(Value::Number)
                .ok_or("the inverse is not a finite number")?
        }
    })
}

fn head(value: &Value) -> Result<Value, String> {
    match value {
        Value::Array(items) => items.first().cloned().ok_or_else(|| "empty array".into()),
        Value::String(s) => s
            .chars()
            .next()
            .map(|c| Value::String(c.to_string()))
            .ok_or_else(|| "empty string".into()),
        _ => Err("expected an array or string".into()),
    }
}

fn tail(value: &Value) -> Result<Value, String> {
    match value {
        Value::Array(items) => Ok(Value::Array(items.iter().skip(1).cloned().collect())),
        Value::String(s) => Ok(Value::String(s.chars().skip(1).collect())),
        _ => Err("expected an array or string".into()),
    }
}

fn text(value: &Value, f: impl Fn(&str) -> String) -> Result<Value, String> {
    match value {
        Value::String(s) => Ok(Value::String(f(s))),
        _ => Err("expected a string".into()),
    }
}

/// Unicode case folding for caseless comparison. Full folding differs from lower-casing for
/// a handful of characters; the ones met in practice (ß, the long s, ligatures, final sigma)
/// are folded here, everything else is lower-cased.
fn case_fold(s: &str) -> String {
    let mut folded = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            'ß' | 'ẞ' => folded.push_str("ss"),
            'ſ' => folded.push('s'),
            'ς' => folded.push('σ'),
            'ﬀ' => folded.push_str("ff"),
            'ﬁ' => folded.push_str("fi"),
            'ﬂ' => folded.push_str("fl"),
            'ﬃ' => folded.push_str("ffi"),
            'ﬄ' => folded.push_str("ffl"),
            'ﬅ' | 'ﬆ' => folded.push_str("st"),
            _ => folded.extend(c.to_lowercase()),
        }
    }
    folded
}

/// Title case as Kriti's host library does it: only whitespace starts a word; the first
/// character of a word is title-cased (and it stays the start while it is not a letter), the
/// rest lower-cased. So `"hELLO wORLD"` is `"Hello World"`, `"x-y"` is `"X-y"`.
fn title_case(s: &str) -> String {
    let mut titled = String::with_capacity(s.len());
    let mut in_word = false;
    for c in s.chars() {
        if c.is_whitespace() {
            titled.push(c);
            in_word = false;
        } else if in_word {
            titled.extend(c.to_lowercase());
        } else {
            // Rust has no title-case mapping; upper case is the same for every letter but
            // a few digraphs (ǆ, ǉ, ǌ, ǳ).
            titled.extend(c.to_uppercase());
            in_word = c.is_alphabetic();
        }
    }
    titled
}

/// Percent-encodes everything but RFC 3986's unreserved characters (`A-Za-z0-9-._~`).
pub fn escape_uri(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, UNRESERVED_KEPT).to_string()
}

const UNRESERVED_KEPT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn from_pairs(value: &Value) -> Result<Value, String> {
    const SHAPE: &str = "expected an array of shape [[k1, v1], [k2, v2], …] with string keys";
    let Value::Array(pairs) = value else {
        return Err(SHAPE.into());
    };
    let mut object = Map::new();
    for pair in pairs {
        match pair.as_array().map(Vec::as_slice) {
            Some([Value::String(key), value]) => {
                object.insert(key.clone(), value.clone());
            }
            _ => return Err(SHAPE.into()),
        }
    }
    Ok(Value::Object(object))
}

fn to_pairs(value: &Value) -> Result<Value, String> {
    match value {
        Value::Object(fields) => Ok(Value::Array(
            fields
                .iter()
                .map(|(key, value)| Value::Array(vec![Value::String(key.clone()), value.clone()]))
                .collect(),
        )),
        _ => Err("expected an object".into()),
    }
}

fn remove_nulls(value: &Value) -> Result<Value, String> {
    match value {
        Value::Array(items) => Ok(Value::Array(
            items
                .iter()
                .filter(|item| !item.is_null())
                .cloned()
                .collect(),
        )),
        _ => Err("expected an array".into()),
    }
}

/// An array of strings joined, of arrays flattened, or of objects merged (later keys win).
fn concat(value: &Value) -> Result<Value, String> {
    const SHAPE: &str = "expected an array of strings, of arrays or of objects";
    let Value::Array(items) = value else {
        return Err(SHAPE.into());
    };
    match items.first() {
        None => Ok(Value::Array(Vec::new())),
        Some(Value::String(_)) => items
            .iter()
            .map(|item| item.as_str().ok_or(SHAPE))
            .collect::<Result<String, _>>()
            .map(Value::String)
            .map_err(str::to_owned),
        Some(Value::Array(_)) => {
            let mut joined = Vec::new();
            for item in items {
                joined.extend(item.as_array().ok_or(SHAPE)?.iter().cloned());
            }
            Ok(Value::Array(joined))
        }
        Some(Value::Object(_)) => {
            let mut merged = Map::new();
            for item in items {
                for (key, value) in item.as_object().ok_or(SHAPE)? {
                    merged.insert(key.clone(), value.clone());
                }
            }
            Ok(Value::Object(merged))
        }
        Some(_) => Err(SHAPE.into()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn call(name: &str, argument: Value) -> Result<Value, String> {
        basic(name, &argument).expect("a basic function")
    }

    #[test]
    fn each_function_as_documented() {
        assert_eq!(call("empty", json!({"a": 1})), Ok(json!(false)));
        assert_eq!(call("empty", json!("  ")), Ok(json!(true)));
        assert_eq!(call("empty", json!(0)), Ok(json!(true)));
        assert_eq!(call("empty", json!(null)), Ok(json!(true)));
        assert!(call("empty", json!(true)).is_err());
        assert_eq!(call("size", json!("asdf")), Ok(json!(4)));
        assert_eq!(call("size", json!(true)), Ok(json!(1)));
        assert_eq!(call("size", json!(null)), Ok(json!(0)));
        assert_eq!(call("size", json!(7)), Ok(json!(7)));
        assert_eq!(call("inverse", json!(4)), Ok(json!(0.25)));
        assert_eq!(call("inverse", json!([1, 2, 3])), Ok(json!([3, 2, 1])));
        assert_eq!(call("inverse", json!("asdf")), Ok(json!("fdsa")));
        assert_eq!(call("inverse", json!(true)), Ok(json!(false)));
        assert!(call("inverse", json!(0)).is_err());
        assert_eq!(call("head", json!("asdf")), Ok(json!("a")));
        assert!(call("head", json!([])).is_err());
        assert!(call("head", json!(1)).is_err());
        assert_eq!(call("tail", json!([1, 2, 3])), Ok(json!([2, 3])));
        assert_eq!(call("tail", json!("")), Ok(json!("")));
        assert_eq!(call("toCaseFold", json!("Straße")), Ok(json!("strasse")));
        assert_eq!(call("toLower", json!("AbCd")), Ok(json!("abcd")));
        assert_eq!(call("toUpper", json!("AbCd")), Ok(json!("ABCD")));
        assert_eq!(
            call("toTitle", json!("hELLO wORLD")),
            Ok(json!("Hello World"))
        );
        assert_eq!(call("toTitle", json!("x-y 1st")), Ok(json!("X-y 1St")));
        assert!(call("toLower", json!(1)).is_err());
        assert_eq!(
            call("escapeUri", json!("?foo=bar/baz é~")),
            Ok(json!("%3Ffoo%3Dbar%2Fbaz%20%C3%A9~"))
        );
        assert_eq!(
            call("fromPairs", json!([["a", 1], ["b", 2]])),
            Ok(json!({"a": 1, "b": 2}))
        );
        assert!(call("fromPairs", json!([[1, 2]])).is_err());
        assert_eq!(
            call("toPairs", json!({"a": 1, "b": 2})),
            Ok(json!([["a", 1], ["b", 2]]))
        );
        assert_eq!(call("removeNulls", json!([1, null, 3])), Ok(json!([1, 3])));
        assert!(call("removeNulls", json!({})).is_err());
        assert_eq!(call("concat", json!([[1, 2], [3]])), Ok(json!([1, 2, 3])));
        assert_eq!(call("concat", json!(["ab", "c"])), Ok(json!("abc")));
        assert_eq!(
            call("concat", json!([{"a": 1, "b": 2}, {"b": 3}])),
            Ok(json!({"a": 1, "b": 3}))
        );
        assert!(call("concat", json!(["a", [1]])).is_err());
        assert_eq!(call("not", json!(false)), Ok(json!(true)));
        assert!(basic("nope", &json!(1)).is_none());
    }
}
