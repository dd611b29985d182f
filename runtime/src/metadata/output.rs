//! Checks a handler's output against the action's declared output type before anything is
//! stored as a success or shown to a client. Extra object fields are allowed (and ignored by
//! GraphQL), as in Hasura; missing non-null fields and wrong shapes are not.

use serde_json::Value;

use super::Catalog;
use super::types::{BaseType, Type};
use super::validate::{ScalarKind, TypeDef};

/// `Ok` when `value` fits `ty`; otherwise where and why it does not.
pub fn check(catalog: &Catalog, ty: &Type, value: &Value) -> Result<(), String> {
    check_at(catalog, ty, value, &mut String::from("$"))
}

fn check_at(catalog: &Catalog, ty: &Type, value: &Value, path: &mut String) -> Result<(), String> {
    if value.is_null() {
        return if ty.nullable {
            Ok(())
        } else {
            Err(format!("{path}: expected a non-null {ty}, got null"))
        };
    }
    match &ty.base {
        BaseType::List(inner) => {
            let Value::Array(items) = value else {
                return Err(format!(
                    "{path}: expected a list {ty}, got {}",
                    describe(value)
                ));
            };
            for (index, item) in items.iter().enumerate() {
                let mark = path.len();
                path.push_str(&format!("[{index}]"));
                check_at(catalog, inner, item, path)?;
                path.truncate(mark);
            }
            Ok(())
        }
        BaseType::Named(name) => match catalog.type_def(name) {
            Some(TypeDef::Scalar(kind)) => check_scalar(*kind, name, value, path),
            Some(TypeDef::Enum(values)) => match value.as_str() {
                Some(text) if values.contains(text) => Ok(()),
                _ => Err(format!(
                    "{path}: expected a value of enum {name}, got {value}"
                )),
            },
            Some(TypeDef::Object(fields)) => {
                let Value::Object(object) = value else {
                    return Err(format!(
                        "{path}: expected object {name}, got {}",
                        describe(value)
                    ));
                };
                for (field, field_ty) in fields {
                    let mark = path.len();
                    path.push('.');
                    path.push_str(field);
                    check_at(
                        catalog,
                        field_ty,
                        object.get(field).unwrap_or(&Value::Null),
                        path,
                    )?;
                    path.truncate(mark);
                }
                Ok(())
            }
            Some(TypeDef::InputObject(_)) | None => {
                Err(format!("{path}: type {name} cannot be an output"))
            }
        },
    }
}

fn check_scalar(kind: ScalarKind, name: &str, value: &Value, path: &str) -> Result<(), String> {
    let fits = match kind {
        ScalarKind::Int => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        ScalarKind::Float => value.is_number(),
        ScalarKind::String => value.is_string(),
        ScalarKind::Boolean => value.is_boolean(),
        ScalarKind::Id => value.is_string() || value.is_i64() || value.is_u64(),
        ScalarKind::Any => true,
    };
    if fits {
        Ok(())
    } else {
        Err(format!("{path}: expected {name}, got {}", describe(value)))
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
        assert!(missing.starts_with("$.accessToken"), "{missing}");
        let deep = check(
            &c,
            &ty("UserInfo!"),
            &json!({"accessToken": "t", "tags": [{"n": "x"}]}),
        );
        assert!(deep.expect_err("wrong").starts_with("$.tags[0].n"));
        assert!(check(&c, &ty("UserInfo!"), &json!(null)).is_err());
        assert!(check(&c, &ty("UserInfo"), &json!([1])).is_err());
        assert!(check(&c, &ty("Tag"), &json!({"n": 3_000_000_000_i64})).is_err());
    }
}
