//! The `hookwing` binary as a real child process, for tests that kill it or signal it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::http_client;

/// The `hookwing` binary, running as a child process.
pub struct ServerProcess {
    child: Child,
    pub url: String,
}

impl ServerProcess {
    pub async fn start(database_url: &str, cache: &std::path::Path) -> Self {
        Self::start_with(database_url, cache, &[]).await
    }

    /// Starts the binary with `env` set on top of the defaults every test here uses.
    pub async fn start_with(
        database_url: &str,
        cache: &std::path::Path,
        env: &[(&str, &str)],
    ) -> Self {
        let port = super::free_port();
        let url = format!("http://127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_hookwing-under-test"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("DATABASE_URL", database_url)
            .env("HOOKWING_DELIVERY__LEASE_SECS", "2")
            .env("HOOKWING_WASM__CACHE_DIR", cache)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server process");
        // Owned at once, so the child is killed and reaped (Drop) on every path.
        let process = Self { child, url };
        let client = http_client();
        for _ in 0..300 {
            let health = client.get(format!("{}/healthz", process.url)).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return process;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server process did not come up");
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let response = http_client()
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .expect("request");
        response.json().await.expect("JSON")
    }

    /// The process id, for reading its resource use.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// Sends `signal` (`INT`, `TERM`, …) to the process.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -s {signal}");
    }

    /// Waits up to `limit` for the process to exit by itself; its exit status.
    pub async fn exited_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let until = std::time::Instant::now() + limit;
        while std::time::Instant::now() < until {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}
