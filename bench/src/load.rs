//! Closed-loop load over loopback HTTP: a fixed number of clients, each sending its next request
//! as soon as the previous answer arrives, for a fixed time or a fixed number of requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;

/// Request latencies, kept whole (a run is at most a few hundred thousand requests).
#[derive(Debug, Default, Clone)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn record(&mut self, latency: Duration) {
        self.0.push(latency);
    }

    pub fn merge(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    pub fn mean_us(&self) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.iter().map(Duration::as_secs_f64).sum::<f64>() * 1e6 / self.0.len() as f64
    }

    /// The `p`th percentile (nearest rank), in microseconds.
    pub fn percentile_us(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e6
    }
}

/// The requests every client sends.
#[derive(Clone)]
pub struct Target {
    /// Clients are spread over these URLs round-robin (several replicas).
    pub urls: Vec<String>,
    /// Each client sends these bodies in turn, starting at its own index (one body: the same
    /// request every time; several: calls spread over several actions).
    pub bodies: Vec<String>,
    pub headers: Vec<(String, String)>,
}

impl Target {
    /// The same request, every time.
    pub fn one(urls: Vec<String>, body: String, headers: Vec<(String, String)>) -> Self {
        Self {
            urls,
            bodies: vec![body],
            headers,
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Measured {
    pub requests: u64,
    pub seconds: f64,
    pub latencies: Latencies,
}

impl Measured {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.seconds.max(f64::EPSILON)
    }
}

/// How long to load, or how much.
#[derive(Debug, Clone, Copy)]
pub enum Amount {
    /// Run for `measure` after `warmup` (whose requests are not counted).
    Duration { warmup: Duration, measure: Duration },
    /// Send exactly this many requests in all.
    Requests(u64),
}

/// Drives `target` with `clients` concurrent clients. Every answer must be HTTP 200 without
/// GraphQL errors; the first one that is not ends the run with an error.
pub async fn run(target: &Target, clients: usize, amount: Amount) -> anyhow::Result<Measured> {
    hookwing::install_crypto_provider();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let (measure_from, measure_until) = match amount {
        Amount::Duration { warmup, measure } => {
            (started + warmup, Some(started + warmup + measure))
        }
        Amount::Requests(_) => (started, None),
    };
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..clients {
        let client = client.clone();
        let issued = issued.clone();
        let url = target.urls[index % target.urls.len()].clone();
        let target = target.clone();
        tasks.spawn(async move {
            let mut latencies = Latencies::default();
            let mut counted = 0_u64;
            let mut next_body = index;
            loop {
                let done = match (amount, measure_until) {
                    (Amount::Requests(total), _) => issued.fetch_add(1, Ordering::Relaxed) >= total,
                    (_, Some(until)) => Instant::now() >= until,
                    (_, None) => false,
                };
                if done {
                    break;
                }
                let sent = Instant::now();
                let body = target.bodies[next_body % target.bodies.len()].clone();
                next_body += 1;
                let mut request = client.post(&url).body(body);
                for (name, value) in &target.headers {
                    request = request.header(name, value);
                }
                let response = request.send().await?;
                let status = response.status();
                let body = response.bytes().await?;
                if !status.is_success() || contains(&body, b"\"errors\"") {
                    bail!(
                        "{url} answered {status}: {}",
                        String::from_utf8_lossy(&body)
                    );
                }
                if sent >= measure_from {
                    latencies.record(sent.elapsed());
                    counted += 1;
                }
            }
            Ok((counted, latencies))
        });
    }
    let mut measured = Measured {
        requests: 0,
        seconds: 0.0,
        latencies: Latencies::default(),
    };
    while let Some(joined) = tasks.join_next().await {
        let (counted, latencies) = joined??;
        measured.requests += counted;
        measured.latencies.merge(latencies);
    }
    let ended = measure_until.map_or_else(Instant::now, |until| until.min(Instant::now()));
    measured.seconds = ended.duration_since(measure_from).as_secs_f64();
    Ok(measured)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
