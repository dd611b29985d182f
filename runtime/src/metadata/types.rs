//! GraphQL type expressions (`[UserInfo!]!`) and the scalars every schema has.

pub use async_graphql_parser::types::{BaseType, Type};

/// The GraphQL built-in scalars.
pub const GRAPHQL_SCALARS: [&str; 5] = ["Int", "Float", "String", "Boolean", "ID"];

/// The scalars of a Hasura project's Postgres source, by the names Hasura's schema gives them:
/// actions may use them without declaring them (a Hasura action's types resolve against its
/// database's types). Hasura reads the set from `pg_catalog.pg_type`; with no database here,
/// it is PostgreSQL's built-in base types and those of the common extensions (PostGIS,
/// `citext`, `ltree`), each under the names Hasura accepts for it. Values pass through
/// unchecked, as for any custom scalar.
pub const POSTGRES_SCALARS: [&str; 58] = [
    "bigint",
    "bigserial",
    "bit",
    "bool",
    "boolean",
    "box",
    "bpchar",
    "bytea",
    "char",
    "cidr",
    "circle",
    "citext",
    "date",
    "decimal",
    "float4",
    "float8",
    "geography",
    "geometry",
    "inet",
    "int",
    "int2",
    "int4",
    "int8",
    "integer",
    "interval",
    "json",
    "jsonb",
    "line",
    "lquery",
    "lseg",
    "ltree",
    "ltxtquery",
    "macaddr",
    "macaddr8",
    "money",
    "name",
    "numeric",
    "oid",
    "path",
    "point",
    "polygon",
    "raster",
    "real",
    "serial",
    "smallint",
    "smallserial",
    "text",
    "time",
    "timestamp",
    "timestamptz",
    "timetz",
    "tsquery",
    "tsvector",
    "uuid",
    "varbit",
    "varchar",
    "xid",
    "xml",
];

/// Parses a type expression such as `String!` or `[UserInfo!]`.
pub fn parse(expression: &str) -> Option<Type> {
    let ty = Type::new(expression.trim())?;
    valid_names(&ty).then_some(ty)
}

fn valid_names(ty: &Type) -> bool {
    match &ty.base {
        BaseType::Named(name) => is_valid_name(name),
        BaseType::List(inner) => valid_names(inner),
    }
}

/// The named type at the bottom of a type expression.
pub fn innermost(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => innermost(inner),
    }
}

/// Whether `name` is a GraphQL name that a user may define (`__` is reserved for introspection).
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    let starts_well = chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic());
    starts_well && chars.all(|c| c == '_' || c.is_ascii_alphanumeric()) && !name.starts_with("__")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_lists_and_non_null() {
        let ty = parse("[UserInfo!]!").expect("valid");
        assert!(!ty.nullable);
        assert_eq!(innermost(&ty), "UserInfo");
        assert_eq!(ty.to_string(), "[UserInfo!]!");
    }

    #[test]
    fn rejects_malformed_expressions() {
        for bad in ["", "[String", "String!!", "1abc", "[]", "Str ing", "__Type"] {
            assert!(parse(bad).is_none(), "{bad} should not parse");
        }
    }
}
