//! The WebSocket under GraphQL subscriptions: the handshake and its subprotocol, frames in and
//! out of async-graphql's protocol machine, heartbeats, the credential's expiry, and the close
//! codes clients act on.
//!
//! async-graphql's actix integration closes a connection whose `connection_init` was refused
//! with 1002 (protocol error), while the graphql-transport-ws protocol says 4403 (Forbidden),
//! which clients such as graphql-ws treat as "do not retry with these credentials". So the
//! socket is driven here, with actix-ws, and async-graphql only speaks the protocol.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::http::header::SEC_WEBSOCKET_PROTOCOL;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason};
use async_graphql::http::{WebSocketProtocols, WsMessage};
use futures::StreamExt;

use super::error::GraphqlError;

/// The subprotocols spoken, in the order a server prefers them.
const PROTOCOLS: [&str; 2] = ["graphql-transport-ws", "graphql-ws"];

/// How often the server pings, and how long a silent client is kept.
const HEARTBEAT: Duration = Duration::from_secs(5);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// graphql-transport-ws' close code for a refused `connection_init`.
const FORBIDDEN: u16 = 4403;

/// Upgrades `request` and runs `protocol_machine` over the socket until either side ends it
/// or `expired` resolves (the credential ran out). `protocol_machine` gets the client's
/// messages and the subprotocol, and `refused` is raised by its `connection_init` callback
/// when it refuses the connection.
pub fn serve<M, S>(
    request: &HttpRequest,
    payload: web::Payload,
    max_message_bytes: usize,
    expired: impl Future<Output = ()> + 'static,
    refused: Arc<AtomicBool>,
    protocol_machine: M,
) -> actix_web::Result<HttpResponse>
where
    M: FnOnce(futures::channel::mpsc::Receiver<Vec<u8>>, WebSocketProtocols) -> S,
    S: futures::Stream<Item = WsMessage> + 'static,
{
    let asked = request.headers().contains_key(SEC_WEBSOCKET_PROTOCOL);
    let (response, session, messages) =
        actix_ws::handle_with_protocols(request, payload, &PROTOCOLS)?;
    let chosen = response
        .headers()
        .get(SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .and_then(|name| WebSocketProtocols::from_str(name).ok());
    let protocol = match chosen {
        Some(protocol) => protocol,
        // A client naming no subprotocol speaks the legacy one, as with Hasura; the answer
        // names none either (a client must refuse a protocol it did not ask for).
        None if !asked => WebSocketProtocols::SubscriptionsTransportWS,
        None => {
            return Err(GraphqlError::new(
                StatusCode::BAD_REQUEST,
                "invalid-protocol",
                "unknown WebSocket subprotocol: use graphql-transport-ws or graphql-ws",
            )
            .into());
        }
    };
    let (to_machine, from_client) = futures::channel::mpsc::channel(16);
    let outgoing = protocol_machine(from_client, protocol);
    let messages = messages
        .aggregate_continuations()
        .max_continuation_size(max_message_bytes);
    actix_web::rt::spawn(read(messages, session.clone(), to_machine, expired));
    actix_web::rt::spawn(write(outgoing, session, refused));
    Ok(response)
}

/// Client frames into the protocol machine; pings answered, a silent client dropped. Ending
/// (the client closed, went silent, or the credential expired) ends the machine's input,
/// which ends the connection.
async fn read(
    mut messages: actix_ws::AggregatedMessageStream,
    mut session: actix_ws::Session,
    mut to_machine: futures::channel::mpsc::Sender<Vec<u8>>,
    expired: impl Future<Output = ()>,
) {
    use futures::SinkExt;
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let mut heard = Instant::now();
    let mut expired = std::pin::pin!(expired);
    loop {
        tokio::select! {
            message = messages.next() => {
                heard = Instant::now();
                let data = match message {
                    Some(Ok(AggregatedMessage::Text(text))) => text.as_bytes().to_vec(),
                    Some(Ok(AggregatedMessage::Binary(bytes))) => bytes.to_vec(),
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        if session.pong(&bytes).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => continue,
                    // Closed, or a protocol error (an oversized frame): the end.
                    Some(Ok(AggregatedMessage::Close(_)) | Err(_)) | None => return,
                };
                if to_machine.send(data).await.is_err() {
                    return;
                }
            }
            _ = heartbeat.tick() => {
                if heard.elapsed() > CLIENT_TIMEOUT || session.ping(b"").await.is_err() {
                    return;
                }
            }
            () = &mut expired => return,
        }
    }
}

/// The protocol machine's messages onto the socket, then the close.
async fn write(
    outgoing: impl futures::Stream<Item = WsMessage>,
    mut session: actix_ws::Session,
    refused: Arc<AtomicBool>,
) {
    let mut outgoing = std::pin::pin!(outgoing);
    while let Some(message) = outgoing.next().await {
        match message {
            WsMessage::Text(text) => {
                if session.text(text).await.is_err() {
                    return;
                }
            }
            WsMessage::Close(code, description) => {
                let code = if refused.load(Ordering::Acquire) {
                    FORBIDDEN
                } else {
                    code
                };
                let reason = CloseReason {
                    code: CloseCode::from(code),
                    description: Some(description),
                };
                let _ = session.close(Some(reason)).await;
                return;
            }
        }
    }
    let _ = session.close(Some(CloseCode::Normal.into())).await;
}
