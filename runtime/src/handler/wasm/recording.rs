//! A component's outbound `wasi:http` exchanges, recorded per attempt when its handler opts in
//! (`record_outbound_http`), and fed back to a replay in `recorded` mode instead of the network:
//! re-running a payment handler against a fixed build charges nobody.
//!
//! Recording taps the bodies as they stream (nothing is buffered beyond what is kept), keeps at
//! most [`MAX_EXCHANGES`] exchanges of at most [`MAX_BODY_BYTES`] per body, and writes secret
//! headers as `<redacted>`. Playback answers each request with the first unused recorded
//! exchange of the same method, URL and body; a request the recording lacks (or recorded only
//! in part) is refused, and the replay says which.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use http_body_util::BodyExt;
use hyper::body::Bytes;
use serde::{Deserialize, Serialize};
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

use crate::auth::REDACTED;

/// Exchanges kept per attempt; later ones are sent, not kept (and counted).
pub const MAX_EXCHANGES: usize = 16;
/// Bytes kept of each request and response body.
pub const MAX_BODY_BYTES: usize = 32 * 1024;

/// One request a component sent, and what came back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    pub method: String,
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    pub request_body: RecordedBody,
    /// `None` when no response came (`error` says why).
    pub status: Option<u16>,
    #[serde(default)]
    pub response_headers: Vec<(String, String)>,
    #[serde(default)]
    pub response_body: RecordedBody,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A body as kept: text when it is UTF-8, else base64; `truncated` past [`MAX_BODY_BYTES`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordedBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl RecordedBody {
    fn new(bytes: &[u8], truncated: bool) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => Self {
                text: Some(text.to_owned()),
                base64: None,
                truncated,
            },
            Err(_) => Self {
                text: None,
                base64: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
                truncated,
            },
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match (&self.text, &self.base64) {
            (Some(text), _) => text.as_bytes().to_vec(),
            (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .unwrap_or_default(),
            (None, None) => Vec::new(),
        }
    }
}

/// Whether a header's value is a secret, never written to the event store: credentials,
/// cookies, and anything named like a key, token, secret, password or signature.
fn is_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie"
    ) || [
        "secret",
        "token",
        "password",
        "api-key",
        "apikey",
        "signature",
        "auth",
    ]
    .iter()
    .any(|part| name.contains(part))
}

/// Header names and values, in order.
type Headers = Vec<(String, String)>;

fn headers(map: &http::HeaderMap) -> Headers {
    map.iter()
        .map(|(name, value)| {
            let value = if is_secret(name.as_str()) {
                REDACTED.to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_owned(), value)
        })
        .collect()
}

/// A body's first [`MAX_BODY_BYTES`], filled as the body streams.
#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    truncated: bool,
}

impl Captured {
    fn keep(&mut self, data: &[u8]) {
        let room = MAX_BODY_BYTES.saturating_sub(self.bytes.len());
        self.bytes.extend_from_slice(&data[..data.len().min(room)]);
        self.truncated |= data.len() > room;
    }

    fn body(&self) -> RecordedBody {
        RecordedBody::new(&self.bytes, self.truncated)
    }
}

/// `body`, copying what passes through into `into`.
fn tap(body: WasiBody, into: Arc<Mutex<Captured>>) -> WasiBody {
    body.map_frame(move |frame| {
        if let Some(data) = frame.data_ref() {
            into.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .keep(data);
        }
        frame
    })
    .boxed_unsync()
}

/// One exchange being recorded: what is known when the request leaves, and its two bodies as
/// they stream.
struct Pending {
    method: String,
    url: String,
    request_headers: Vec<(String, String)>,
    request_body: Arc<Mutex<Captured>>,
    /// The response's status and headers, once it came.
    response: Mutex<Option<(u16, Headers)>>,
    response_body: Arc<Mutex<Captured>>,
    error: Mutex<Option<String>>,
}

/// The exchanges of one attempt, recorded as they happen.
#[derive(Default)]
pub struct Recorder {
    pending: Mutex<Vec<Arc<Pending>>>,
    dropped: AtomicUsize,
}

/// What the recorder does with one response: [`Recorder::start`]'s ticket.
pub struct Ticket(Option<Arc<Pending>>);

impl Recorder {
    /// Starts recording `request`, whose body it taps; past [`MAX_EXCHANGES`] the request goes
    /// out untouched and is only counted.
    pub fn start(&self, request: http::Request<WasiBody>) -> (http::Request<WasiBody>, Ticket) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.len() >= MAX_EXCHANGES {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return (request, Ticket(None));
        }
        let (parts, body) = request.into_parts();
        let exchange = Arc::new(Pending {
            method: parts.method.to_string(),
            url: parts.uri.to_string(),
            request_headers: headers(&parts.headers),
            request_body: Arc::default(),
            response: Mutex::new(None),
            response_body: Arc::default(),
            error: Mutex::new(None),
        });
        let body = tap(body, exchange.request_body.clone());
        pending.push(exchange.clone());
        (
            http::Request::from_parts(parts, body),
            Ticket(Some(exchange)),
        )
    }

    /// Records what came back for `ticket`'s request: the response (whose body it taps) or
    /// the error.
    pub fn finish<Io>(
        ticket: Ticket,
        sent: Result<(http::Response<WasiBody>, Io), HttpError>,
    ) -> Result<(http::Response<WasiBody>, Io), HttpError> {
        let Ticket(Some(exchange)) = ticket else {
            return sent;
        };
        match sent {
            Ok((response, io)) => {
                let (parts, body) = response.into_parts();
                *exchange
                    .response
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) =
                    Some((parts.status.as_u16(), headers(&parts.headers)));
                let body = tap(body, exchange.response_body.clone());
                Ok((http::Response::from_parts(parts, body), io))
            }
            Err(error) => {
                *exchange
                    .error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(format!("{error:?}"));
                Err(error)
            }
        }
    }

    /// The attempt's exchanges, as far as they got, and how many were not kept.
    pub fn exchanges(&self) -> (Vec<Exchange>, usize) {
        let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let exchanges = pending
            .iter()
            .map(|p| {
                let response = p
                    .response
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                let (status, response_headers) = match response {
                    Some((status, headers)) => (Some(status), headers),
                    None => (None, Vec::new()),
                };
                Exchange {
                    method: p.method.clone(),
                    url: p.url.clone(),
                    request_headers: p.request_headers.clone(),
                    request_body: p
                        .request_body
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .body(),
                    status,
                    response_headers,
                    response_body: p
                        .response_body
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .body(),
                    error: p
                        .error
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone(),
                }
            })
            .collect();
        let dropped = self.dropped.load(Ordering::Relaxed);
        (exchanges, dropped)
    }
}

/// A recording played back to a replay: each request is answered from it, or refused.
pub struct Player {
    exchanges: Vec<Exchange>,
    used: Mutex<Vec<bool>>,
    missing: Mutex<Vec<String>>,
}

impl Player {
    pub fn new(exchanges: Vec<Exchange>) -> Self {
        let used = vec![false; exchanges.len()];
        Self {
            exchanges,
            used: Mutex::new(used),
            missing: Mutex::new(Vec::new()),
        }
    }

    /// The recorded answer to `request`: the first unused exchange with its method, URL and
    /// body. Without one, the request is refused and noted ([`Self::missing`]).
    pub async fn answer(
        &self,
        request: http::Request<WasiBody>,
    ) -> Result<http::Response<WasiBody>, HttpError> {
        let method = request.method().to_string();
        let url = request.uri().to_string();
        let body = read_bounded(request.into_body()).await;
        let found = {
            let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
            let found = self.exchanges.iter().enumerate().position(|(i, e)| {
                !used[i]
                    && e.method == method
                    && e.url == url
                    && body_matches(&e.request_body, &body)
            });
            if let Some(i) = found {
                used[i] = true;
            }
            found.map(|i| &self.exchanges[i])
        };
        let refuse = |why: String| {
            self.missing
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(why);
            Err(HttpError::HttpRequestDenied)
        };
        let Some(exchange) = found else {
            return refuse(format!(
                "the recording has no {method} {url} with this body"
            ));
        };
        let Some(status) = exchange.status else {
            return Err(HttpError::InternalError(exchange.error.clone()));
        };
        if exchange.response_body.truncated {
            return refuse(format!(
                "the recorded response to {method} {url} was cut at {MAX_BODY_BYTES} bytes"
            ));
        }
        let mut response = http::Response::builder().status(status);
        for (name, value) in &exchange.response_headers {
            response = response.header(name, value);
        }
        let body = http_body_util::Full::new(Bytes::from(exchange.response_body.bytes()))
            .map_err(|never| match never {})
            .boxed_unsync();
        response
            .body(body)
            .map_err(|error| HttpError::InternalError(Some(error.to_string())))
    }

    /// The requests the recording could not answer, in order.
    pub fn missing(&self) -> Vec<String> {
        self.missing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A request body's first bytes, one more than [`MAX_BODY_BYTES`] at most (enough to tell it
/// was longer).
async fn read_bounded(mut body: WasiBody) -> Result<Vec<u8>, ()> {
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ())?;
        if let Some(data) = frame.data_ref() {
            let room = (MAX_BODY_BYTES + 1).saturating_sub(bytes.len());
            bytes.extend_from_slice(&data[..data.len().min(room)]);
            if bytes.len() > MAX_BODY_BYTES {
                break;
            }
        }
    }
    Ok(bytes)
}

/// Whether a request body is the one recorded (its kept prefix, when the recording was cut).
fn body_matches(recorded: &RecordedBody, sent: &Result<Vec<u8>, ()>) -> bool {
    let Ok(sent) = sent else { return false };
    let kept = recorded.bytes();
    if recorded.truncated {
        sent.len() > MAX_BODY_BYTES && sent.starts_with(&kept)
    } else {
        *sent == kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(bytes: &'static [u8]) -> WasiBody {
        http_body_util::Full::new(Bytes::from_static(bytes))
            .map_err(|never| match never {})
            .boxed_unsync()
    }

    fn request(method: &str, url: &str, bytes: &'static [u8]) -> http::Request<WasiBody> {
        http::Request::builder()
            .method(method)
            .uri(url)
            .header("authorization", "Bearer sk_live_1")
            .header("x-stripe-api-key", "sk_live_2")
            .header("content-type", "application/json")
            .body(body(bytes))
            .expect("request")
    }

    async fn drain(body: WasiBody) -> Vec<u8> {
        body.collect().await.expect("body").to_bytes().to_vec()
    }

    #[tokio::test]
    async fn an_exchange_is_recorded_with_its_secrets_redacted_and_played_back() {
        let recorder = Recorder::default();
        let (sent, ticket) = recorder.start(request(
            "POST",
            "https://pay.example/charge",
            b"{\"cents\":5}",
        ));
        assert_eq!(drain(sent.into_body()).await, b"{\"cents\":5}");
        let response = http::Response::builder()
            .status(201)
            .header("set-cookie", "session=1")
            .body(body(b"{\"charged\":true}"))
            .expect("response");
        let (response, ()) = Recorder::finish(ticket, Ok((response, ()))).expect("a response");
        assert_eq!(drain(response.into_body()).await, b"{\"charged\":true}");

        let (exchanges, dropped) = recorder.exchanges();
        assert_eq!(dropped, 0);
        let exchange = &exchanges[0];
        assert_eq!(
            (exchange.method.as_str(), exchange.status),
            ("POST", Some(201))
        );
        assert!(
            exchange
                .request_headers
                .contains(&("authorization".into(), REDACTED.into()))
        );
        assert!(
            exchange
                .request_headers
                .contains(&("x-stripe-api-key".into(), REDACTED.into()))
        );
        assert!(
            exchange
                .request_headers
                .contains(&("content-type".into(), "application/json".into()))
        );
        assert!(
            exchange
                .response_headers
                .contains(&("set-cookie".into(), REDACTED.into()))
        );
        let stored = serde_json::to_string(&exchanges).expect("JSON");
        assert!(!stored.contains("sk_live"), "{stored}");

        // Played back: the same request gets the recorded answer once; others are refused.
        let player = Player::new(serde_json::from_str(&stored).expect("JSON"));
        let answer = player
            .answer(request(
                "POST",
                "https://pay.example/charge",
                b"{\"cents\":5}",
            ))
            .await
            .expect("answered");
        assert_eq!(answer.status(), 201);
        assert_eq!(drain(answer.into_body()).await, b"{\"charged\":true}");
        for (method, url, bytes) in [
            ("POST", "https://pay.example/charge", &b"{\"cents\":5}"[..]),
            ("POST", "https://pay.example/charge", &b"{\"cents\":6}"[..]),
            ("GET", "https://pay.example/charge", &b"{\"cents\":5}"[..]),
        ] {
            let request = http::Request::builder()
                .method(method)
                .uri(url)
                .body(
                    http_body_util::Full::new(Bytes::copy_from_slice(bytes))
                        .map_err(|never| match never {})
                        .boxed_unsync(),
                )
                .expect("request");
            assert!(player.answer(request).await.is_err(), "{method} {bytes:?}");
        }
        assert_eq!(player.missing().len(), 3, "{:?}", player.missing());
    }

    #[tokio::test]
    async fn bodies_are_kept_up_to_the_limit_and_exchanges_up_to_their_number() {
        static BIG: [u8; MAX_BODY_BYTES + 10] = [b'a'; MAX_BODY_BYTES + 10];
        let recorder = Recorder::default();
        let (sent, ticket) = recorder.start(request("PUT", "https://x.example/", &BIG));
        assert_eq!(
            drain(sent.into_body()).await.len(),
            BIG.len(),
            "the request is sent whole"
        );
        let _ = Recorder::finish::<()>(ticket, Err(HttpError::ConnectionRefused));
        for _ in 1..MAX_EXCHANGES + 3 {
            let (_, ticket) = recorder.start(request("GET", "https://x.example/", b""));
            drop(ticket);
        }
        let (exchanges, dropped) = recorder.exchanges();
        assert_eq!((exchanges.len(), dropped), (MAX_EXCHANGES, 3));
        let first = &exchanges[0];
        assert!(first.request_body.truncated);
        assert_eq!(first.request_body.bytes().len(), MAX_BODY_BYTES);
        assert_eq!(
            (first.status, first.error.as_deref()),
            (None, Some("ConnectionRefused"))
        );

        // A cut request body matches a request that starts the same and is as long or longer.
        let player = Player::new(vec![first.clone()]);
        let refused = player
            .answer(request("PUT", "https://x.example/", &BIG))
            .await;
        assert!(
            matches!(refused, Err(HttpError::InternalError(Some(ref e))) if e == "ConnectionRefused")
        );
        assert!(player.missing().is_empty());

        let mut binary = first.clone();
        binary.request_body = RecordedBody::new(&[0xff, 0x00], false);
        assert!(binary.request_body.base64.is_some());
        assert_eq!(binary.request_body.bytes(), vec![0xff, 0x00]);
    }
}
