//! `/v1/handlers`: upload, list, inspect and delete WebAssembly handlers (admin only).
//!
//! `PUT /v1/handlers/{name}` takes the `.wasm` bytes as the body and the handler's config as
//! JSON in the `x-hookwing-handler-config` header, so a plain `curl --data-binary @x.wasm`
//! works. An invalid upload changes nothing.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::{HandlerConfig, WasmError, is_valid_handler_name};
use crate::handler::HandlerRef;
use crate::server::{AppState, admin, body};

/// Header carrying the handler's JSON config on upload.
pub const CONFIG_HEADER: &str = "x-hookwing-handler-config";

fn invalid_name(name: &str) -> HttpResponse {
    admin::error(
        StatusCode::BAD_REQUEST,
        "invalid-name",
        format!("`{name}` is not a valid handler name: use 1-64 letters, digits, - or _"),
    )
}

fn not_found(name: &str) -> HttpResponse {
    admin::error(
        StatusCode::NOT_FOUND,
        "not-exists",
        format!("no handler `{name}`"),
    )
}

/// `PUT /v1/handlers/{name}`.
pub async fn upload(
    state: web::Data<AppState>,
    request: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    if !is_valid_handler_name(&name) {
        return invalid_name(&name);
    }
    let config =
        match request.headers().get(CONFIG_HEADER) {
            None => HandlerConfig::default(),
            Some(value) => match value.to_str().map_err(|e| e.to_string()).and_then(|text| {
                serde_json::from_str::<HandlerConfig>(text).map_err(|e| e.to_string())
            }) {
                Ok(config) => config,
                Err(reason) => {
                    return admin::error(
                        StatusCode::BAD_REQUEST,
                        "invalid-config",
                        format!("{CONFIG_HEADER}: {reason}"),
                    );
                }
            },
        };
    let limit = state.config.wasm.max_handler_bytes;
    let bytes = match body::read(payload, request.headers(), limit).await {
        Ok(bytes) => bytes,
        Err(error @ body::BodyError::TooLarge { .. }) => {
            return admin::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                error.code(),
                error.to_string(),
            );
        }
        Err(error) => {
            return admin::error(StatusCode::BAD_REQUEST, error.code(), error.to_string());
        }
    };
    match state.wasm.upload(&name, bytes.to_vec(), config).await {
        Ok(info) => {
            tracing::info!(handler = %info.name, sha256 = %info.sha256, "wasm handler uploaded");
            announce(&state).await;
            HttpResponse::Ok().json(info)
        }
        Err(WasmError::Invalid(reason)) => admin::error(
            StatusCode::BAD_REQUEST,
            "invalid-handler",
            reason.to_string(),
        ),
        Err(WasmError::Config(reason)) => {
            admin::error(StatusCode::BAD_REQUEST, "invalid-config", reason)
        }
        Err(error) => {
            tracing::error!(%error, "handler upload failed");
            admin::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "unexpected",
                error.to_string(),
            )
        }
    }
}

/// `GET /v1/handlers`.
pub async fn list(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"handlers": state.wasm.list()}))
}

/// `GET /v1/handlers/{name}`: the active version and every stored one.
pub async fn get(state: web::Data<AppState>, name: web::Path<String>) -> HttpResponse {
    match state.wasm.info(&name) {
        Some(info) => {
            let mut body = json!(info);
            body["versions"] = json!(state.wasm.versions_of(&name));
            body["used_by"] = json!(actions_using(&state, &name));
            HttpResponse::Ok().json(body)
        }
        None => not_found(&name),
    }
}

/// `DELETE /v1/handlers/{name}`: refused while an action uses the handler.
pub async fn delete(state: web::Data<AppState>, name: web::Path<String>) -> HttpResponse {
    // Metadata writes take the same lock, so no action can start using the handler between
    // the check and the delete.
    let _guard = state.metadata_write_lock().await;
    let users = actions_using(&state, &name);
    if !users.is_empty() {
        return admin::error(
            StatusCode::CONFLICT,
            "handler-in-use",
            format!(
                "handler `{name}` is used by action(s) {}; drop or update them first",
                users.join(", ")
            ),
        );
    }
    match state.wasm.delete(&name).await {
        Ok(true) => {
            announce(&state).await;
            HttpResponse::Ok().json(json!({"deleted": name.as_str()}))
        }
        Ok(false) => not_found(&name),
        Err(error) => {
            tracing::error!(%error, "handler delete failed");
            admin::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "unexpected",
                error.to_string(),
            )
        }
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
