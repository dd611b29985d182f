//! The peers, what users would run instead: the `user-login` logic as webhooks (Node.js on
//! Express and on Fastify, Python on FastAPI under uvicorn) beside the benchmark's own
//! actix-web webhook, and as jobs of the job queues graphile-worker and pg-boss, all started
//! from `bench/peers`. Their packages come from npm and PyPI (`npm ci` in
//! `bench/peers`, `pip install -r bench/peers/requirements.txt`; `.ci/run` does both); a peer
//! whose runtime or packages are missing is skipped with a message, and its targets count as
//! missed.

use std::time::Duration;

use crate::child::Process;

/// Where the peers' sources and packages are.
const PEERS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/peers");

/// A webhook peer.
pub struct Peer {
    /// How the report names it: `Node Express`.
    pub label: &'static str,
    /// The action that calls it.
    pub action: &'static str,
    process: Process,
}

impl Peer {
    /// Its `/login` URL.
    pub fn url(&self) -> &str {
        &self.process.announced
    }

    pub async fn stop(self) {
        self.process.stop().await;
    }
}

/// Every peer: its label, its action, and the command that serves it.
const PEERS: [(&str, &str, &str, &str); 3] = [
    ("Node Express", "userLoginExpress", "node", "express.mjs"),
    ("Node Fastify", "userLoginFastify", "node", "fastify.mjs"),
    (
        "Python FastAPI",
        "userLoginFastapi",
        "python3",
        "fastapi_login.py",
    ),
];

/// Starts the peers that can run here; returns them and the labels of those that cannot.
pub async fn start() -> (Vec<Peer>, Vec<&'static str>) {
    let mut running = Vec::new();
    let mut missing = Vec::new();
    for (label, action, program, script) in PEERS {
        let args = [format!("{PEERS_DIR}/{script}")];
        match Process::start_program(program, &args, Duration::from_secs(30)).await {
            Ok(process) => running.push(Peer {
                label,
                action,
                process,
            }),
            Err(error) => {
                eprintln!(
                    "bench: skipping the {label} webhook ({error:#}); \
                     install with `npm ci` and `pip install -r requirements.txt` in bench/peers"
                );
                missing.push(label);
            }
        }
    }
    (running, missing)
}

/// The job-queue peers of async delivery, on PostgreSQL: their label, and the script and its
/// mode (see each script for its settings).
pub const JOB_QUEUES: [(&str, &str, &str); 3] = [
    (
        "graphile-worker, concurrency 64",
        "graphile-worker.mjs",
        "default",
    ),
    ("graphile-worker, batched", "graphile-worker.mjs", "fastest"),
    ("pg-boss, batches of 500", "pg-boss.mjs", ""),
];

/// Runs one job-queue peer: it enqueues `events` jobs on `database_url`, drains them with the
/// same logic as the handler, and reports jobs per second. `None` (with a message) when Node.js
/// or the packages are missing.
pub async fn drain_jobs(script: &str, mode: &str, database_url: &str, events: u64) -> Option<f64> {
    let args = [
        format!("{PEERS_DIR}/{script}"),
        database_url.to_owned(),
        events.to_string(),
        mode.to_owned(),
    ];
    let outcome = async {
        let process = Process::start_program("node", &args, Duration::from_secs(900)).await?;
        let report: serde_json::Value = serde_json::from_str(&process.announced)?;
        process.stop().await;
        report["rate"]
            .as_f64()
            .ok_or_else(|| anyhow::anyhow!("no rate in {report}"))
    };
    match outcome.await {
        Ok(rate) => Some(rate),
        Err(error) => {
            eprintln!(
                "bench: skipping the {script} {mode} job queue ({error:#}); run `npm ci` in bench/peers"
            );
            None
        }
    }
}
