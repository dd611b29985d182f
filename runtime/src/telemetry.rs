//! Prometheus metrics (served on `GET /metrics` by the API): what was invoked and how it ended, how long attempts,
//! wasm instantiation and store operations take, and how deep the asynchronous queue is. Each
//! server has its own registry, so several can run in one process (as the tests do).

use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Latency buckets from 100 µs to 30 s: in-process wasm calls sit at the bottom, webhooks and
/// timeouts at the top.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0,
];

/// The server's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Calls by action, handler kind and final outcome.
    pub invocations: IntCounterVec,
    /// Delivery attempts by action, handler kind and outcome.
    pub attempts: HistogramVec,
    /// Time to instantiate a wasm handler for one call.
    pub wasm_instantiation: Histogram,
    /// Store operations by name.
    pub store: HistogramVec,
    queue_depth: IntGaugeVec,
    /// HTTP requests by route (the matched pattern), method and status.
    http_requests: HistogramVec,
    /// Open WebSocket connections.
    pub websockets: prometheus::IntGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn histogram(name: &str, help: &str) -> HistogramOpts {
    HistogramOpts::new(name, help).buckets(BUCKETS.to_vec())
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let registry = Registry::new();
        let invocations = IntCounterVec::new(
            Opts::new(
                "hookwing_action_invocations_total",
                "Action calls by final outcome",
            ),
            &["action", "handler", "outcome"],
        )
        .expect("valid metric");
        let attempts = HistogramVec::new(
            histogram(
                "hookwing_attempt_duration_seconds",
                "Delivery attempt latency",
            ),
            &["action", "handler", "outcome"],
        )
        .expect("valid metric");
        let wasm_instantiation = Histogram::with_opts(histogram(
            "hookwing_wasm_instantiation_seconds",
            "Time to instantiate a wasm handler for one call",
        ))
        .expect("valid metric");
        let store = HistogramVec::new(
            histogram(
                "hookwing_store_operation_seconds",
                "Event store operation latency",
            ),
            &["operation"],
        )
        .expect("valid metric");
        let queue_depth = IntGaugeVec::new(
            Opts::new(
                "hookwing_queue_depth",
                "Asynchronous events waiting or being delivered",
            ),
            &["status"],
        )
        .expect("valid metric");
        let http_requests = HistogramVec::new(
            histogram(
                "hookwing_http_request_duration_seconds",
                "HTTP requests by route, method and status, and how long they took",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let websockets = prometheus::IntGauge::new(
            "hookwing_websocket_connections",
            "Open GraphQL WebSocket connections",
        )
        .expect("valid metric");
        let build_info = IntGaugeVec::new(
            Opts::new("hookwing_build_info", "The running build: always 1"),
            &["version"],
        )
        .expect("valid metric");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for collector in [
            Box::new(invocations.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_requests.clone()),
            Box::new(websockets.clone()),
            Box::new(build_info),
            Box::new(attempts.clone()),
            Box::new(wasm_instantiation.clone()),
            Box::new(store.clone()),
            Box::new(queue_depth.clone()),
            Box::new(prometheus::process_collector::ProcessCollector::for_self()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        Self {
            registry,
            invocations,
            attempts,
            wasm_instantiation,
            store,
            queue_depth,
            http_requests,
            websockets,
        }
    }

    /// Records one HTTP request. `route` is the matched pattern, never the raw path, so the
    /// series stay few whatever clients send.
    pub fn http_request(&self, route: &str, method: &str, status: u16, took: Duration) {
        self.http_requests
            .with_label_values(&[route, method, &status.to_string()])
            .observe(took.as_secs_f64());
    }

    /// Sets the queue-depth gauges: asynchronous events `waiting` and `delivering`.
    pub fn set_queue_depth(&self, waiting: i64, delivering: i64) {
        self.queue_depth
            .with_label_values(&["created"])
            .set(waiting);
        self.queue_depth
            .with_label_values(&["processing"])
            .set(delivering);
    }

    /// Every metric, in the Prometheus text format.
    pub fn encode(&self) -> Result<Vec<u8>, prometheus::Error> {
        let mut text = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut text)?;
        Ok(text)
    }

    /// Records one store operation's latency.
    pub fn store_operation(&self, operation: &str, took: Duration) {
        self.store
            .with_label_values(&[operation])
            .observe(took.as_secs_f64());
    }
}
