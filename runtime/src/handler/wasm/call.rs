//! One call of a component: a fresh `Store` with the handler's limits and a deadline, an
//! instance from the pre-instantiated component, and what happened mapped onto the same
//! [`Reply`] classes webhooks produce.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtime::{Store, UpdateDeadline};

use super::engine::EPOCH_TICK;
use super::kv::KvSession;
use super::outbound::Tap;
use super::recording::{self, Player};
use super::registry::Loaded;
use super::state::{HostState, LogTag};
use super::world::{Answer, WitCall};
use super::{WasmHost, WasmRef, offload};
use crate::handler::{CallContext, Delivery, HandlerRequest, Reply};

impl WasmHost {
    /// Makes one attempt; never fails, every problem is a [`Reply::Failed`].
    pub async fn call(
        &self,
        wasm_ref: &WasmRef,
        request: &HandlerRequest<'_>,
        context: &CallContext<'_>,
        timeout: Duration,
    ) -> Delivery {
        let deadline = Instant::now() + timeout;
        let loaded = match self.resolve(wasm_ref).await {
            Ok(loaded) => loaded,
            Err(reason) => return failed(reason, Vec::new()),
        };
        // First this handler's share, then an instance of the pool: a handler at its share
        // waits for itself without holding an instance another handler could use.
        let Ok(Ok(share)) =
            tokio::time::timeout(timeout, loaded.concurrency.clone().acquire_owned()).await
        else {
            return failed(
                format!(
                    "handler `{}` stayed at its max_concurrency until the deadline",
                    loaded.name
                ),
                Vec::new(),
            )
            .ran(&loaded);
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Ok(instance)) =
            tokio::time::timeout(left, self.instances.clone().acquire_owned()).await
        else {
            return failed(
                "no component instance came free before the deadline".into(),
                Vec::new(),
            )
            .ran(&loaded);
        };
        let tag = LogTag {
            handler: loaded.name.clone(),
            event_id: request.event.id.to_string(),
        };
        let tap = match context.playback {
            Some(recorded) => Tap::Play(Arc::new(Player::new(recorded.to_vec()))),
            None if loaded.handler_config.record_outbound_http => Tap::Record(Arc::default()),
            None => Tap::Off,
        };
        let kv = KvSession::new(
            Arc::clone(&self.kv),
            Arc::clone(&loaded.kv_namespace),
            context.state_writes,
        );
        let state = HostState::new(
            loaded.memory_limit,
            loaded.config.clone(),
            loaded.policy.clone(),
            tap.clone(),
            kv,
            tag,
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        // Trap at the deadline. Once the call has run a whole tick, yield to tokio at every
        // tick, saying the guest is computing (it then moves to the guest threads, see
        // `offload`). The first tick a call sees may come a microsecond after it began: an
        // ordinary call of 30 µs crosses one about once in thirty calls, and moving it would
        // cost it a hand-off between threads for nothing.
        let computing = offload::computing_flag();
        let ticked = Arc::clone(&computing);
        let began = Instant::now();
        store.epoch_deadline_callback(move |_| {
            let now = Instant::now();
            if now >= deadline {
                return Err(wasmtime::Error::new(DeadlineExceeded));
            }
            if now.duration_since(began) < EPOCH_TICK {
                return Ok(UpdateDeadline::Continue(1));
            }
            ticked.store(true, Ordering::Relaxed);
            Ok(UpdateDeadline::Yield(1))
        });
        store.set_epoch_deadline(1);

        let wit_request = to_wit(request);
        let handler = Arc::clone(&loaded);
        let instantiation = self.instantiation.clone();
        let mut held = Held {
            store,
            _permits: (instance, share),
        };
        // Owns all it uses, so that it can move threads.
        let attempt = async move {
            let store = &mut held.store;
            let started = Instant::now();
            let outcome = tokio::time::timeout(
                timeout,
                handler.pre.handle(store, &wit_request, || {
                    instantiation.observe(started.elapsed().as_secs_f64());
                }),
            )
            .await;
            (outcome, held)
        };
        let (outcome, mut held) = match self.guests.run(attempt, &computing).await {
            Ok(finished) => finished,
            Err(reason) => return failed(reason, Vec::new()).ran(&loaded),
        };
        let denied = held.store.data().denied_requests();
        let mut logs = held.store.data_mut().take_logs();
        drop(held);
        for reason in &denied {
            logs.push(serde_json::json!({"level": "warn", "message": format!("outbound request refused: {reason}")}));
        }
        let (http_exchanges, unrecorded) = tapped(&tap, &mut logs);
        let reply = match outcome {
            Err(_) => Reply::Failed {
                reason: deadline_reason(timeout),
                retry_after: None,
            },
            Ok(Err(error)) => Reply::Failed {
                reason: describe_trap(&error, timeout, &loaded),
                retry_after: None,
            },
            Ok(Ok(Answer::Output(output))) => match serde_json::from_str::<Value>(&output) {
                Ok(output) => Reply::Success { output },
                Err(e) => Reply::Failed {
                    reason: format!("wasm handler returned output that is not JSON: {e}"),
                    retry_after: None,
                },
            },
            Ok(Ok(Answer::Reject {
                message,
                extensions,
            })) => rejected(message, extensions, &mut logs),
            Ok(Ok(Answer::Retry { reason, after_ms })) => Reply::Failed {
                reason: format!("wasm handler asked for a retry: {reason}"),
                retry_after: after_ms.map(Duration::from_millis),
            },
        };
        // A replay from a recording that lacks a request the component made has not replayed
        // the attempt, whatever the component answered without it.
        let reply = match unrecorded.first() {
            Some(first) => Reply::Failed {
                reason: format!(
                    "replay from the recording: {first}{}",
                    match unrecorded.len() {
                        1 => String::new(),
                        n => format!(" (and {} more requests)", n - 1),
                    }
                ),
                retry_after: None,
            },
            None => reply,
        };
        Delivery {
            reply,
            status_code: None,
            logs,
            set_cookies: Vec::new(),
            version: Some(loaded.sha256.clone()),
            http_exchanges,
        }
    }
}

/// What a call's tap holds once it is over: the exchanges recorded (as JSON, for the attempt
/// record), or the requests a recording could not answer — each also noted in the logs.
fn tapped(tap: &Tap, logs: &mut Vec<Value>) -> (Option<Value>, Vec<String>) {
    match tap {
        Tap::Off => (None, Vec::new()),
        Tap::Record(recorder) => {
            let (exchanges, dropped) = recorder.exchanges();
            if dropped > 0 {
                logs.push(serde_json::json!({"level": "warn", "message": format!(
                    "{dropped} outbound requests past the first {} were not recorded",
                    recording::MAX_EXCHANGES
                )}));
            }
            (serde_json::to_value(exchanges).ok(), Vec::new())
        }
        Tap::Play(player) => {
            let missing = player.missing();
            for reason in &missing {
                logs.push(serde_json::json!({"level": "warn", "message": format!("not in the recording: {reason}")}));
            }
            (None, missing)
        }
    }
}

impl Delivery {
    /// This delivery, as made by version `loaded`.
    fn ran(self, loaded: &Loaded) -> Self {
        Self {
            version: Some(loaded.sha256.clone()),
            ..self
        }
    }
}

/// A call's store and the permits that let it exist. Fields drop in order: the store first,
/// so a permit comes free only once the pool's slot has, wherever the call ends (here, or
/// aborted on the guest threads).
struct Held {
    store: Store<HostState>,
    _permits: (
        tokio::sync::OwnedSemaphorePermit,
        tokio::sync::OwnedSemaphorePermit,
    ),
}

/// Raised from the epoch callback when a call runs past its deadline.
#[derive(Debug)]
struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline exceeded")
    }
}

impl std::error::Error for DeadlineExceeded {}

fn deadline_reason(timeout: Duration) -> String {
    format!(
        "wasm handler did not finish within {} ms",
        timeout.as_millis()
    )
}

fn describe_trap(error: &wasmtime::Error, timeout: Duration, loaded: &Loaded) -> String {
    if error.downcast_ref::<DeadlineExceeded>().is_some() {
        return deadline_reason(timeout);
    }
    let text = shorten(&format!("{error:?}"));
    if text.contains("forcing trap when growing memory") {
        return format!(
            "wasm handler ran out of memory (limit {} MiB): {error:#}",
            loaded.memory_limit >> 20
        );
    }
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::StackOverflow) => "wasm handler overflowed its stack".into(),
        Some(trap) => format!("wasm handler trapped ({trap}): {text}"),
        None => format!("wasm handler failed: {text}"),
    }
}

/// A trap's report with its backtrace cut to the innermost frames: enough to locate the fault,
/// not a 10,000-line attempt record after a deep recursion.
fn shorten(report: &str) -> String {
    const MAX_LINES: usize = 12;
    let lines: Vec<&str> = report.lines().collect();
    if lines.len() <= MAX_LINES {
        return report.to_owned();
    }
    let cause = lines
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty())
        .copied()
        .unwrap_or_default();
    format!(
        "{}\n    … {} more lines …\n{}",
        lines[..MAX_LINES].join("\n"),
        lines.len() - MAX_LINES - 1,
        cause
    )
}

fn rejected(message: String, extensions: Option<String>, logs: &mut Vec<Value>) -> Reply {
    let extensions = extensions.and_then(|text| match serde_json::from_str::<Value>(&text) {
        Ok(value @ Value::Object(_)) => Some(value),
        _ => {
            logs.push(serde_json::json!({"level": "warn",
                "message": "the rejection's extensions are not a JSON object; they were dropped"}));
            None
        }
    });
    Reply::Rejected {
        message,
        code: None,
        extensions,
    }
}

fn failed(reason: String, logs: Vec<Value>) -> Delivery {
    Delivery {
        reply: Reply::Failed {
            reason,
            retry_after: None,
        },
        status_code: None,
        logs,
        set_cookies: Vec::new(),
        version: None,
        http_exchanges: None,
    }
}

fn to_wit(request: &HandlerRequest<'_>) -> WitCall {
    let session_variables = request
        .session_variables
        .as_object()
        .map(|vars| {
            vars.iter()
                .map(|(name, value)| {
                    let value = value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_owned);
                    (name.clone(), value)
                })
                .collect()
        })
        .unwrap_or_default();
    WitCall {
        action: request.action.name.to_owned(),
        input: request.input.to_string(),
        session_variables,
        request_query: request.request_query.to_owned(),
        event_id: request.event.id.to_string(),
        attempt: request.event.attempt,
        created_at: request
            .event
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    }
}
