//! A real HTTP webhook endpoint for tests: it answers from a script and records every request.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;

/// One request the webhook received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The path with its query string.
    pub path: String,
    /// Lower-case header names.
    pub headers: HashMap<String, String>,
    pub body: Value,
    /// The body exactly as received, for signature checks.
    pub raw: Vec<u8>,
    pub at: std::time::Instant,
}

/// What the webhook answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Self::raw(status, &body.to_string())
    }

    pub fn raw(status: u16, body: &str) -> Self {
        Self {
            status,
            body: body.to_owned(),
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// Decides the reply from the request and how many requests came before it (0-based).
pub type Script = Arc<dyn Fn(&Recorded, usize) -> Reply + Send + Sync>;

/// A running webhook receiver.
pub struct WebhookServer {
    pub url: String,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    handle: actix_web::dev::ServerHandle,
}

impl WebhookServer {
    pub async fn start(script: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_on(0, script).await
    }

    /// A webhook that answers every call with a fixed `UserInfo`.
    pub async fn login_ok() -> Self {
        Self::start(|_, _| Reply::json(200, serde_json::json!({"accessToken": "t", "userId": 1})))
            .await
    }

    /// Like [`WebhookServer::start`], on a given port (0 for any).
    pub async fn start_on(
        port: u16,
        script: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let script: Script = Arc::new(script);
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let state = (script, Arc::clone(&recorded));
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind webhook");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .default_service(web::to(answer))
        })
        .workers(2)
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url,
            recorded,
            handle,
        }
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.recorded.lock().expect("lock").clone()
    }
}

impl Drop for WebhookServer {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

type State = (Script, Arc<Mutex<Vec<Recorded>>>);

async fn answer(state: web::Data<State>, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    let (script, recorded) = state.get_ref();
    let entry = Recorded {
        method: request.method().to_string(),
        path: request.uri().to_string(),
        headers: request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
            .collect(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        raw: body.to_vec(),
        at: std::time::Instant::now(),
    };
    let reply = {
        let mut log = recorded.lock().expect("lock");
        let earlier = log.len();
        log.push(entry.clone());
        script(&entry, earlier)
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let status = actix_web::http::StatusCode::from_u16(reply.status).expect("status");
    let mut response = HttpResponse::build(status);
    response.content_type("application/json");
    for (name, value) in &reply.headers {
        response.append_header((name.as_str(), value.as_str()));
    }
    response.body(reply.body)
}
