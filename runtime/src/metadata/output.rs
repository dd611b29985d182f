//! Checks a handler's output against the action's declared output type before anything is
//! stored as a success or shown to a client. Extra object fields are allowed (and ignored by
//! GraphQL), as in Hasura; missing non-null fields and wrong shapes are not. A failure carries
//! the message Hasura gives for it, and a precise path-based detail for operators.

use serde_json::Value;

use super::Catalog;
use super::types::{BaseType, Type};
use super::validate::{ScalarKind, TypeDef};

/// Why an output does not fit its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct OutputError {
    /// What a client is told, in Hasura's words.
    pub message: String,
    /// Where and why, for the attempt record and admins.
    pub detail: String,
}

/// `Ok` when `value` fits `ty`; otherwise where and why it does not.
pub fn check(catalog: &Catalog, ty: &Type, value: &Value) -> Result<(), OutputError> {
    check_at(catalog, ty, value, &mut String::from("$"), None)
}

/// How Hasura names a JSON value's kind in its messages.
fn kind_of(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Array(_) => "array".into(),
        Value::Object(_) => "object".into(),
        Value::String(_) => "scalar String".into(),
        Value::Number(_) => "scalar Number".into(),
        Value::Bool(_) => "scalar Boolean".into(),
    }
}

/// The type's innermost name, as Hasura's messages give it.
fn named(ty: &Type) -> String {
    match &ty.base {
        BaseType::Named(name) => name.to_string(),
        BaseType::List(inner) => named(inner),
    }
}

/// `value` at `path` is checked against `ty`; `field` is the object field it sits in, if any
/// (Hasura's messages name it).
fn check_at(
    catalog: &Catalog,
    ty: &Type,
    value: &Value,
    path: &mut String,
    field: Option<(&str, bool)>,
) -> Result<(), OutputError> {
    let fail = |message: String, detail: String| Err(OutputError { message, detail });
    if value.is_null() {
        if ty.nullable {
            return Ok(());
        }
        let detail = format!("{path}: expected a non-null {ty}, got null");
        return match field {
            Some((name, true)) => fail(
                format!("expecting not null value for field \"{name}\""),
                detail,
            ),
            Some((name, false)) => fail(
                format!("field \"{name}\" expected in webhook response, but not found"),
                detail,
            ),
            None => fail("got null for the action webhook response".into(), detail),
        };
    }
    match &ty.base {
        BaseType::List(inner) => {
            let Value::Array(items) = value else {
                return fail(
                    "expecting array for the action webhook response".into(),
                    format!("{path}: expected a list {ty}, got {}", describe(value)),
                );
            };
            for (index, item) in items.iter().enumerate() {
                let mark = path.len();
                path.push_str(&format!("[{index}]"));
                check_at(catalog, inner, item, path, None)?;
                path.truncate(mark);
            }
            Ok(())
        }
        BaseType::Named(name) => {
            let mismatch = |expected: &str| OutputError {
                message: format!(
                    "got {} for the action webhook response, expecting {}",
                    kind_of(value),
                    named(ty)
                ),
                detail: format!("{path}: expected {expected}, got {}", describe(value)),
            };
            if value.is_array() {
                return Err(mismatch(&format!("{name}")));
            }
            match catalog.type_def(name) {
                Some(TypeDef::Scalar(kind)) => check_scalar(*kind, value)
                    .then_some(())
                    .ok_or_else(|| mismatch(name)),
                Some(TypeDef::Enum(values)) => match value.as_str() {
                    Some(text) if values.contains(text) => Ok(()),
                    _ => Err(OutputError {
                        message: format!(
                            "got {value} for the action webhook response, expecting enum {name}"
                        ),
                        detail: format!("{path}: expected a value of enum {name}, got {value}"),
                    }),
                },
                Some(TypeDef::Object(fields)) => {
                    let Value::Object(object) = value else {
                        return Err(mismatch(&format!("object {name}")));
                    };
                    for (field_name, field_ty) in fields {
                        let mark = path.len();
                        path.push('.');
                        path.push_str(field_name);
                        let present = object.get(field_name);
                        check_at(
                            catalog,
                            field_ty,
                            present.unwrap_or(&Value::Null),
                            path,
                            Some((field_name, present.is_some())),
                        )?;
                        path.truncate(mark);
                    }
                    Ok(())
                }
                Some(TypeDef::InputObject(_)) | None => fail(
                    format!("type {name} cannot be an output"),
                    format!("{path}: type {name} cannot be an output"),
                ),
            }
        }
    }
}

/// Whether `value` is a value of a scalar of this kind.
fn check_scalar(kind: ScalarKind, value: &Value) -> bool {
    match kind {
        ScalarKind::Int => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        ScalarKind::Float => value.is_number(),
        ScalarKind::String => value.is_string(),
        ScalarKind::Boolean => value.is_boolean(),
        ScalarKind::Id => value.is_string() || value.is_i64() || value.is_u64(),
        ScalarKind::Any => true,
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::Environment;
    use crate::metadata::{CustomTypes, Field, Metadata, ObjectType, validate};

    fn catalog() -> Catalog {
        let field = |name: &str, ty: &str| Field {
            name: name.into(),
            ty: ty.into(),
            description: None,
        };
        let metadata = Metadata {
            custom_types: CustomTypes {
                objects: vec![
                    ObjectType {
                        name: "UserInfo".into(),
                        description: None,
                        fields: vec![field("accessToken", "String!"), field("tags", "[Tag!]")],
                        relationships: Vec::new(),
                    },
                    ObjectType {
                        name: "Tag".into(),
                        description: None,
                        fields: vec![field("n", "Int!")],
                        relationships: Vec::new(),
                    },
                ],
                ..CustomTypes::default()
            },
            ..Metadata::empty()
        };
        validate(&metadata, &Environment::default(), &Default::default()).expect("valid")
    }

    fn ty(expression: &str) -> Type {
        crate::metadata::types::parse(expression).expect("type")
    }

    #[test]
    fn accepts_matching_output_and_ignores_extra_fields() {
        let value = json!({"accessToken": "t", "tags": [{"n": 1}], "extra": true});
        assert_eq!(check(&catalog(), &ty("UserInfo"), &value), Ok(()));
        assert_eq!(
            check(&catalog(), &ty("[UserInfo]!"), &json!([null])),
            Ok(())
        );
    }

    #[test]
    fn names_the_path_of_the_first_mismatch() {
        let c = catalog();
        let missing = check(&c, &ty("UserInfo"), &json!({"tags": []})).expect_err("missing");
        assert!(missing.detail.starts_with("$.accessToken"), "{missing}");
        let deep = check(
            &c,
            &ty("UserInfo!"),
            &json!({"accessToken": "t", "tags": [{"n": "x"}]}),
        );
        assert!(deep.expect_err("wrong").detail.starts_with("$.tags[0].n"));
        assert!(check(&c, &ty("UserInfo!"), &json!(null)).is_err());
        assert!(check(&c, &ty("UserInfo"), &json!([1])).is_err());
        assert!(check(&c, &ty("Tag"), &json!({"n": 3_000_000_000_i64})).is_err());
    }

    #[test]
    fn tells_clients_what_hasura_tells_them() {
        let c = catalog();
        let message = |ty_text: &str, value: Value| {
            check(&c, &ty(ty_text), &value)
                .expect_err("mismatch")
                .message
        };
        assert_eq!(
            message("UserInfo!", json!(null)),
            "got null for the action webhook response"
        );
        assert_eq!(
            message("UserInfo", json!({"accessToken": null})),
            "expecting not null value for field \"accessToken\""
        );
        assert_eq!(
            message("UserInfo", json!({})),
            "field \"accessToken\" expected in webhook response, but not found"
        );
        assert_eq!(
            message("[UserInfo]", json!({})),
            "expecting array for the action webhook response"
        );
        assert_eq!(
            message("UserInfo", json!([])),
            "got array for the action webhook response, expecting UserInfo"
        );
        assert_eq!(
            message("String", json!({})),
            "got object for the action webhook response, expecting String"
        );
        assert_eq!(
            message("[Int]", json!(["x"])),
            "got scalar String for the action webhook response, expecting Int"
        );
    }
}
