//! The ceiling: the same actix-web and async-graphql stack as the server, with a dynamic schema
//! holding one `userLogin` mutation that answers at once — no auth, no store, no handler. No
//! action can be faster than this.

use actix_web::{App, HttpResponse, HttpServer, web};
use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, Object, Schema, TypeRef};
use async_graphql::{Name, Value};
use hookwing::graphql::ParseCache;

fn schema() -> anyhow::Result<Schema> {
    let user_info = Object::new("UserInfo")
        .field(Field::new(
            "accessToken",
            TypeRef::named_nn(TypeRef::STRING),
            |ctx| FieldFuture::Value(field(&ctx, "accessToken")),
        ))
        .field(Field::new(
            "userId",
            TypeRef::named_nn(TypeRef::INT),
            |ctx| FieldFuture::Value(field(&ctx, "userId")),
        ));
    let login = Field::new("userLogin", TypeRef::named("UserInfo"), |ctx| {
        FieldFuture::new(async move {
            let username = ctx.args.try_get("username")?.string()?.to_owned();
            let mut object = async_graphql::indexmap::IndexMap::new();
            object.insert(
                Name::new("accessToken"),
                Value::String(format!("token-for-{username}")),
            );
            object.insert(Name::new("userId"), Value::Number(4951.into()));
            Ok(Some(FieldValue::value(Value::Object(object))))
        })
    })
    .argument(InputValue::new(
        "username",
        TypeRef::named_nn(TypeRef::STRING),
    ))
    .argument(InputValue::new(
        "password",
        TypeRef::named_nn(TypeRef::STRING),
    ));
    let query = Object::new("Query").field(Field::new(
        "ok",
        TypeRef::named_nn(TypeRef::BOOLEAN),
        |_| FieldFuture::Value(Some(FieldValue::value(true))),
    ));
    let mutation = Object::new("Mutation").field(login);
    Ok(Schema::build("Query", Some("Mutation"), None)
        .register(user_info)
        .register(query)
        .register(mutation)
        .finish()?)
}

fn field(
    ctx: &async_graphql::dynamic::ResolverContext<'_>,
    name: &str,
) -> Option<FieldValue<'static>> {
    match ctx.parent_value.as_value() {
        Some(Value::Object(object)) => object.get(name).cloned().map(FieldValue::value),
        _ => None,
    }
}

async fn execute(
    schema: web::Data<Schema>,
    parsed: web::Data<ParseCache>,
    body: web::Bytes,
) -> HttpResponse {
    match serde_json::from_slice::<async_graphql::Request>(&body) {
        Ok(mut request) => {
            // Parsed as the server parses (a syntax error is reported by `execute`), so the
            // ceiling stays an upper bound for it.
            let _ = parsed.parse(&mut request);
            HttpResponse::Ok().json(schema.execute(request).await)
        }
        Err(error) => HttpResponse::BadRequest().body(error.to_string()),
    }
}

/// Serves the ceiling on a free loopback port, printing its address first.
pub async fn serve() -> anyhow::Result<()> {
    let schema = web::Data::new(schema()?);
    let parsed = web::Data::new(ParseCache::default());
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    crate::child::announce(&format!("http://{}", listener.local_addr()?));
    HttpServer::new(move || {
        App::new()
            .app_data(schema.clone())
            .app_data(parsed.clone())
            .route("/v1/graphql", web::post().to(execute))
    })
    // As the server sets it, so that the ceiling stays an upper bound.
    .tcp_nodelay(true)
    .listen(listener)?
    .run()
    .await?;
    Ok(())
}
