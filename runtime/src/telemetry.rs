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
    /// Handlers' key-value operations by operation and outcome.
    pub handler_state: HistogramVec,
    /// Store operations by name.
    pub store: HistogramVec,
    queue_depth: IntGaugeVec,
    queue_oldest_due: prometheus::GaugeVec,
    /// HTTP requests by route (the matched pattern), method and status.
    http_requests: HistogramVec,
    /// Open WebSocket connections.
    pub websockets: prometheus::IntGauge,
    /// Subscriptions running over them.
    pub subscriptions: prometheus::IntGauge,
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
        let handler_state = HistogramVec::new(
            histogram(
                "hookwing_handler_state_operation_seconds",
                "Handlers' key-value operations, by operation and outcome",
            ),
            &["operation", "outcome"],
        )
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
                "Asynchronous events waiting (created) or being delivered (processing), by action",
            ),
            &["action", "status"],
        )
        .expect("valid metric");
        let queue_oldest_due = prometheus::GaugeVec::new(
            Opts::new(
                "hookwing_queue_oldest_due_age_seconds",
                "How long the oldest due asynchronous event of each action has waited",
            ),
            &["action"],
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
        let subscriptions = prometheus::IntGauge::new(
            "hookwing_subscriptions_active",
            "GraphQL subscriptions running over WebSocket connections",
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
            Box::new(subscriptions.clone()),
            Box::new(build_info),
            Box::new(attempts.clone()),
            Box::new(wasm_instantiation.clone()),
            Box::new(handler_state.clone()),
            Box::new(store.clone()),
            Box::new(queue_depth.clone()),
            Box::new(queue_oldest_due.clone()),
            Box::new(ProcessMetrics::new()),
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
            handler_state,
            store,
            queue_depth,
            queue_oldest_due,
            http_requests,
            websockets,
            subscriptions,
        }
    }

    /// Records one HTTP request. `route` is the matched pattern, never the raw path, so the
    /// series stay few whatever clients send.
    pub fn http_request(&self, route: &str, method: &str, status: u16, took: Duration) {
        self.http_requests
            .with_label_values(&[route, method, &status.to_string()])
            .observe(took.as_secs_f64());
    }

    /// Clears the queue gauges before a fresh read ([`Self::set_action_queue`] for each
    /// action), so that an action whose queue emptied has no series, not its old depth.
    pub fn reset_queue(&self) {
        self.queue_depth.reset();
        self.queue_oldest_due.reset();
    }

    /// One action's queue: events `waiting` and `delivering`, and how long the oldest due one
    /// has been due.
    pub fn set_action_queue(
        &self,
        action: &str,
        waiting: i64,
        delivering: i64,
        oldest_due_age: Duration,
    ) {
        self.queue_depth
            .with_label_values(&[action, "created"])
            .set(waiting);
        self.queue_depth
            .with_label_values(&[action, "processing"])
            .set(delivering);
        self.queue_oldest_due
            .with_label_values(&[action])
            .set(oldest_due_age.as_secs_f64());
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

/// The process collector's metrics (memory, threads, open files, CPU), with CPU time to the
/// clock tick: the collector itself truncates `process_cpu_seconds_total` to whole seconds,
/// so a rate over a scrape interval read 0 or 1.
struct ProcessMetrics {
    inner: prometheus::process_collector::ProcessCollector,
    cpu: prometheus::Counter,
}

const CPU_SECONDS: &str = "process_cpu_seconds_total";

impl ProcessMetrics {
    fn new() -> Self {
        Self {
            inner: prometheus::process_collector::ProcessCollector::for_self(),
            // The collector's own name and help, so that its description still holds.
            cpu: prometheus::Counter::new(
                CPU_SECONDS,
                "Total user and system CPU time spent in seconds.",
            )
            .expect("valid metric"),
        }
    }

    #[cfg(target_os = "linux")]
    fn cpu_seconds() -> Option<f64> {
        let stat = procfs::process::Process::myself().ok()?.stat().ok()?;
        #[allow(clippy::cast_precision_loss)] // ticks fit an f64 exactly for ages
        let seconds = (stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64;
        Some(seconds)
    }

    #[cfg(not(target_os = "linux"))]
    fn cpu_seconds() -> Option<f64> {
        None
    }
}

impl prometheus::core::Collector for ProcessMetrics {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.inner.desc()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        let mut families = self.inner.collect();
        if let Some(total) = Self::cpu_seconds() {
            // A counter only grows: add what was spent since the last read.
            let spent = total - self.cpu.get();
            if spent > 0.0 {
                self.cpu.inc_by(spent);
            }
            for family in &mut families {
                if family.name() == CPU_SECONDS
                    && let Some(exact) = self.cpu.collect().pop()
                {
                    *family = exact;
                }
            }
        }
        families
    }
}
