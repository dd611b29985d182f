//! Asynchronous actions in the schema, as in Hasura: the mutation returns the event id at once;
//! a query field and a subscription field named after the action take that id and return
//! `{id, created_at, errors, output}`, `output` null until the handler's result lands. A caller
//! sees a result only if it is the admin or its session variables equal those stored with it.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::ErrorExtensions;
use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputValue, Object, ResolverContext, SubscriptionField,
    SubscriptionFieldFuture, TypeRef,
};
use futures::stream;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use uuid::Uuid;

use super::errors::dispatch_error;
use super::schema::{input_of, output_field, with_arguments};
use super::{NullItems, RequestContext};
use crate::auth::Session;
use crate::dispatch::Dispatcher;
use crate::metadata::Catalog;
use crate::metadata::types::Type;
use crate::metadata::validate::ResolvedAction;
use crate::store::{EventRecord, EventState, Store};

/// Scalars the result type uses, which the schema must register.
pub const SCALARS: [&str; 3] = ["uuid", "timestamptz", "json"];

/// How often a subscription re-reads its event even without a notification, in case one was
/// missed (a replica's listener reconnecting).
const RECHECK: Duration = Duration::from_secs(5);

fn parse_type(text: &str) -> Type {
    Type::new(text).expect("a valid type literal")
}

/// The mutation field: stores the event and returns its id.
pub fn mutation_field(catalog: &Arc<Catalog>, action: &Arc<ResolvedAction>) -> Field {
    let resolver_catalog = Arc::clone(catalog);
    let resolver_action = Arc::clone(action);
    let field = Field::new(&action.action.name, TypeRef::named_nn("uuid"), move |ctx| {
        let (catalog, action) = (Arc::clone(&resolver_catalog), Arc::clone(&resolver_action));
        FieldFuture::new(async move {
            let request = ctx.data::<RequestContext>()?;
            let dispatcher = ctx.data::<Dispatcher>()?;
            let id = dispatcher
                .invoke_async(request.invocation(&catalog, &action, input_of(&ctx)?))
                .await
                .map_err(|error| dispatch_error(&error, request.session.sees_internal()))?;
            Ok(Some(FieldValue::value(id.to_string())))
        })
    });
    with_arguments(field, action)
}

/// The `{id, created_at, errors, output}` type, named after the action.
pub fn result_type(catalog: &Arc<Catalog>, action: &ResolvedAction) -> Object {
    let mut output = action.output.clone();
    output.nullable = true;
    Object::new(&action.action.name)
        .field(output_field(catalog, "id", &parse_type("uuid!")))
        .field(output_field(
            catalog,
            "created_at",
            &parse_type("timestamptz!"),
        ))
        .field(output_field(catalog, "errors", &parse_type("json")))
        .field(output_field(catalog, "output", &output))
}

/// The query field: the result as it is now.
pub fn query_field(action: &Arc<ResolvedAction>) -> Field {
    let name = action.action.name.clone();
    Field::new(
        &action.action.name,
        TypeRef::named(&action.action.name),
        move |ctx| {
            let name = name.clone();
            FieldFuture::new(async move {
                let (store, session, id) = lookup_args(&ctx)?;
                let event = store.event(id).await.map_err(store_error)?;
                Ok(event
                    .filter(|e| visible(&session, &name, e))
                    .map(|e| FieldValue::owned_any(result_json(&e, &session))))
            })
        },
    )
    .argument(InputValue::new("id", TypeRef::named_nn("uuid")))
}

/// The subscription field: the result now, then once more when it lands, then complete.
pub fn subscription_field(action: &Arc<ResolvedAction>) -> SubscriptionField {
    let name = action.action.name.clone();
    SubscriptionField::new(
        &action.action.name,
        TypeRef::named(&action.action.name),
        move |ctx| {
            let name = name.clone();
            let args = lookup_args(&ctx);
            let nulls = ctx.data_opt::<NullItems>().map(|items| {
                (
                    items.clone(),
                    ctx.ctx.item.node.response_key().node.to_string(),
                )
            });
            SubscriptionFieldFuture::new(async move {
                let (store, session, id) = args?;
                // Subscribe before the first read, so a result landing in between is not missed.
                let results = store.signals().results.subscribe();
                let watch = Watch {
                    store,
                    session,
                    id,
                    name,
                    results,
                    started: false,
                    done: false,
                    nulls,
                };
                Ok(stream::unfold(watch, Watch::next))
            })
        },
    )
    .argument(InputValue::new("id", TypeRef::named_nn("uuid")))
}

struct Watch {
    store: Store,
    session: Session,
    id: Uuid,
    name: String,
    results: broadcast::Receiver<Uuid>,
    started: bool,
    done: bool,
    /// Where to record that an event is `null`, and the field's response key.
    nulls: Option<(NullItems, String)>,
}

impl Watch {
    async fn next<'a>(mut self) -> Option<(async_graphql::Result<FieldValue<'a>>, Self)> {
        if self.done {
            return None;
        }
        loop {
            if self.started {
                self.wait().await;
            }
            let event = match self.store.event(self.id).await {
                Ok(event) => event,
                Err(error) => {
                    self.done = true;
                    return Some((Err(store_error(error)), self));
                }
            };
            let Some(event) = event.filter(|e| visible(&self.session, &self.name, e)) else {
                self.done = true;
                if let Some((items, key)) = &self.nulls {
                    items.record_root(key);
                }
                return Some((Ok(FieldValue::NULL), self));
            };
            let terminal = matches!(event.status, EventState::Completed | EventState::Error);
            if terminal || !self.started {
                self.started = true;
                self.done = terminal;
                return Some((
                    Ok(FieldValue::owned_any(result_json(&event, &self.session))),
                    self,
                ));
            }
        }
    }

    /// Until this event is announced finished, or the periodic re-check is due.
    async fn wait(&mut self) {
        let deadline = tokio::time::sleep(RECHECK);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                received = self.results.recv() => match received {
                    Ok(id) if id == self.id => return,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Err(broadcast::error::RecvError::Closed) => {
                        deadline.as_mut().await;
                        return;
                    }
                },
                () = &mut deadline => return,
            }
        }
    }
}

fn lookup_args(ctx: &ResolverContext<'_>) -> async_graphql::Result<(Store, Session, Uuid)> {
    let request = ctx.data::<RequestContext>()?;
    let dispatcher = ctx.data::<Dispatcher>()?;
    let id = ctx.args.try_get("id")?.string()?;
    let id = Uuid::parse_str(id).map_err(|_| {
        async_graphql::Error::new(format!("`{id}` is not a uuid"))
            .extend_with(|_, e| e.set("code", "validation-failed"))
    })?;
    Ok((dispatcher.store().clone(), request.session.clone(), id))
}

/// The admin (not acting as another role) sees every result; anyone else only results
/// stored with exactly their session variables.
fn visible(session: &Session, action: &str, event: &EventRecord) -> bool {
    let admin = session.sees_internal();
    event.action_name == action
        && event.kind == crate::store::ActionKind::Asynchronous
        && (admin || event.session_variables == session.variables_json())
}

fn result_json(event: &EventRecord, session: &Session) -> Value {
    json!({
        "id": event.id.to_string(),
        "created_at": event.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "errors": event.errors.as_ref().and_then(|errors| hasura_errors(errors, session)),
        "output": event.response_payload,
    })
}

/// A finished event's stored error, as Hasura shows an asynchronous action's `errors`: one
/// object, `{"code", "path", "error"}`, with `internal` only for callers who may see it.
fn hasura_errors(stored: &Value, session: &Session) -> Option<Value> {
    let first = stored
        .as_array()
        .and_then(|errors| errors.first())
        .unwrap_or(stored);
    let extensions = &first["extensions"];
    let mut shown = json!({
        "code": extensions.get("code").cloned().unwrap_or_else(|| json!("unexpected")),
        "path": extensions.get("path").cloned().unwrap_or_else(|| json!("$")),
        "error": first.get("message").cloned().unwrap_or_else(|| json!("unexpected error")),
    });
    if session.sees_internal()
        && let Some(internal) = extensions.get("internal")
    {
        shown["internal"] = internal.clone();
    }
    Some(shown)
}

fn store_error(error: crate::store::Error) -> async_graphql::Error {
    tracing::error!(%error, "cannot read an async action result");
    async_graphql::Error::new("database query error")
        .extend_with(|_, e| e.set("code", "unexpected"))
}
