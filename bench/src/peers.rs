//! The webhook peers: the `user-login` logic as users write webhooks (Node.js on Express and
//! on Fastify, Python on FastAPI under uvicorn), started from `bench/peers` beside the
//! benchmark's own actix-web webhook. Their packages come from npm and PyPI (`npm ci` in
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
