//! The webhook twin of the `user-login` guest: the same check and the same answer, served by a
//! minimal actix-web app, so the webhook scenario differs from the WASM one only in the hop.

use actix_web::{App, HttpResponse, HttpServer, web};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct Payload {
    input: Login,
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

/// The guest's `user_id`, byte for byte.
fn user_id(username: &str) -> i64 {
    let hash = username
        .bytes()
        .fold(7_i32, |acc, b| acc.wrapping_mul(31).wrapping_add(b.into()));
    i64::from(hash.rem_euclid(100_000))
}

async fn login(payload: web::Json<Payload>) -> HttpResponse {
    let Login { username, password } = &payload.input;
    if password != "secret" {
        return HttpResponse::BadRequest()
            .json(json!({"message": "invalid credentials", "extensions": {"code": "invalid-credentials"}}));
    }
    HttpResponse::Ok().json(json!({
        "accessToken": format!("token-for-{username}"),
        "userId": user_id(username),
    }))
}

/// Serves the webhook on a free loopback port, printing its address first.
pub async fn serve() -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    crate::child::announce(&format!("http://{}/login", listener.local_addr()?));
    HttpServer::new(|| App::new().route("/login", web::post().to(login)))
        .listen(listener)?
        .run()
        .await?;
    Ok(())
}
