//! Builds the async-graphql dynamic schema from a validated [`Catalog`]: custom types become
//! GraphQL types, actions become root fields whose resolvers hand the call to the dispatcher.

use super::null_items::{NullItems, NullListItems};
use std::collections::BTreeSet;
use std::sync::Arc;

use async_graphql::dynamic::{
    Enum, EnumItem, Field, FieldFuture, FieldValue, InputObject, InputValue, Object,
    ResolverContext, Scalar, Schema, SchemaError, Subscription, TypeRef,
};
use async_graphql::{Name, Value as GqlValue};
use serde_json::Value;

use super::errors::dispatch_error;
use super::{RequestContext, async_action};
use crate::dispatch::Dispatcher;
use crate::metadata::types::{BaseType, GRAPHQL_SCALARS, POSTGRES_SCALARS, Type};
use crate::metadata::validate::{ResolvedAction, TypeDef};
use crate::metadata::{ActionKind, Catalog, Operation};

const QUERY_ROOT: &str = "query_root";
const MUTATION_ROOT: &str = "mutation_root";
const SUBSCRIPTION_ROOT: &str = "subscription_root";

/// Limits applied to every query.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    pub max_depth: usize,
    pub max_complexity: usize,
}

/// Builds the schema one audience sees: the actions `visible` lets through, and only the types
/// those actions reach, so introspection reveals nothing of the rest.
pub fn build(
    catalog: Arc<Catalog>,
    dispatcher: Dispatcher,
    limits: QueryLimits,
    visible: &dyn Fn(&ResolvedAction) -> bool,
) -> Result<Schema, SchemaError> {
    let actions: Vec<&Arc<ResolvedAction>> = catalog
        .actions
        .values()
        .filter(|action| visible(action))
        .collect();
    let mut reachable = reachable_types(&catalog, &actions);
    // Hasura's root type names, which clients' generated code and `__typename` checks use.
    let mut query = Object::new(QUERY_ROOT);
    let mut mutation = Object::new(MUTATION_ROOT);
    let mut subscription = Subscription::new(SUBSCRIPTION_ROOT);
    let mut results = Vec::new();
    let (mut queries, mut mutations) = (0, 0);
    for action in actions {
        if action.action.definition.kind == ActionKind::Asynchronous {
            mutations += 1;
            queries += 1;
            mutation = mutation.field(async_action::mutation_field(&catalog, action));
            query = query.field(async_action::query_field(action));
            subscription = subscription.field(async_action::subscription_field(action));
            results.push(async_action::result_type(&catalog, action));
            reachable.extend(async_action::SCALARS.iter().map(|s| (*s).to_owned()));
            continue;
        }
        let field = action_field(&catalog, action);
        match action.action.definition.operation {
            Operation::Query => {
                queries += 1;
                query = query.field(field);
            }
            Operation::Mutation => {
                mutations += 1;
                mutation = mutation.field(field);
            }
        }
    }
    if queries == 0 {
        // GraphQL requires a query root with at least one field; Hasura answers the same way.
        query = query.field(Field::new(
            "no_queries_available",
            TypeRef::named_nn(TypeRef::STRING),
            |_| FieldFuture::from_value(Some(GqlValue::from("There are no queries available"))),
        ));
    }

    let subscriptions = !results.is_empty();
    let mut builder = Schema::build(
        QUERY_ROOT,
        (mutations > 0).then_some(MUTATION_ROOT),
        subscriptions.then_some(SUBSCRIPTION_ROOT),
    )
    .register(query)
    .data(dispatcher)
    .limit_depth(limits.max_depth)
    .limit_complexity(limits.max_complexity)
    .extension(NullListItems);
    if mutations > 0 {
        builder = builder.register(mutation);
    }
    if subscriptions {
        builder = builder.register(subscription);
    }
    for result in results {
        builder = builder.register(result);
    }

    let custom = &catalog.metadata.custom_types;
    let declared_scalars: Vec<&str> = custom.scalars.iter().map(|s| s.name.as_str()).collect();
    for name in POSTGRES_SCALARS
        .iter()
        .filter(|name| !declared_scalars.contains(name) && reachable.contains(**name))
    {
        builder = builder.register(Scalar::new(*name));
    }
    // A declaration of a GraphQL built-in (`scalar String`) changes nothing.
    for scalar in custom
        .scalars
        .iter()
        .filter(|t| reachable.contains(&t.name) && !GRAPHQL_SCALARS.contains(&t.name.as_str()))
    {
        builder = builder.register(with_description(
            Scalar::new(&scalar.name),
            &scalar.description,
        ));
    }
    for enumeration in custom.enums.iter().filter(|t| reachable.contains(&t.name)) {
        let mut gql_enum = Enum::new(&enumeration.name);
        for value in &enumeration.values {
            let mut item = EnumItem::new(&value.value);
            if let Some(description) = &value.description {
                item = item.description(description);
            }
            if value.is_deprecated {
                item = item.deprecation(None);
            }
            gql_enum = gql_enum.item(item);
        }
        if let Some(description) = &enumeration.description {
            gql_enum = gql_enum.description(description);
        }
        builder = builder.register(gql_enum);
    }
    for object in custom
        .objects
        .iter()
        .filter(|t| reachable.contains(&t.name))
    {
        let Some(TypeDef::Object(fields)) = catalog.type_def(&object.name) else {
            continue;
        };
        let mut gql_object = Object::new(&object.name);
        for ((name, ty), declared) in fields.iter().zip(&object.fields) {
            let field = output_field(&catalog, name, ty);
            gql_object = gql_object.field(with_description(field, &declared.description));
        }
        builder = builder.register(with_description(gql_object, &object.description));
    }
    for input in custom
        .input_objects
        .iter()
        .filter(|t| reachable.contains(&t.name))
    {
        let Some(TypeDef::InputObject(fields)) = catalog.type_def(&input.name) else {
            continue;
        };
        let mut gql_input = InputObject::new(&input.name);
        for ((name, ty), declared) in fields.iter().zip(&input.fields) {
            let value = InputValue::new(name, type_ref(ty));
            gql_input = gql_input.field(with_description(value, &declared.description));
        }
        builder = builder.register(with_description(gql_input, &input.description));
    }
    builder.finish()
}

/// Every named type the actions' arguments and outputs lead to, through object and input fields.
fn reachable_types(catalog: &Catalog, actions: &[&Arc<ResolvedAction>]) -> BTreeSet<String> {
    let mut pending: Vec<String> = actions
        .iter()
        .flat_map(|action| {
            let arguments = action.arguments.iter().map(|(_, ty)| innermost(ty));
            arguments.chain(std::iter::once(innermost(&action.output)))
        })
        .collect();
    let mut reached = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !reached.insert(name.clone()) {
            continue;
        }
        if let Some(TypeDef::Object(fields) | TypeDef::InputObject(fields)) =
            catalog.type_def(&name)
        {
            pending.extend(fields.iter().map(|(_, ty)| innermost(ty)));
        }
    }
    reached
}

fn innermost(ty: &Type) -> String {
    match &ty.base {
        BaseType::Named(name) => name.to_string(),
        BaseType::List(item) => innermost(item),
    }
}

/// Types that take an optional description.
trait Describe: Sized {
    fn describe(self, text: &str) -> Self;
}

macro_rules! describable {
    ($($ty:ty),*) => {$(
        impl Describe for $ty {
            fn describe(self, text: &str) -> Self {
                self.description(text.to_owned())
            }
        }
    )*};
}
describable!(Scalar, Object, InputObject, Field, InputValue);

fn with_description<T: Describe>(item: T, description: &Option<String>) -> T {
    match description {
        Some(text) => item.describe(text),
        None => item,
    }
}

fn type_ref(ty: &Type) -> TypeRef {
    let inner = match &ty.base {
        BaseType::Named(name) => TypeRef::Named(name.to_string().into()),
        BaseType::List(item) => TypeRef::List(Box::new(type_ref(item))),
    };
    if ty.nullable {
        inner
    } else {
        TypeRef::NonNull(Box::new(inner))
    }
}

fn action_field(catalog: &Arc<Catalog>, action: &Arc<ResolvedAction>) -> Field {
    let resolver_catalog = Arc::clone(catalog);
    let resolver_action = Arc::clone(action);
    let field = Field::new(&action.action.name, type_ref(&action.output), move |ctx| {
        let catalog = Arc::clone(&resolver_catalog);
        let action = Arc::clone(&resolver_action);
        FieldFuture::new(async move { resolve_action(ctx, &catalog, &action).await })
    });
    with_arguments(field, action)
}

/// The action's arguments (with their descriptions) and its comment, on `field`.
/// The field's arguments as the JSON object handlers receive as `input`.
pub(super) fn input_of(ctx: &ResolverContext<'_>) -> async_graphql::Result<Value> {
    let mut input = serde_json::Map::new();
    for (name, value) in ctx.args.iter() {
        input.insert(name.to_string(), value.as_value().clone().into_json()?);
    }
    Ok(Value::Object(input))
}

pub(super) fn with_arguments(mut field: Field, action: &ResolvedAction) -> Field {
    for (name, ty) in &action.arguments {
        let declared = action
            .action
            .definition
            .arguments
            .iter()
            .find(|a| &a.name == name);
        let value = InputValue::new(name, type_ref(ty));
        field = field.argument(with_description(
            value,
            &declared.and_then(|a| a.description.clone()),
        ));
    }
    with_description(field, &action.action.comment)
}

async fn resolve_action<'a>(
    ctx: ResolverContext<'a>,
    catalog: &Arc<Catalog>,
    action: &ResolvedAction,
) -> async_graphql::Result<Option<FieldValue<'a>>> {
    let request = ctx.data::<RequestContext>()?;
    let dispatcher = ctx.data::<Dispatcher>()?;
    let output = dispatcher
        .invoke_sync(request.invocation(catalog, action, input_of(&ctx)?))
        .await
        .map_err(|error| dispatch_error(&error, request.session.sees_internal()))?;
    for cookie in &output.set_cookies {
        ctx.append_http_header("set-cookie", cookie.as_str());
    }
    let mut nulls = NullRecorder::of(&ctx);
    Ok(field_value(
        catalog,
        &action.output,
        output.output,
        &mut nulls,
    ))
}

pub(super) fn output_field(catalog: &Arc<Catalog>, name: &str, ty: &Type) -> Field {
    let catalog = Arc::clone(catalog);
    let key = name.to_owned();
    let ty_for_resolver = ty.clone();
    Field::new(name, type_ref(ty), move |ctx| {
        let value = ctx
            .parent_value
            .downcast_ref::<Value>()
            .and_then(|parent| parent.get(&key))
            .cloned()
            .unwrap_or(Value::Null);
        let mut nulls = NullRecorder::of(&ctx);
        FieldFuture::Value(field_value(&catalog, &ty_for_resolver, value, &mut nulls))
    })
}

/// Where a field's null list elements are recorded ([`NullItems`]), and which element of
/// which nested list is being built.
struct NullRecorder<'c> {
    items: Option<&'c NullItems>,
    field: Option<&'c async_graphql::QueryPathNode<'c>>,
    indices: Vec<usize>,
}

impl<'c> NullRecorder<'c> {
    fn of(ctx: &'c ResolverContext<'_>) -> Self {
        Self {
            items: ctx.data_opt::<NullItems>(),
            field: ctx.path_node.as_ref(),
            indices: Vec::new(),
        }
    }

    fn record(&self) {
        if let (Some(items), Some(field)) = (self.items, self.field) {
            items.record(field, &self.indices);
        }
    }
}

/// Wraps a checked output value for async-graphql: objects stay JSON and are picked apart by
/// their fields' resolvers; enums become enum values; everything else is a plain value.
fn field_value(
    catalog: &Catalog,
    ty: &Type,
    value: Value,
    nulls: &mut NullRecorder<'_>,
) -> Option<FieldValue<'static>> {
    if value.is_null() {
        return None;
    }
    match (&ty.base, value) {
        (BaseType::List(item), Value::Array(items)) => {
            let mut elements = Vec::with_capacity(items.len());
            for (i, element) in items.into_iter().enumerate() {
                nulls.indices.push(i);
                if element.is_null() {
                    nulls.record();
                }
                elements
                    .push(field_value(catalog, item, element, nulls).unwrap_or(FieldValue::NULL));
                nulls.indices.pop();
            }
            Some(FieldValue::list(elements))
        }
        (BaseType::Named(name), value) => match (catalog.type_def(name), value) {
            (Some(TypeDef::Object(_)), value) => Some(FieldValue::owned_any(value)),
            (Some(TypeDef::Enum(_)), Value::String(text)) => {
                Some(FieldValue::value(GqlValue::Enum(Name::new(text))))
            }
            (_, value) => GqlValue::from_json(value).ok().map(FieldValue::value),
        },
        (BaseType::List(_), value) => GqlValue::from_json(value).ok().map(FieldValue::value),
    }
}
