//! `/v1/handlers`: upload, list, inspect, activate and delete WebAssembly handlers (admin only).
//!
//! `PUT /v1/handlers/{name}` takes the `.wasm` bytes as the body and the handler's config as
//! JSON in the `x-hookwing-handler-config` header, so a plain `curl --data-binary @x.wasm`
//! works. An invalid upload changes nothing.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::admin::require_admin;
use super::body;
use super::error::{AdminError, Envelope};
use crate::handler::HandlerRef;
use crate::handler::wasm::{
    Activation, HandlerConfig, InvalidComponent, WasmError, is_valid_handler_name,
};
use crate::server::AppState;

/// Header carrying the handler's JSON config on upload.
pub const CONFIG_HEADER: &str = "x-hookwing-handler-config";

/// Registers `/v1/handlers`.
pub fn configure(config: &mut web::ServiceConfig) {
    config.service(
        Envelope::Admin
            .scope("/v1/handlers")
            .wrap(actix_web::middleware::from_fn(require_admin))
            .service(
                web::resource("")
                    .route(web::get().to(list))
                    .default_service(Envelope::Admin.method_not_allowed()),
            )
            .service(
                web::resource("/{name}")
                    .route(web::put().to(upload))
                    .route(web::get().to(get))
                    .route(web::delete().to(delete))
                    .default_service(Envelope::Admin.method_not_allowed()),
            )
            .service(
                web::resource("/{name}/versions/{sha256}/activate")
                    .route(web::post().to(activate))
                    .default_service(Envelope::Admin.method_not_allowed()),
            ),
    );
}

fn checked_name(name: &str) -> Result<&str, AdminError> {
    if is_valid_handler_name(name) {
        Ok(name)
    } else {
        Err(AdminError::new(
            StatusCode::BAD_REQUEST,
            "invalid-name",
            format!("`{name}` is not a valid handler name: use 1-64 letters, digits, - or _"),
        ))
    }
}

fn not_found(name: &str) -> AdminError {
    AdminError::new(
        StatusCode::NOT_FOUND,
        "not-exists",
        format!("no handler `{name}`"),
    )
}

fn unexpected(context: &str, error: &WasmError) -> AdminError {
    tracing::error!(%error, "{context}");
    AdminError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "unexpected",
        error.to_string(),
    )
}

/// The handler config in the upload's header; defaults when absent.
fn handler_config(request: &HttpRequest) -> Result<HandlerConfig, AdminError> {
    let Some(value) = request.headers().get(CONFIG_HEADER) else {
        return Ok(HandlerConfig::default());
    };
    value
        .to_str()
        .map_err(|e| e.to_string())
        .and_then(|text| serde_json::from_str::<HandlerConfig>(text).map_err(|e| e.to_string()))
        .map_err(|reason| {
            AdminError::new(
                StatusCode::BAD_REQUEST,
                "invalid-config",
                format!("{CONFIG_HEADER}: {reason}"),
            )
        })
}

/// `PUT /v1/handlers/{name}`.
async fn upload(
    state: web::Data<AppState>,
    request: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, AdminError> {
    let name = checked_name(&name)?;
    let config = handler_config(&request)?;
    let limit = state.config.wasm.max_handler_bytes;
    let bytes = body::read(payload, request.headers(), limit).await?;
    match state.wasm.upload(name, bytes.to_vec(), config).await {
        Ok(info) => {
            tracing::info!(
                handler = %info.name,
                sha256 = %info.sha256,
                size_bytes = info.size_bytes,
                "wasm handler uploaded and activated"
            );
            announce(&state).await;
            Ok(HttpResponse::Ok().json(info))
        }
        Err(WasmError::Invalid(reason @ InvalidComponent::OverBudget(_))) => Err(AdminError::new(
            StatusCode::BAD_REQUEST,
            "compile-budget-exceeded",
            reason.to_string(),
        )),
        Err(WasmError::Invalid(reason)) => Err(AdminError::new(
            StatusCode::BAD_REQUEST,
            "invalid-handler",
            reason.to_string(),
        )),
        Err(WasmError::Config(reason)) => Err(AdminError::new(
            StatusCode::BAD_REQUEST,
            "invalid-config",
            reason,
        )),
        Err(error) => Err(unexpected("handler upload failed", &error)),
    }
}

/// `GET /v1/handlers`.
async fn list(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"handlers": state.wasm.list()}))
}

/// `GET /v1/handlers/{name}`: the active version and every stored one.
async fn get(
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let info = state.wasm.info(&name).ok_or_else(|| not_found(&name))?;
    let mut body = json!(info);
    body["versions"] = json!(state.wasm.versions_of(&name));
    body["used_by"] = json!(actions_using(&state, &name));
    Ok(HttpResponse::Ok().json(body))
}

/// `POST /v1/handlers/{name}/versions/{sha256}/activate`: a stored version (named by its
/// sha256 or a prefix of it) becomes the active one again, as if just uploaded — a rollback
/// without the bytes at hand. Actions pinned to a version keep theirs.
async fn activate(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminError> {
    let (name, sha256) = path.into_inner();
    let name = checked_name(&name)?;
    if sha256.is_empty() || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AdminError::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            format!("`{sha256}` is not a sha256 or a prefix of one (hex digits)"),
        ));
    }
    match state
        .wasm
        .activate(name, &sha256.to_ascii_lowercase())
        .await
    {
        Ok(Activation::Activated(info)) => {
            tracing::info!(
                handler = %info.name,
                sha256 = %info.sha256,
                "wasm handler version activated"
            );
            announce(&state).await;
            Ok(HttpResponse::Ok().json(info))
        }
        Ok(Activation::NoSuchVersion) => Err(AdminError::new(
            StatusCode::NOT_FOUND,
            "not-exists",
            format!("handler `{name}` has no version {sha256}"),
        )),
        Ok(Activation::Ambiguous(count)) => Err(AdminError::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            format!("`{sha256}` starts {count} versions of `{name}`: give more of the sha256"),
        )),
        Err(error) => Err(unexpected("handler activation failed", &error)),
    }
}

/// `DELETE /v1/handlers/{name}`: refused while an action uses the handler.
async fn delete(
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    // Metadata writes take the same lock, so no action can start using the handler between
    // the check and the delete.
    let _guard = state.served.write_lock().await;
    let users = actions_using(&state, &name);
    if !users.is_empty() {
        return Err(AdminError::new(
            StatusCode::CONFLICT,
            "handler-in-use",
            format!(
                "handler `{name}` is used by action(s) {}; drop or update them first",
                users.join(", ")
            ),
        ));
    }
    match state.wasm.delete(&name).await {
        Ok(true) => {
            tracing::info!(
                handler = name.as_str(),
                "wasm handler deleted, every version"
            );
            announce(&state).await;
            Ok(HttpResponse::Ok().json(json!({"deleted": name.as_str()})))
        }
        Ok(false) => Err(not_found(&name)),
        Err(error) => Err(unexpected("handler delete failed", &error)),
    }
}

/// Other replicas reload their handlers on this (and poll in any case).
async fn announce(state: &AppState) {
    if let Err(error) = state.store.announce_metadata_change().await {
        tracing::warn!(%error, "cannot tell other replicas about a handler change");
    }
}

fn actions_using(state: &AppState, name: &str) -> Vec<String> {
    state
        .live()
        .catalog
        .actions
        .values()
        .filter(|action| matches!(&action.handler, HandlerRef::Wasm(r) if r.name == name))
        .map(|action| action.action.name.clone())
        .collect()
}
