//! Every measured party runs in its own process (this binary, re-run with a hidden
//! subcommand), so each one's peak resident memory is its own and nothing shares an allocator
//! or a runtime with the load generator.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Prefix of the one line a child prints on stdout: its address, or its result.
const ANNOUNCEMENT: &str = "hookwing-bench: ";

/// Prints the line the parent waits for.
pub fn announce(what: &str) {
    println!("{ANNOUNCEMENT}{what}");
}

/// Peak resident memory (`VmHWM`) of process `pid` (or `self`), in bytes.
pub fn peak_rss_of(pid: &str) -> Option<u64> {
    status_bytes(pid, "VmHWM:")
}

/// A memory figure of `/proc/<pid>/status` (given in KiB there), in bytes.
fn status_bytes(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A running child process of the benchmark.
pub struct Process {
    child: Child,
    /// What it announced: a base URL, or a JSON result.
    pub announced: String,
}

impl Process {
    /// Starts `hookwing-bench <args>` and waits (up to `wait`) for its announcement.
    pub async fn start(args: &[String], wait: Duration) -> anyhow::Result<Self> {
        Self::start_program(std::env::current_exe()?, args, wait).await
    }

    /// Starts `program <args>` (a peer: any program printing the same announcement) and
    /// waits (up to `wait`) for its announcement.
    pub async fn start_program(
        program: impl AsRef<std::ffi::OsStr>,
        args: &[String],
        wait: Duration,
    ) -> anyhow::Result<Self> {
        let mut child = Command::new(program)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {args:?}"))?;
        let stdout = child.stdout.take().context("child stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let announced = tokio::time::timeout(wait, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.strip_prefix(ANNOUNCEMENT) {
                    return Ok(rest.to_owned());
                }
            }
            bail!("{args:?} exited without announcing itself")
        })
        .await
        .with_context(|| format!("{args:?} did not announce itself within {wait:?}"))??;
        Ok(Self { child, announced })
    }

    /// Peak resident memory so far, in bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        peak_rss_of(&self.child.id()?.to_string())
    }

    /// Resident memory now (`VmRSS`), in bytes.
    pub fn rss(&self) -> Option<u64> {
        status_bytes(&self.child.id()?.to_string(), "VmRSS:")
    }

    /// Stops the process; returns its peak resident memory.
    pub async fn stop(mut self) -> Option<u64> {
        let peak = self.peak_rss();
        let _ = self.child.kill().await;
        peak
    }
}
