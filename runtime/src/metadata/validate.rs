//! Whole-metadata validation. It runs before anything is persisted or served, and its result,
//! the [`Catalog`], is the only form the GraphQL layer and the dispatcher consume: every type
//! expression parsed, every name resolved, every handler reference checked.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde_json::value::RawValue;

use super::types::{self, GRAPHQL_SCALARS, POSTGRES_SCALARS, Type};
use super::{Action, ActionKind, Metadata, Operation, RetryPolicy};
use crate::config::Environment;
use crate::handler::signature::SigningKey;
use crate::handler::transform::InvalidTransform;
use crate::handler::wasm::KnownHandlers;
use crate::handler::{HandlerRef, RequestTransform, ResponseTransform};

/// A metadata error in Hasura's shape: `{"error", "path", "code"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{error} (at {path})")]
pub struct MetadataError {
    pub error: String,
    pub path: String,
    pub code: &'static str,
    /// Details for the admin who sent the request (the metadata API is admin-only): Kriti's
    /// errors from `test_webhook_transform`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal: Option<serde_json::Value>,
}

impl MetadataError {
    /// An error with a stable `code` at a JSON path.
    pub fn new(code: &'static str, path: impl Into<String>, error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            path: path.into(),
            code,
            internal: None,
        }
    }

    /// The same error with `internal` details.
    pub fn with_internal(mut self, internal: serde_json::Value) -> Self {
        self.internal = Some(internal);
        self
    }

    fn invalid(path: impl Into<String>, error: impl Into<String>) -> Self {
        Self::new("validation-failed", path, error)
    }
}

/// How a scalar's values are checked when a handler returns them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarKind {
    Int,
    Float,
    String,
    Boolean,
    Id,
    /// Custom scalars (and `uuid`, `json`, …): any JSON value.
    Any,
}

/// A named type as the schema builder and the output checker see it.
#[derive(Debug, Clone)]
pub enum TypeDef {
    Scalar(ScalarKind),
    Enum(BTreeSet<String>),
    Object(Vec<(String, Type)>),
    InputObject(Vec<(String, Type)>),
}

/// An action with everything resolved.
#[derive(Debug, Clone)]
pub struct ResolvedAction {
    /// The same action the catalog's metadata holds.
    pub action: Arc<Action>,
    pub arguments: Vec<(String, Type)>,
    pub output: Type,
    pub handler: HandlerRef,
    pub retry: RetryPolicy,
    /// Hasura's `response_transform`, for either handler kind.
    pub response_transform: Option<Arc<ResponseTransform>>,
    /// `action` as the stored document holds it, written the first time a document with it is
    /// stored; later changes that keep the action copy this text instead of serialising it
    /// again (at 1,000 actions of 20 roles, serialising the document was a quarter of a
    /// change's time).
    document: OnceLock<Box<RawValue>>,
}

impl ResolvedAction {
    /// The action's JSON, as `serde_json` writes it.
    fn document(&self) -> Result<&RawValue, serde_json::Error> {
        if let Some(text) = self.document.get() {
            return Ok(text);
        }
        let text = serde_json::value::to_raw_value(&*self.action)?;
        Ok(self.document.get_or_init(|| text))
    }
}

/// Something valid that is kept but not served, reported with the metadata API's reply and in
/// the server log: Hasura metadata that refers to what only Hasura has (database tables), or
/// that a later version serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MetadataWarning {
    pub code: &'static str,
    pub path: String,
    pub message: String,
}

/// Validated metadata, ready to serve.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub metadata: Metadata,
    /// Shared with the catalogs of later changes that leave the custom types alone.
    pub types: Arc<BTreeMap<String, TypeDef>>,
    pub actions: BTreeMap<String, Arc<ResolvedAction>>,
    /// What is kept but not served.
    pub warnings: Vec<MetadataWarning>,
}

impl Catalog {
    /// Every role that holds a permission or is an inherited role: each gets a schema of its
    /// own.
    pub fn roles(&self) -> BTreeSet<String> {
        // Each name is copied once, not once per permission (20,000 copies at 1,000 actions of
        // 20 roles), and the permissions are deduplicated by hash rather than in order.
        let names: HashSet<&str> = self
            .actions
            .values()
            .flat_map(|action| action.action.permissions.iter().map(|p| p.role.as_str()))
            .chain(
                self.metadata
                    .inherited_roles
                    .iter()
                    .map(|r| r.role_name.as_str()),
            )
            .collect();
        names.into_iter().map(str::to_owned).collect()
    }

    /// Whether `role` may call `action`: a permission of its own, or, for an inherited role,
    /// one of any role it is made of (inherited roles may nest; validation refused cycles).
    pub fn grants(&self, role: &str, action: &ResolvedAction) -> bool {
        if action.action.permissions.iter().any(|p| p.role == role) {
            return true;
        }
        self.metadata
            .inherited_roles
            .iter()
            .find(|r| r.role_name == role)
            .is_some_and(|r| r.role_set.iter().any(|parent| self.grants(parent, action)))
    }

    /// The metadata as it is stored: the JSON `serde_json` writes for [`Catalog::metadata`],
    /// with each action's part written once per action version rather than once per change.
    pub fn document(&self) -> Result<String, serde_json::Error> {
        /// [`Metadata`]'s fields, in its order, with its rules for leaving them out.
        #[derive(Serialize)]
        struct Document<'a> {
            version: u32,
            actions: Vec<Cow<'a, RawValue>>,
            custom_types: &'a super::CustomTypes,
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            inherited_roles: &'a [super::InheritedRole],
        }
        let metadata = &self.metadata;
        let actions = metadata
            .actions
            .iter()
            .map(|action| match self.actions.get(&action.name) {
                Some(resolved) => resolved.document().map(Cow::Borrowed),
                // Every action of a catalog is resolved; should one not be, it is written anew.
                None => serde_json::value::to_raw_value(&**action).map(Cow::Owned),
            })
            .collect::<Result<_, _>>()?;
        serde_json::to_string(&Document {
            version: metadata.version,
            actions,
            custom_types: &metadata.custom_types,
            inherited_roles: &metadata.inherited_roles,
        })
    }

    /// The named type `name`; every name reachable from a catalog is defined.
    pub fn type_def(&self, name: &str) -> Option<&TypeDef> {
        self.types.get(name)
    }

    /// Action `name` as it would be served with `handler` in its place, checked as a metadata
    /// change would check it (the URL's environment variables, the uploaded component, a
    /// request transform that only a webhook can take); `None` if there is no such action.
    /// What a replay against another handler runs.
    pub fn action_with_handler(
        &self,
        name: &str,
        handler: &str,
        env: &Environment,
        handlers: &KnownHandlers,
    ) -> Option<Result<ResolvedAction, MetadataError>> {
        let (index, action) = self
            .metadata
            .actions
            .iter()
            .enumerate()
            .find(|(_, action)| action.name == name)?;
        let mut action = Action::clone(action);
        handler.clone_into(&mut action.definition.handler);
        let path = format!("$.actions[{index}]");
        Some(resolve_action(
            &Arc::new(action),
            &self.types,
            env,
            handlers,
            &path,
        ))
    }
}

/// Checks `metadata` as a whole and resolves it.
pub fn validate(
    metadata: &Metadata,
    env: &Environment,
    handlers: &KnownHandlers,
) -> Result<Catalog, MetadataError> {
    Ok(check(metadata, None, env, handlers)?.with(metadata.clone()))
}

/// What validating a metadata document made of it, without the document: a change validated
/// against the catalog it changes is joined to its document only once it is stored, so that
/// the document is neither copied nor lost to an error path.
#[derive(Debug)]
pub struct Checked {
    types: Arc<BTreeMap<String, TypeDef>>,
    actions: BTreeMap<String, Arc<ResolvedAction>>,
    warnings: Vec<MetadataWarning>,
}

impl Checked {
    /// What is kept but not served.
    pub fn warnings(&self) -> &[MetadataWarning] {
        &self.warnings
    }

    /// The catalog serving `metadata`, which is what was checked.
    pub fn with(self, metadata: Metadata) -> Catalog {
        Catalog {
            metadata,
            types: self.types,
            actions: self.actions,
            warnings: self.warnings,
        }
    }
}

/// Checks `next`, a change of `previous`'s metadata, with the result [`validate`] would give,
/// reusing what the change leaves as it was: with the same custom types, an action equal to
/// the one `previous` resolved resolves the same way (its handler still uploaded), so only
/// new and changed actions are resolved again. A change of one action among a thousand then
/// costs a comparison per action, not a resolution per action.
pub fn check_change(
    previous: &Catalog,
    next: &Metadata,
    env: &Environment,
    handlers: &KnownHandlers,
) -> Result<Checked, MetadataError> {
    check(next, Some(previous), env, handlers)
}

fn check(
    metadata: &Metadata,
    previous: Option<&Catalog>,
    env: &Environment,
    handlers: &KnownHandlers,
) -> Result<Checked, MetadataError> {
    // What actions resolve against is the custom types (and the process's environment, which
    // does not change).
    let reusable = previous.filter(|previous| {
        previous.metadata.version == metadata.version
            && previous.metadata.custom_types == metadata.custom_types
    });
    let (types, warnings) = match reusable {
        Some(previous) => (Arc::clone(&previous.types), previous.warnings.clone()),
        None => {
            let types = declare_all_types(metadata)?;
            (Arc::new(types), warnings(metadata))
        }
    };
    check_inherited_roles(metadata)?;

    let mut actions = BTreeMap::new();
    for (index, action) in metadata.actions.iter().enumerate() {
        let unchanged = reusable
            .and_then(|previous| previous.actions.get(&action.name))
            .filter(|resolved| {
                (Arc::ptr_eq(&resolved.action, action) || resolved.action == *action)
                    && resolved.handler.resolves(handlers)
            });
        let resolved = match unchanged {
            Some(resolved) => Arc::clone(resolved),
            None => Arc::new(resolve_action(
                action,
                &types,
                env,
                handlers,
                &format!("$.actions[{index}]"),
            )?),
        };
        if actions.insert(action.name.clone(), resolved).is_some() {
            return Err(MetadataError::new(
                "already-exists",
                format!("$.actions[{index}].name"),
                format!("action '{}' is defined more than once", action.name),
            ));
        }
    }
    Ok(Checked {
        types,
        actions,
        warnings,
    })
}

/// Every named type `metadata` can use, its custom types checked.
fn declare_all_types(metadata: &Metadata) -> Result<BTreeMap<String, TypeDef>, MetadataError> {
    let mut types = BTreeMap::new();
    for scalar in GRAPHQL_SCALARS {
        let kind = match scalar {
            "Int" => ScalarKind::Int,
            "Float" => ScalarKind::Float,
            "Boolean" => ScalarKind::Boolean,
            "ID" => ScalarKind::Id,
            _ => ScalarKind::String,
        };
        types.insert(scalar.to_owned(), TypeDef::Scalar(kind));
    }
    for scalar in POSTGRES_SCALARS {
        types.insert(scalar.to_owned(), TypeDef::Scalar(ScalarKind::Any));
    }
    declare_types(metadata, &mut types)?;
    check_type_fields(metadata, &types)?;
    check_relationships(metadata)?;
    Ok(types)
}

/// What `metadata` holds that is kept but not served.
fn warnings(metadata: &Metadata) -> Vec<MetadataWarning> {
    let mut warnings = Vec::new();
    for (i, object) in metadata.custom_types.objects.iter().enumerate() {
        for (j, relationship) in object.relationships.iter().enumerate() {
            let name = relationship
                .get("name")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("?");
            warnings.push(MetadataWarning {
                code: "relationship-not-served",
                path: format!("$.custom_types.objects[{i}].relationships[{j}]"),
                message: format!(
                    "relationship '{name}' of type '{}' joins a database table; it is kept, \
                     but there are no tables here to join",
                    object.name
                ),
            });
        }
    }
    warnings
}

fn declare(
    types: &mut BTreeMap<String, TypeDef>,
    name: &str,
    def: TypeDef,
    path: String,
) -> Result<(), MetadataError> {
    if !types::is_valid_name(name) {
        return Err(MetadataError::invalid(
            format!("{path}.name"),
            format!("'{name}' is not a valid GraphQL type name"),
        ));
    }
    // `scalar String` (or `scalar timestamptz`) restates a type the schema has: Hasura accepts
    // it, and the type keeps its meaning.
    if matches!(def, TypeDef::Scalar(_)) && is_predefined_scalar(name) {
        return Ok(());
    }
    if types.contains_key(name) {
        return Err(MetadataError::new(
            "already-exists",
            format!("{path}.name"),
            format!("type '{name}' is defined more than once or clashes with a built-in type"),
        ));
    }
    types.insert(name.to_owned(), def);
    Ok(())
}

/// Whether `name` is a scalar every schema has (GraphQL's) or every action may use (the
/// Postgres source's).
pub fn is_predefined_scalar(name: &str) -> bool {
    GRAPHQL_SCALARS.contains(&name) || POSTGRES_SCALARS.contains(&name)
}

fn declare_types(
    metadata: &Metadata,
    types: &mut BTreeMap<String, TypeDef>,
) -> Result<(), MetadataError> {
    let custom = &metadata.custom_types;
    for (i, scalar) in custom.scalars.iter().enumerate() {
        let path = format!("$.custom_types.scalars[{i}]");
        declare(types, &scalar.name, TypeDef::Scalar(ScalarKind::Any), path)?;
    }
    for (i, enumeration) in custom.enums.iter().enumerate() {
        let path = format!("$.custom_types.enums[{i}]");
        let mut values = BTreeSet::new();
        for (j, value) in enumeration.values.iter().enumerate() {
            let value_path = format!("{path}.values[{j}].value");
            let name = value.value.as_str();
            if !types::is_valid_name(name) || ["true", "false", "null"].contains(&name) {
                return Err(MetadataError::invalid(
                    value_path,
                    format!("'{name}' is not a valid enum value"),
                ));
            }
            if !values.insert(name.to_owned()) {
                return Err(MetadataError::new(
                    "already-exists",
                    value_path,
                    format!("enum '{}' lists '{name}' twice", enumeration.name),
                ));
            }
        }
        if values.is_empty() {
            return Err(MetadataError::invalid(
                format!("{path}.values"),
                format!("enum '{}' has no values", enumeration.name),
            ));
        }
        declare(types, &enumeration.name, TypeDef::Enum(values), path)?;
    }
    for (i, object) in custom.objects.iter().enumerate() {
        let path = format!("$.custom_types.objects[{i}]");
        let fields = parse_fields(&object.name, &object.fields, &path)?;
        declare(types, &object.name, TypeDef::Object(fields), path)?;
    }
    for (i, input) in custom.input_objects.iter().enumerate() {
        let path = format!("$.custom_types.input_objects[{i}]");
        let fields = parse_fields(&input.name, &input.fields, &path)?;
        declare(types, &input.name, TypeDef::InputObject(fields), path)?;
    }
    Ok(())
}

fn parse_fields(
    owner: &str,
    fields: &[super::Field],
    path: &str,
) -> Result<Vec<(String, Type)>, MetadataError> {
    if fields.is_empty() {
        return Err(MetadataError::invalid(
            format!("{path}.fields"),
            format!("type '{owner}' has no fields"),
        ));
    }
    let mut parsed = Vec::with_capacity(fields.len());
    for (j, field) in fields.iter().enumerate() {
        let field_path = format!("{path}.fields[{j}]");
        if !types::is_valid_name(&field.name) {
            return Err(MetadataError::invalid(
                format!("{field_path}.name"),
                format!("'{}' is not a valid field name", field.name),
            ));
        }
        if parsed.iter().any(|(name, _)| name == &field.name) {
            return Err(MetadataError::new(
                "already-exists",
                format!("{field_path}.name"),
                format!("type '{owner}' has two fields named '{}'", field.name),
            ));
        }
        let ty = parse_type(&field.ty, &format!("{field_path}.type"))?;
        parsed.push((field.name.clone(), ty));
    }
    Ok(parsed)
}

fn parse_type(expression: &str, path: &str) -> Result<Type, MetadataError> {
    types::parse(expression).ok_or_else(|| {
        MetadataError::new(
            "parse-failed",
            path,
            format!("'{expression}' is not a GraphQL type expression"),
        )
    })
}

/// Where a type may appear: output positions take scalars, enums and objects; input positions
/// take scalars, enums and input objects.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Position {
    Input,
    Output,
}

fn check_usable(
    ty: &Type,
    position: Position,
    types: &BTreeMap<String, TypeDef>,
    path: &str,
) -> Result<(), MetadataError> {
    let name = types::innermost(ty);
    let usable = match (types.get(name), position) {
        (None, _) => {
            return Err(MetadataError::new(
                "not-exists",
                path,
                format!("type '{name}' is not defined"),
            ));
        }
        (Some(TypeDef::Scalar(_) | TypeDef::Enum(_)), _) => true,
        (Some(TypeDef::Object(_)), position) => position == Position::Output,
        (Some(TypeDef::InputObject(_)), position) => position == Position::Input,
    };
    if usable {
        Ok(())
    } else {
        let expected = match position {
            Position::Input => "an input type (scalar, enum or input object)",
            Position::Output => "an output type (scalar, enum or object)",
        };
        Err(MetadataError::invalid(
            path,
            format!("type '{name}' is not {expected}"),
        ))
    }
}

fn check_type_fields(
    metadata: &Metadata,
    types: &BTreeMap<String, TypeDef>,
) -> Result<(), MetadataError> {
    let custom = &metadata.custom_types;
    for (i, object) in custom.objects.iter().enumerate() {
        let path = format!("$.custom_types.objects[{i}]");
        check_fields(&object.name, &object.fields, Position::Output, types, &path)?;
    }
    for (i, input) in custom.input_objects.iter().enumerate() {
        let path = format!("$.custom_types.input_objects[{i}]");
        check_fields(&input.name, &input.fields, Position::Input, types, &path)?;
    }
    Ok(())
}

fn check_fields(
    owner: &str,
    fields: &[super::Field],
    position: Position,
    types: &BTreeMap<String, TypeDef>,
    path: &str,
) -> Result<(), MetadataError> {
    for (j, field) in fields.iter().enumerate() {
        let field_path = format!("{path}.fields[{j}].type");
        let ty = parse_type(&field.ty, &field_path)?;
        let name = types::innermost(&ty);
        if !types.contains_key(name) {
            // Hasura's words, its double space included (its template leaves the "input" of
            // "input object type" empty for output objects).
            let qualifier = match position {
                Position::Input => "input",
                Position::Output => "",
            };
            return Err(MetadataError::new(
                "not-exists",
                field_path,
                format!(
                    "the type \"{name}\" for field \"{}\" in {qualifier} object type \"{owner}\" does not exist",
                    field.name
                ),
            ));
        }
        check_usable(&ty, position, types, &field_path)?;
    }
    Ok(())
}

/// Inherited roles have a name of their own (not `admin`, not twice), a non-empty set of
/// parents, and no cycle through other inherited roles.
fn check_inherited_roles(metadata: &Metadata) -> Result<(), MetadataError> {
    let roles = &metadata.inherited_roles;
    for (i, role) in roles.iter().enumerate() {
        let path = format!("$.inherited_roles[{i}]");
        if role.role_name.is_empty() || role.role_name == "admin" {
            return Err(MetadataError::invalid(
                format!("{path}.role_name"),
                format!("'{}' cannot be an inherited role", role.role_name),
            ));
        }
        if roles[..i].iter().any(|r| r.role_name == role.role_name) {
            return Err(MetadataError::new(
                "already-exists",
                format!("{path}.role_name"),
                format!("the inherited role '{}' is defined twice", role.role_name),
            ));
        }
        if role.role_set.is_empty() {
            return Err(MetadataError::invalid(
                format!("{path}.role_set"),
                format!(
                    "inherited role '{}' has no roles to inherit from",
                    role.role_name
                ),
            ));
        }
        // Walk the parents; meeting this role again is a cycle.
        let mut pending: Vec<&str> = role.role_set.iter().map(String::as_str).collect();
        let mut seen = BTreeSet::new();
        while let Some(parent) = pending.pop() {
            if parent == role.role_name {
                return Err(MetadataError::invalid(
                    format!("{path}.role_set"),
                    format!("inherited role '{}' inherits from itself", role.role_name),
                ));
            }
            if seen.insert(parent)
                && let Some(nested) = roles.iter().find(|r| r.role_name == parent)
            {
                pending.extend(nested.role_set.iter().map(String::as_str));
            }
        }
    }
    Ok(())
}

/// Each relationship of an object type maps fields of that type that exist and are not lists
/// (what Hasura checks without looking at the tables).
fn check_relationships(metadata: &Metadata) -> Result<(), MetadataError> {
    for (i, object) in metadata.custom_types.objects.iter().enumerate() {
        for (j, relationship) in object.relationships.iter().enumerate() {
            let path = format!("$.custom_types.objects[{i}].relationships[{j}]");
            let name = relationship
                .get("name")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| MetadataError::invalid(&path, "a relationship needs a name"))?;
            let mapping = relationship
                .get("field_mapping")
                .and_then(serde_json::Value::as_object);
            for field_name in mapping.into_iter().flat_map(|m| m.keys()) {
                let field = object.fields.iter().find(|f| &f.name == field_name);
                let Some(field) = field else {
                    return Err(MetadataError::new(
                        "invalid-configuration",
                        path,
                        format!(
                            "the field \"{field_name}\" for relationship \"{name}\" does not exist in object type \"{}\"",
                            object.name
                        ),
                    ));
                };
                if field.ty.trim_end_matches('!').starts_with('[') {
                    return Err(MetadataError::new(
                        "invalid-configuration",
                        path,
                        format!(
                            "the type of the field \"{field_name}\" for relationship \"{name}\" in object type \"{}\" is a list type",
                            object.name
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn resolve_action(
    action: &Arc<Action>,
    types: &BTreeMap<String, TypeDef>,
    env: &Environment,
    handlers: &KnownHandlers,
    path: &str,
) -> Result<ResolvedAction, MetadataError> {
    let definition = &action.definition;
    if !types::is_valid_name(&action.name) {
        return Err(MetadataError::invalid(
            format!("{path}.name"),
            format!("'{}' is not a valid GraphQL field name", action.name),
        ));
    }
    let mut arguments: Vec<(String, Type)> = Vec::new();
    for (j, argument) in definition.arguments.iter().enumerate() {
        let arg_path = format!("{path}.definition.arguments[{j}]");
        if !types::is_valid_name(&argument.name) {
            return Err(MetadataError::invalid(
                format!("{arg_path}.name"),
                format!("'{}' is not a valid argument name", argument.name),
            ));
        }
        if arguments.iter().any(|(name, _)| name == &argument.name) {
            return Err(MetadataError::new(
                "already-exists",
                format!("{arg_path}.name"),
                format!(
                    "action '{}' has two arguments named '{}'",
                    action.name, argument.name
                ),
            ));
        }
        let ty = parse_type(&argument.ty, &format!("{arg_path}.type"))?;
        check_usable(&ty, Position::Input, types, &format!("{arg_path}.type"))?;
        arguments.push((argument.name.clone(), ty));
    }

    let output_path = format!("{path}.definition.output_type");
    let output = parse_type(&definition.output_type, &output_path)?;
    check_usable(&output, Position::Output, types, &output_path)?;

    if definition.kind == ActionKind::Asynchronous && definition.operation == Operation::Query {
        return Err(MetadataError::invalid(
            format!("{path}.definition.kind"),
            "query actions cannot be asynchronous",
        ));
    }

    let mut handler = HandlerRef::parse(&definition.handler, env)
        .map_err(|reason| MetadataError::invalid(format!("{path}.definition.handler"), reason))?;
    if let HandlerRef::Webhook(target) = &mut handler {
        target.headers.clone_from(&definition.headers);
        target.forward_client_headers = definition.forward_client_headers;
        target.ignored_client_headers = definition
            .ignored_client_headers
            .as_ref()
            .map(|names| names.iter().map(|name| name.to_ascii_lowercase()).collect());
        target
            .signing_secret_from_env
            .clone_from(&definition.signing_secret_from_env);
    }
    let transform_error = |key: &str, which: &str, error: InvalidTransform| {
        let sub = if error.path.is_empty() {
            String::new()
        } else {
            format!(".{}", error.path)
        };
        MetadataError::invalid(
            format!("{path}.definition.{key}{sub}"),
            format!("{which} transform validation failed: {}", error.message),
        )
    };
    if let Some(value) = &definition.request_transform {
        let transform = RequestTransform::parse(value)
            .map_err(|error| transform_error("request_transform", "request", error))?;
        match &mut handler {
            HandlerRef::Webhook(target) => target.request_transform = Some(Arc::new(transform)),
            HandlerRef::Wasm(_) => {
                return Err(MetadataError::invalid(
                    format!("{path}.definition.request_transform"),
                    "a request_transform reshapes an HTTP request, and a wasm:// handler \
                     receives the action payload as it is: use a response_transform, or \
                     shape the input in the component",
                ));
            }
        }
    }
    let response_transform = definition
        .response_transform
        .as_ref()
        .map(|value| {
            ResponseTransform::parse(value)
                .map(Arc::new)
                .map_err(|error| transform_error("response_transform", "response", error))
        })
        .transpose()?;
    if let HandlerRef::Wasm(wasm_ref) = &handler
        && !handlers.contains(wasm_ref)
    {
        return Err(MetadataError::invalid(
            format!("{path}.definition.handler"),
            format!(
                "no wasm handler `{}` is uploaded (PUT /v1/handlers/<name> first)",
                definition.handler.trim_start_matches("wasm://")
            ),
        ));
    }

    if let Some(var) = &definition.signing_secret_from_env {
        let path = format!("{path}.definition.signing_secret_from_env");
        let secret = env.get(var).ok_or_else(|| {
            MetadataError::invalid(&path, format!("environment variable '{var}' is not set"))
        })?;
        SigningKey::parse(secret)
            .map_err(|reason| MetadataError::invalid(&path, format!("'{var}': {reason}")))?;
    }

    if definition.timeout == Some(0) {
        return Err(MetadataError::invalid(
            format!("{path}.definition.timeout"),
            "timeout must be at least 1 second",
        ));
    }
    for (j, header) in definition.headers.iter().enumerate() {
        let header_path = format!("{path}.definition.headers[{j}]");
        reqwest::header::HeaderName::from_bytes(header.name().as_bytes()).map_err(|_| {
            MetadataError::invalid(
                format!("{header_path}.name"),
                format!("'{}' is not a valid header name", header.name()),
            )
        })?;
        if let super::HeaderConf::FromEnv { value_from_env, .. } = header
            && let Some(prefix) = crate::config::reserved_prefix(value_from_env)
        {
            return Err(MetadataError::new(
                "parse-failed",
                header_path,
                format!(
                    "env variables starting with \"{prefix}\" are not allowed in value_from_env: {value_from_env}"
                ),
            ));
        }
        if let super::HeaderConf::FromEnv { value_from_env, .. } = header
            && env.get(value_from_env).is_none()
        {
            return Err(MetadataError::new(
                "invalid-configuration",
                format!("{header_path}.value_from_env"),
                format!("environment variable '{value_from_env}' is not set"),
            ));
        }
    }

    let retry = RetryPolicy::resolve(definition.kind, definition.retry.as_ref())
        .map_err(|reason| MetadataError::invalid(format!("{path}.definition.retry"), reason))?;

    let mut roles = HashMap::new();
    for (j, permission) in action.permissions.iter().enumerate() {
        if permission.role.is_empty() || roles.insert(permission.role.as_str(), j).is_some() {
            return Err(MetadataError::invalid(
                format!("{path}.permissions[{j}].role"),
                format!("role '{}' is empty or listed twice", permission.role),
            ));
        }
    }

    Ok(ResolvedAction {
        action: Arc::clone(action),
        document: OnceLock::new(),
        arguments,
        output,
        handler,
        retry,
        response_transform,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::metadata::ops;
    use crate::store::StoredHandler;
    use crate::store::sql_types::Time;

    fn handlers(names: &[&str]) -> KnownHandlers {
        let now = Time(chrono::Utc::now());
        let stored: Vec<StoredHandler> = names
            .iter()
            .map(|name| StoredHandler {
                name: (*name).to_owned(),
                sha256: "ab".repeat(32),
                config: json!({}),
                size_bytes: 1,
                uploaded_at: now,
                activated_at: now,
            })
            .collect();
        KnownHandlers::from_stored(&stored)
    }

    fn action(name: &str, handler: &str) -> Value {
        json!({"name": name, "definition": {"kind": "synchronous", "type": "mutation",
            "arguments": [{"name": "id", "type": "Int!"}], "output_type": "Out",
            "handler": handler}})
    }

    fn start() -> Metadata {
        serde_json::from_value(json!({"version": 3,
            "actions": [action("a", "http://h/a"), action("b", "wasm://component"),
                action("c", "http://h/c")],
            "custom_types": {"objects": [{"name": "Out", "fields": [{"name": "ok", "type": "Boolean"}],
                "relationships": [{"name": "r", "type": "object", "remote_table": "t",
                    "field_mapping": {"ok": "ok"}}]}]}}))
        .expect("metadata")
    }

    /// What serving a catalog depends on, without the cache of its stored text.
    fn served(catalog: &Catalog) -> String {
        let actions: Vec<String> = catalog
            .actions
            .iter()
            .map(|(name, resolved)| {
                format!(
                    "{name}: {:?} {:?} {:?} {:?} {:?} {:?}",
                    resolved.action,
                    resolved.arguments,
                    resolved.output,
                    resolved.handler,
                    resolved.retry,
                    resolved.response_transform
                )
            })
            .collect();
        format!(
            "{:?}\n{:?}\n{actions:?}\n{:?}",
            catalog.metadata, catalog.types, catalog.warnings
        )
    }

    fn change(metadata: &Metadata, request: Value) -> Metadata {
        let mut next = metadata.clone();
        let request: ops::Request = serde_json::from_value(request).expect("request");
        ops::apply(&request, &mut next, 1).expect("applies");
        next
    }

    #[test]
    fn a_change_checked_against_its_catalog_is_what_validating_it_whole_gives() {
        let env = Environment::default();
        let known = handlers(&["component"]);
        let mut catalog = validate(&start(), &env, &known).expect("valid");
        let steps = [
            json!({"type": "create_action", "args": action("d", "wasm://component")}),
            json!({"type": "update_action", "args": {"name": "a", "definition":
                {"kind": "synchronous", "arguments": [], "output_type": "Out!", "handler": "http://h/z",
                 "timeout": 5}}}),
            json!({"type": "create_action_permission", "args": {"action": "c", "role": "user"}}),
            json!({"type": "drop_action", "args": {"name": "b"}}),
            json!({"type": "set_custom_types", "args": {"objects": [{"name": "Out",
                "fields": [{"name": "ok", "type": "Boolean"}, {"name": "n", "type": "Int"}]}]}}),
            json!({"type": "add_inherited_role", "args": {"role_name": "both",
                "role_set": ["user", "other"]}}),
        ];
        for step in steps {
            let next = change(&catalog.metadata, step.clone());
            let checked = check_change(&catalog, &next, &env, &known)
                .unwrap_or_else(|error| panic!("{step}: {error}"));
            let incremental = checked.with(next.clone());
            let whole = validate(&next, &env, &known).expect("valid whole");
            assert_eq!(served(&incremental), served(&whole), "after {step}");
            assert_eq!(
                incremental.document().expect("document"),
                serde_json::to_string(&incremental.metadata).expect("json"),
                "after {step}"
            );
            catalog = incremental;
        }
    }

    #[test]
    fn what_a_change_leaves_alone_is_shared_and_what_it_touches_is_resolved_again() {
        let env = Environment::default();
        let known = handlers(&["component"]);
        let before = validate(&start(), &env, &known).expect("valid");
        // The stored text of every action is written once...
        let first = before.document().expect("document");
        let next = change(
            &before.metadata,
            json!({"type": "create_action_permission", "args": {"action": "a", "role": "user"}}),
        );
        let after = check_change(&before, &next, &env, &known)
            .expect("valid")
            .with(next);
        assert!(Arc::ptr_eq(&before.actions["b"], &after.actions["b"]));
        assert!(Arc::ptr_eq(&before.actions["c"], &after.actions["c"]));
        assert!(!Arc::ptr_eq(&before.actions["a"], &after.actions["a"]));
        assert!(Arc::ptr_eq(&before.types, &after.types));
        // ... and reused where it still holds: the changed action's text is new.
        let second = after.document().expect("document");
        assert_ne!(first, second);
        assert_eq!(
            second,
            serde_json::to_string(&after.metadata).expect("json")
        );
        assert!(second.contains(r#""permissions":[{"role":"user"}]"#));
        // Relationship warnings are kept across changes that keep the types.
        assert_eq!(after.warnings, before.warnings);
        assert_eq!(after.warnings.len(), 1);
    }

    #[test]
    fn a_kept_action_is_checked_again_when_what_it_depends_on_goes() {
        let env = Environment::default();
        let before = validate(&start(), &env, &handlers(&["component"])).expect("valid");
        // The component `b` calls is gone: `b` is unchanged, and no longer valid.
        let next = change(
            &before.metadata,
            json!({"type": "update_action", "args": {"name": "c", "definition":
                {"kind": "synchronous", "arguments": [], "output_type": "Out", "handler": "http://h/y"}}}),
        );
        let error = check_change(&before, &next, &env, &handlers(&[])).expect_err("refused");
        let whole = validate(&next, &env, &handlers(&[])).expect_err("refused");
        assert_eq!(error, whole);
        assert_eq!(error.path, "$.actions[1].definition.handler");
        // The type it returns is gone: every action is resolved again, and refused as a whole
        // validation refuses it.
        let next = change(
            &before.metadata,
            json!({"type": "set_custom_types", "args": {"objects": [{"name": "Other",
                "fields": [{"name": "ok", "type": "Boolean"}]}]}}),
        );
        let known = handlers(&["component"]);
        let error = check_change(&before, &next, &env, &known).expect_err("refused");
        assert_eq!(error, validate(&next, &env, &known).expect_err("refused"));
        assert_eq!(error.code, "not-exists");
    }
}
