//! How soon an asynchronous action's result reaches a client that waits for it on a
//! subscription: one client, one WebSocket (`graphql-transport-ws`), one call at a time. Each
//! sample is timed from sending the mutation until the subscription opened with the returned
//! id delivers the output, so it holds everything a client waits through: accepting the call,
//! delivering it to the component, storing the result and pushing it. The push alone is part
//! of that.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::load::Latencies;
use crate::scenarios::{ADMIN_HEADER, client, mutation};
use crate::server::ADMIN_SECRET;

/// Waiting longer than this for one result fails the run.
const PATIENCE: Duration = Duration::from_secs(10);

/// `samples` calls of `action` on `server` (its base URL), each waited for on a subscription.
pub async fn measure(server: &str, action: &str, samples: usize) -> anyhow::Result<Latencies> {
    let http = client();
    let url = format!("{}/v1/graphql", server.replacen("http", "ws", 1));
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    // Without TCP_NODELAY, a `subscribe` sent right after the previous `complete` waits for
    // the server's delayed ACK (40 ms), as any small write after an unanswered one does.
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .context("connect the subscription socket")?;
    let text = |value: Value| Message::Text(value.to_string().into());
    socket
        .send(text(json!({"type": "connection_init",
            "payload": {"headers": {ADMIN_HEADER: ADMIN_SECRET}}})))
        .await?;
    next_of(&mut socket, "connection_ack", None).await?;

    let mut latencies = Latencies::default();
    for sample in 0..samples {
        let started = Instant::now();
        let answer: Value = http
            .post(format!("{server}/v1/graphql"))
            .header(ADMIN_HEADER, ADMIN_SECRET)
            .header("content-type", "application/json")
            .body(mutation(action, ""))
            .send()
            .await?
            .json()
            .await?;
        let Some(id) = answer["data"][action].as_str() else {
            bail!("{action} was not accepted: {answer}");
        };
        let subscription = sample.to_string();
        let query = format!(
            "subscription {{ {action}(id: \"{id}\") {{ output {{ accessToken }} errors }} }}"
        );
        socket
            .send(text(json!({"type": "subscribe", "id": subscription,
                "payload": {"query": query}})))
            .await?;
        // The first answer may still be pending; the result is the first with an output.
        loop {
            let message = next_of(&mut socket, "next", Some(&subscription)).await?;
            let result = &message["payload"]["data"][action];
            ensure!(
                result["errors"].is_null(),
                "{action} {id} failed: {message}"
            );
            if result["output"]["accessToken"].is_string() {
                break;
            }
        }
        latencies.record(started.elapsed());
        socket
            .send(text(json!({"type": "complete", "id": subscription})))
            .await?;
    }
    socket.close(None).await.ok();
    Ok(latencies)
}

/// The next message of `kind` (for subscription `id`, when given), skipping keep-alives.
async fn next_of<S>(socket: &mut S, kind: &str, id: Option<&str>) -> anyhow::Result<Value>
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(message) = tokio::time::timeout(left, socket.next()).await else {
            bail!("no `{kind}` message within {PATIENCE:?}");
        };
        let Some(message) = message else {
            bail!("the subscription socket closed while waiting for `{kind}`");
        };
        let Message::Text(text) = message? else {
            continue;
        };
        let message: Value = serde_json::from_str(&text)?;
        match message["type"].as_str() {
            Some(found) if found == kind && id.is_none_or(|id| message["id"] == id) => {
                return Ok(message);
            }
            Some("error" | "connection_error") => bail!("the server refused: {message}"),
            _ => {}
        }
    }
}
