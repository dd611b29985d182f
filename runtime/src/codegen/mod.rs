//! `hookwing codegen`: the types of an action's arguments and output, written out for the
//! languages handlers are written in — Rust for `hookwing-sdk` components, TypeScript and
//! Python for webhooks — each with a handler skeleton that compiles and answers "not
//! implemented" until it is filled in. Generated from metadata alone (stored or a
//! directory's), so it works before any handler is uploaded.
//!
//! Every emitter reads the same [`Model`]: the actions asked for and the named types they
//! reach, in a stable order, so the output is deterministic and golden-file tested.

mod python;
mod rust;
mod typescript;

use std::collections::{BTreeMap, BTreeSet};

use crate::metadata::types::{self, BaseType, GRAPHQL_SCALARS, POSTGRES_SCALARS, Type};
use crate::metadata::{Metadata, Operation};

pub use rust::{scaffold_crate, types as rust_types};

/// A language code is generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Rust,
    Typescript,
    Python,
}

/// Why code could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    #[error("no action `{0}` in the metadata")]
    NoSuchAction(String),
    #[error("the metadata has no actions")]
    NoActions,
    #[error("action `{action}`: `{expression}` is not a valid type")]
    InvalidType { action: String, expression: String },
    #[error("type `{0}` is used but not declared in custom_types")]
    UndeclaredType(String),
}

/// What a named type is, for the emitters.
#[derive(Debug, Clone, PartialEq)]
pub enum Named {
    /// A GraphQL built-in or a Postgres scalar: mapped by each language (see `scalar_kind`).
    Builtin(&'static str),
    /// A scalar declared in `custom_types`: any JSON value.
    CustomScalar,
    Enum(Vec<String>),
    Object(Vec<(String, Type)>),
    InputObject(Vec<(String, Type)>),
}

/// How a built-in scalar is represented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarKind {
    /// GraphQL `Int` and Postgres 2- and 4-byte integers.
    Int32,
    /// Postgres 8-byte integers (`bigint`, `int8`, `bigserial`).
    Int64,
    Float,
    /// `numeric`, `decimal`, `money`: a JSON number of any precision.
    Decimal,
    Boolean,
    /// Text, identifiers, times and dates (RFC 3339 / ISO 8601 strings), UUIDs, network
    /// addresses, bit strings, `bytea` (hex text).
    Text,
    /// `json`, `jsonb`, geometry and the other structured types: any JSON value.
    Json,
}

/// The representation of built-in scalar `name` (a GraphQL built-in or a Postgres scalar).
pub fn scalar_kind(name: &str) -> ScalarKind {
    match name {
        "Int" | "int" | "int2" | "int4" | "integer" | "smallint" | "serial" | "smallserial" => {
            ScalarKind::Int32
        }
        "bigint" | "int8" | "bigserial" => ScalarKind::Int64,
        "Float" | "float4" | "float8" | "real" => ScalarKind::Float,
        "numeric" | "decimal" | "money" => ScalarKind::Decimal,
        "Boolean" | "bool" | "boolean" => ScalarKind::Boolean,
        "json" | "jsonb" | "geography" | "geometry" | "raster" | "box" | "circle" | "line"
        | "lseg" | "path" | "point" | "polygon" => ScalarKind::Json,
        _ => ScalarKind::Text,
    }
}

/// One action, with its types parsed.
#[derive(Debug, Clone)]
pub struct ActionModel {
    pub name: String,
    pub operation: Operation,
    pub asynchronous: bool,
    pub description: Option<String>,
    pub arguments: Vec<(String, Type)>,
    pub output: Type,
}

/// The actions asked for and every named type they reach.
#[derive(Debug, Clone)]
pub struct Model {
    pub actions: Vec<ActionModel>,
    /// Declared types the actions reach (built-ins are not listed), by name.
    pub types: BTreeMap<String, Named>,
}

impl Model {
    /// The model of `only` (every action when `None`) in `metadata`.
    pub fn new(metadata: &Metadata, only: Option<&str>) -> Result<Self, CodegenError> {
        let chosen: Vec<_> = match only {
            Some(name) => vec![
                metadata
                    .actions
                    .iter()
                    .find(|a| a.name == name)
                    .ok_or_else(|| CodegenError::NoSuchAction(name.to_owned()))?,
            ],
            None if metadata.actions.is_empty() => return Err(CodegenError::NoActions),
            None => metadata.actions.iter().collect(),
        };
        let declared = declared_types(metadata)?;
        let mut actions = Vec::new();
        let mut reached = BTreeSet::new();
        for action in chosen {
            let parse = |expression: &str| {
                types::parse(expression).ok_or_else(|| CodegenError::InvalidType {
                    action: action.name.clone(),
                    expression: expression.to_owned(),
                })
            };
            let arguments = action
                .definition
                .arguments
                .iter()
                .map(|argument| Ok((argument.name.clone(), parse(&argument.ty)?)))
                .collect::<Result<Vec<_>, CodegenError>>()?;
            let output = parse(&action.definition.output_type)?;
            for ty in arguments.iter().map(|(_, ty)| ty).chain([&output]) {
                reach(ty, &declared, &mut reached)?;
            }
            actions.push(ActionModel {
                name: action.name.clone(),
                operation: action.definition.operation,
                asynchronous: action.definition.kind == crate::metadata::ActionKind::Asynchronous,
                description: action.comment.clone(),
                arguments,
                output,
            });
        }
        let types = declared
            .into_iter()
            .filter(|(name, _)| reached.contains(name))
            .collect();
        Ok(Self { actions, types })
    }

    /// What `name` is: declared, or built in.
    pub fn named(&self, name: &str) -> Named {
        self.types
            .get(name)
            .cloned()
            .unwrap_or_else(|| Named::Builtin(builtin(name).unwrap_or("String")))
    }
}

/// The built-in scalar called `name`, if it is one.
fn builtin(name: &str) -> Option<&'static str> {
    GRAPHQL_SCALARS
        .iter()
        .chain(POSTGRES_SCALARS.iter())
        .find(|s| **s == name)
        .copied()
}

/// The named type at the bottom of `ty`'s lists.
pub fn base_name(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => base_name(inner),
    }
}

fn declared_types(metadata: &Metadata) -> Result<BTreeMap<String, Named>, CodegenError> {
    let custom = &metadata.custom_types;
    let mut declared = BTreeMap::new();
    let fields = |fields: &[crate::metadata::Field], owner: &str| {
        fields
            .iter()
            .map(|field| {
                types::parse(&field.ty)
                    .map(|ty| (field.name.clone(), ty))
                    .ok_or_else(|| CodegenError::InvalidType {
                        action: owner.to_owned(),
                        expression: field.ty.clone(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()
    };
    for scalar in &custom.scalars {
        declared.insert(scalar.name.clone(), Named::CustomScalar);
    }
    for enumeration in &custom.enums {
        let values = enumeration.values.iter().map(|v| v.value.clone()).collect();
        declared.insert(enumeration.name.clone(), Named::Enum(values));
    }
    for object in &custom.objects {
        declared.insert(
            object.name.clone(),
            Named::Object(fields(&object.fields, &object.name)?),
        );
    }
    for input in &custom.input_objects {
        declared.insert(
            input.name.clone(),
            Named::InputObject(fields(&input.fields, &input.name)?),
        );
    }
    Ok(declared)
}

/// Adds the declared types `ty` reaches, through object and input object fields, to `reached`.
fn reach(
    ty: &Type,
    declared: &BTreeMap<String, Named>,
    reached: &mut BTreeSet<String>,
) -> Result<(), CodegenError> {
    let name = base_name(ty);
    match declared.get(name) {
        None if builtin(name).is_some() => Ok(()),
        None => Err(CodegenError::UndeclaredType(name.to_owned())),
        Some(named) => {
            if !reached.insert(name.to_owned()) {
                return Ok(());
            }
            if let Named::Object(fields) | Named::InputObject(fields) = named {
                for (_, field) in fields {
                    reach(field, declared, reached)?;
                }
            }
            Ok(())
        }
    }
}

/// How one language writes each kind of declaration; [`declarations`] walks the model.
trait Emitter {
    /// A record type of `fields` (an action's arguments, an object or an input object).
    fn record(
        &self,
        out: &mut String,
        model: &Model,
        doc: &str,
        name: &str,
        fields: &[(String, Type)],
    );
    /// An enum `name` (GraphQL name `graphql`) of `values`.
    fn enumeration(&self, out: &mut String, graphql: &str, name: &str, values: &[String]);
    /// A custom scalar `name` (GraphQL name `graphql`): any JSON value.
    fn scalar(&self, out: &mut String, graphql: &str, name: &str);
}

/// Every declaration `model` needs, in order: each action's arguments, then the named types.
fn declarations(out: &mut String, model: &Model, emitter: &impl Emitter) {
    for action in &model.actions {
        emitter.record(
            out,
            model,
            &format!("The arguments of `{}`.", action.name),
            &format!("{}Args", pascal_case(&action.name)),
            &action.arguments,
        );
    }
    for (graphql, named) in &model.types {
        let name = pascal_case(graphql);
        match named {
            Named::Object(fields) => emitter.record(
                out,
                model,
                &format!("The object type `{graphql}`."),
                &name,
                fields,
            ),
            Named::InputObject(fields) => emitter.record(
                out,
                model,
                &format!("The input type `{graphql}`."),
                &name,
                fields,
            ),
            Named::Enum(values) => emitter.enumeration(out, graphql, &name, values),
            Named::CustomScalar => emitter.scalar(out, graphql, &name),
            Named::Builtin(_) => {}
        }
    }
}

/// The types and a handler skeleton for `model`, in `language`, as one source file.
pub fn generate(model: &Model, language: Language) -> String {
    match language {
        Language::Rust => rust::module(model),
        Language::Typescript => typescript::module(model),
        Language::Python => python::module(model),
    }
}

/// `words_like_this` or `wordsLikeThis` as `WordsLikeThis`.
pub(crate) fn pascal_case(name: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in name.chars() {
        if c == '_' || c == '-' || c == ' ' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'T');
    }
    out
}

/// `wordsLikeThis` or `WordsLikeThis` as `words_like_this`.
pub(crate) fn snake_case(name: &str) -> String {
    let mut out = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if c.is_uppercase() {
            if previous_lower {
                out.push('_');
            }
            out.extend(c.to_lowercase());
            previous_lower = false;
        } else {
            out.push(c);
            previous_lower = c.is_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

#[cfg(test)]
mod tests;
