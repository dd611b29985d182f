//! Handlers: where an action's business logic runs. A closed set, so an enum with one module
//! per kind, and one call shape for all of them ([`Handlers::call`]). Each kind only turns a
//! [`HandlerRequest`] into a [`Delivery`]; persistence, retries, output checking and error
//! mapping live once, in `dispatch`, for all of them.

pub mod http;
mod payload;
pub mod signature;
mod template;
pub mod transform;
pub mod wasm;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

pub use http::WebhookTarget;
pub use payload::{ActionName, EventInfo, HandlerRequest};
pub use template::UrlTemplate;
pub use transform::{RequestTransform, ResponseTransform};
pub use wasm::WasmRef;

use crate::auth::ClientHeaders;
use crate::config::Environment;

/// A parsed `handler` field.
#[derive(Debug, Clone, PartialEq)]
pub enum HandlerRef {
    /// `http(s)://…`, possibly with `{{ENV_VAR}}` parts, with the action's webhook settings.
    Webhook(WebhookTarget),
    /// `wasm://name` or `wasm://name@sha256-prefix`: an uploaded component.
    Wasm(WasmRef),
}

impl HandlerRef {
    /// Parses and checks a `handler` value against the server's environment.
    pub fn parse(handler: &str, env: &Environment) -> Result<Self, String> {
        if let Some(rest) = handler.strip_prefix("wasm://") {
            return WasmRef::parse(rest).map(Self::Wasm);
        }
        let template = UrlTemplate::parse(handler)?;
        template.render(env)?;
        Ok(Self::Webhook(WebhookTarget::new(template)))
    }

    /// Whether what this refers to is there to call: a webhook always is (it is checked when
    /// called); a component, if `handlers` has it uploaded.
    pub fn resolves(&self, handlers: &wasm::KnownHandlers) -> bool {
        match self {
            Self::Webhook(_) => true,
            Self::Wasm(wasm_ref) => handlers.contains(wasm_ref),
        }
    }

    /// A component handler that runs whichever version is active (`wasm://name`), so that an
    /// event's retries need holding to the version that ran it.
    pub fn follows_active_version(&self) -> bool {
        matches!(self, Self::Wasm(WasmRef { pin: None, .. }))
    }

    /// This component handler held to version `sha256`, for the retries of an event an earlier
    /// version ran. `None` when there is nothing to hold: a webhook, or an action that pins
    /// its version itself (`wasm://name@sha`).
    pub fn at_version(&self, sha256: &str) -> Option<Self> {
        match self {
            Self::Wasm(WasmRef { name, pin: None }) => Some(Self::Wasm(WasmRef {
                name: name.clone(),
                pin: Some(sha256.to_owned()),
            })),
            _ => None,
        }
    }

    /// The handler kind, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Webhook(_) => "http",
            Self::Wasm(_) => "wasm",
        }
    }
}

/// What one call of a handler produced, before any output checking. Every handler kind maps
/// its transport onto these three classes (SPEC §3), which is what makes retries and event
/// records identical across kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The handler produced an output document.
    Success { output: Value },
    /// The handler said no; never retried. `code` is a webhook body's top-level `code`
    /// (Hasura's shape for a rejection without `extensions`).
    Rejected {
        message: String,
        code: Option<String>,
        extensions: Option<Value>,
    },
    /// Something went wrong on the way; retryable.
    Failed {
        reason: String,
        retry_after: Option<Duration>,
    },
}

/// A reply together with what the transport observed, for the attempt record.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub reply: Reply,
    /// HTTP status, for webhooks.
    pub status_code: Option<u16>,
    /// Lines the handler logged during the call.
    pub logs: Vec<Value>,
    /// A webhook reply's `Set-Cookie` headers: the client of a synchronous call gets them with
    /// its answer, as Hasura passes them on.
    pub set_cookies: Vec<String>,
    /// The sha256 of the component version that ran (`None` for webhooks, or when no version
    /// could be resolved): recorded on the attempt, and what the event's retries run.
    pub version: Option<String>,
    /// The component's outbound HTTP exchanges (its handler records them: see
    /// `wasm::recording`), kept with the attempt for replays in `recorded` mode.
    pub http_exchanges: Option<Value>,
}

/// What a call knows of the request that caused it, beyond the payload.
#[derive(Debug, Clone, Copy)]
pub struct CallContext<'a> {
    /// The client's headers (webhooks may forward them; components never see them).
    pub client_headers: &'a ClientHeaders,
    /// A replay in `recorded` mode: the exchanges that answer the component's outbound
    /// requests, in place of the network.
    pub playback: Option<&'a [wasm::recording::Exchange]>,
    /// Whether a component's key-value writes are stored, or kept for this call only (a
    /// replay that records nothing).
    pub state_writes: wasm::StateWrites,
}

/// Every handler kind, behind one call. One per server.
#[derive(Clone)]
pub struct Handlers {
    webhook: http::Webhook,
    wasm: Arc<wasm::WasmHost>,
}

impl Handlers {
    /// Webhooks through `webhook`, components through `wasm`.
    pub fn new(webhook: http::Webhook, wasm: Arc<wasm::WasmHost>) -> Self {
        Self { webhook, wasm }
    }

    /// The uploaded components (their catalogue, for the handlers API and validation).
    pub fn wasm(&self) -> &Arc<wasm::WasmHost> {
        &self.wasm
    }

    /// Makes one attempt at `target` within `timeout`; never fails, every problem is a
    /// [`Reply`]. `reshape` is the action's response transform, for either kind.
    pub async fn call(
        &self,
        target: &HandlerRef,
        request: &HandlerRequest<'_>,
        context: &CallContext<'_>,
        reshape: Option<&ResponseTransform>,
        timeout: Duration,
    ) -> Delivery {
        match target {
            HandlerRef::Webhook(webhook) => {
                self.webhook
                    .call(webhook, request, context, reshape, timeout)
                    .await
            }
            HandlerRef::Wasm(component) => {
                let delivery = self.wasm.call(component, request, context, timeout).await;
                match reshape {
                    Some(transform) => reshape_component_reply(transform, delivery, request),
                    None => delivery,
                }
            }
        }
    }
}

/// A component's reply through a response transform, as the same reply would go over HTTP:
/// an output is a 200 with that body, a rejection a 400 with `{message, code?, extensions?}`.
/// The reshaped body is judged the way a webhook's is. A failed call is left as it is.
fn reshape_component_reply(
    transform: &ResponseTransform,
    delivery: Delivery,
    request: &HandlerRequest<'_>,
) -> Delivery {
    let (status, body) = match &delivery.reply {
        Reply::Success { output } => (200, output.clone()),
        Reply::Rejected {
            message,
            code,
            extensions,
        } => {
            let mut body = serde_json::json!({"message": message});
            if let Some(code) = code {
                body["code"] = Value::String(code.clone());
            }
            if let Some(extensions) = extensions {
                body["extensions"] = extensions.clone();
            }
            (400, body)
        }
        Reply::Failed { .. } => return delivery,
    };
    let session = transform::Session {
        variables: request.session_variables,
    };
    let reply = match transform.apply(status, body.to_string().as_bytes(), &Value::Null, session) {
        Ok(reshaped) => http::classify(status, None, &reshaped),
        Err(failure) => http::transform_rejection("Response", &failure),
    };
    Delivery { reply, ..delivery }
}
