//! `actions.graphql`: action signatures and custom types written as GraphQL SDL, the way
//! Hasura's metadata directory keeps them.

use std::fmt::Write;

use async_graphql_parser::types::{TypeKind, TypeSystemDefinition};

use super::{
    Argument, CustomTypes, EnumType, EnumValue, Field, InputObjectType, Metadata, MetadataError,
    ObjectType, Operation, ScalarType,
};

/// An action's signature as declared on `type Mutation` / `type Query`.
#[derive(Debug, Clone, PartialEq)]
pub struct Signature {
    pub operation: Operation,
    pub name: String,
    pub arguments: Vec<Argument>,
    pub output_type: String,
    pub description: Option<String>,
}

/// What an `actions.graphql` file declares.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SdlDocument {
    pub signatures: Vec<Signature>,
    pub custom_types: CustomTypes,
    /// Interfaces, which Hasura's loader passes over: custom types cannot be interfaces, and
    /// an object type that implements one keeps its own fields.
    pub ignored_interfaces: Vec<String>,
}

fn unsupported(file: &str, what: String) -> MetadataError {
    MetadataError::new("not-supported", file, what)
}

/// Parses `text`; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<SdlDocument, MetadataError> {
    let document = async_graphql_parser::parse_schema(text)
        .map_err(|e| MetadataError::new("parse-failed", file, e.to_string()))?;
    let mut parsed = SdlDocument::default();
    for definition in document.definitions {
        let TypeSystemDefinition::Type(definition) = definition else {
            return Err(unsupported(
                file,
                "only type definitions are allowed".into(),
            ));
        };
        let definition = definition.node;
        let name = definition.name.node.to_string();
        let description = definition.description.map(|d| d.node);
        let root = match name.as_str() {
            "Mutation" => Some(Operation::Mutation),
            "Query" => Some(Operation::Query),
            _ => None,
        };
        match (definition.kind, root) {
            (TypeKind::Object(object), Some(operation)) => {
                for field in object.fields {
                    let field = field.node;
                    let mut arguments = Vec::new();
                    for argument in field.arguments {
                        let argument = argument.node;
                        if argument.default_value.is_some() {
                            return Err(unsupported(
                                file,
                                format!("argument '{}' has a default value", argument.name.node),
                            ));
                        }
                        arguments.push(Argument {
                            name: argument.name.node.to_string(),
                            ty: argument.ty.node.to_string(),
                            description: argument.description.map(|d| d.node),
                        });
                    }
                    parsed.signatures.push(Signature {
                        operation,
                        name: field.name.node.to_string(),
                        arguments,
                        output_type: field.ty.node.to_string(),
                        description: field.description.map(|d| d.node),
                    });
                }
            }
            (TypeKind::Scalar, None) => {
                parsed
                    .custom_types
                    .scalars
                    .push(ScalarType { name, description });
            }
            (TypeKind::Enum(enumeration), None) => {
                let values = enumeration
                    .values
                    .into_iter()
                    .map(|value| EnumValue {
                        value: value.node.value.node.to_string(),
                        description: value.node.description.map(|d| d.node),
                        is_deprecated: value
                            .node
                            .directives
                            .iter()
                            .any(|d| d.node.name.node == "deprecated"),
                    })
                    .collect();
                parsed.custom_types.enums.push(EnumType {
                    name,
                    description,
                    values,
                });
            }
            (TypeKind::Object(object), None) => {
                let mut fields = Vec::new();
                for field in object.fields {
                    let field = field.node;
                    if !field.arguments.is_empty() {
                        return Err(unsupported(
                            file,
                            format!("field '{name}.{}' takes arguments", field.name.node),
                        ));
                    }
                    fields.push(Field {
                        name: field.name.node.to_string(),
                        ty: field.ty.node.to_string(),
                        description: field.description.map(|d| d.node),
                    });
                }
                parsed.custom_types.objects.push(ObjectType {
                    name,
                    description,
                    fields,
                    relationships: Vec::new(),
                });
            }
            (TypeKind::InputObject(input), None) => {
                let fields = input
                    .fields
                    .into_iter()
                    .map(|field| Field {
                        name: field.node.name.node.to_string(),
                        ty: field.node.ty.node.to_string(),
                        description: field.node.description.map(|d| d.node),
                    })
                    .collect();
                parsed.custom_types.input_objects.push(InputObjectType {
                    name,
                    description,
                    fields,
                });
            }
            (_, Some(_)) => {
                return Err(unsupported(
                    file,
                    format!("'{name}' must be an object type"),
                ));
            }
            (TypeKind::Interface(_), None) => parsed.ignored_interfaces.push(name),
            (_, None) => {
                return Err(unsupported(
                    file,
                    format!("type '{name}': unions are not supported"),
                ));
            }
        }
    }
    Ok(parsed)
}

/// Renders the actions and custom types of `metadata` as `actions.graphql`.
pub fn render(metadata: &Metadata) -> String {
    let mut out = String::new();
    for (operation, root) in [
        (Operation::Query, "Query"),
        (Operation::Mutation, "Mutation"),
    ] {
        let actions: Vec<_> = metadata
            .actions
            .iter()
            .filter(|action| action.definition.operation == operation)
            .collect();
        if actions.is_empty() {
            continue;
        }
        let _ = writeln!(out, "type {root} {{");
        for action in actions {
            describe(&mut out, "  ", &action.comment);
            let definition = &action.definition;
            let arguments: Vec<String> = definition
                .arguments
                .iter()
                .map(|a| format!("{}: {}", a.name, a.ty))
                .collect();
            let signature = if arguments.is_empty() {
                String::new()
            } else {
                format!("({})", arguments.join(", "))
            };
            let _ = writeln!(
                out,
                "  {}{signature}: {}",
                action.name, definition.output_type
            );
        }
        out.push_str("}\n\n");
    }
    let custom = &metadata.custom_types;
    for scalar in &custom.scalars {
        describe(&mut out, "", &scalar.description);
        let _ = writeln!(out, "scalar {}\n", scalar.name);
    }
    for enumeration in &custom.enums {
        describe(&mut out, "", &enumeration.description);
        let _ = writeln!(out, "enum {} {{", enumeration.name);
        for value in &enumeration.values {
            describe(&mut out, "  ", &value.description);
            let deprecated = if value.is_deprecated {
                " @deprecated"
            } else {
                ""
            };
            let _ = writeln!(out, "  {}{deprecated}", value.value);
        }
        out.push_str("}\n\n");
    }
    let objects = custom
        .objects
        .iter()
        .map(|o| ("type", &o.name, &o.description, &o.fields));
    let inputs = custom
        .input_objects
        .iter()
        .map(|o| ("input", &o.name, &o.description, &o.fields));
    for (keyword, name, description, fields) in inputs.chain(objects) {
        describe(&mut out, "", description);
        let _ = writeln!(out, "{keyword} {name} {{");
        for field in fields {
            describe(&mut out, "  ", &field.description);
            let _ = writeln!(out, "  {}: {}", field.name, field.ty);
        }
        out.push_str("}\n\n");
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out.push('\n');
    out
}

fn describe(out: &mut String, indent: &str, description: &Option<String>) {
    if let Some(text) = description {
        let _ = writeln!(
            out,
            "{indent}\"\"\"{}\"\"\"",
            text.replace("\"\"\"", "\\\"\"\"")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDL: &str = r#"
        type Mutation {
          """Log a user in"""
          userLogin(username: String!, password: String!): UserInfo
        }
        extend type Query { whoami: [UserInfo!]! }
        scalar Email
        enum Role { admin user @deprecated }
        input Credentials { username: String!, password: String! }
        type UserInfo { accessToken: String!, userId: Int!, roles: [Role!] }
    "#;

    #[test]
    fn parses_signatures_and_every_kind_of_custom_type() {
        let parsed = parse(SDL, "actions.graphql").expect("parses");
        let login = &parsed.signatures[0];
        assert_eq!(
            (login.operation, login.name.as_str()),
            (Operation::Mutation, "userLogin")
        );
        assert_eq!(login.arguments[1].ty, "String!");
        assert_eq!(login.description.as_deref(), Some("Log a user in"));
        assert_eq!(parsed.signatures[1].operation, Operation::Query);
        assert_eq!(parsed.signatures[1].output_type, "[UserInfo!]!");
        let types = &parsed.custom_types;
        assert_eq!(types.scalars[0].name, "Email");
        assert!(types.enums[0].values[1].is_deprecated);
        assert_eq!(types.input_objects[0].fields.len(), 2);
        assert_eq!(types.objects[0].fields[2].ty, "[Role!]");
    }

    #[test]
    fn rejects_what_actions_cannot_express() {
        for bad in [
            "type Mutation { a(x: Int = 3): Int }",
            "union U = A | B",
            "type T { f(x: Int): Int }",
            "directive @x on FIELD",
            "type Mutation {",
        ] {
            assert!(parse(bad, "actions.graphql").is_err(), "{bad}");
        }
    }

    #[test]
    fn passes_over_interfaces_as_hasuras_loader_does() {
        let parsed = parse(
            "interface Node { id: ID! }\ntype T implements Node { id: ID! }",
            "actions.graphql",
        )
        .expect("parses");
        assert_eq!(parsed.ignored_interfaces, ["Node"]);
        assert_eq!(parsed.custom_types.objects[0].name, "T");
    }
}
