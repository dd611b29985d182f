//! `hookwing dev PATH`: the handler author's loop. Watches a guest crate; on each save builds
//! it for `wasm32-wasip2`, uploads it to a running server as a new version of its handler, and
//! replays the last events of every action that uses the handler against exactly that
//! version, printing each next to its stored result. A failed build is shown as cargo wrote it,
//! and the loop waits for the next save.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::remote::{AdminClient, RemoteError, ReplayRequest};

/// What `hookwing dev` was asked to do.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// The guest crate's directory.
    pub crate_dir: PathBuf,
    /// The handler name it is uploaded as.
    pub handler: String,
    /// The handler's JSON config, sent with every upload.
    pub handler_config: Option<PathBuf>,
    /// Events replayed per action after each upload.
    pub events: u32,
    /// `recorded` replays answer the component's requests from their recordings.
    pub mode: Option<String>,
    /// One build, upload and replay, then stop (no watching).
    pub once: bool,
}

/// Why the loop stopped.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("cannot run cargo: {0}")]
    Cargo(std::io::Error),
    #[error("cannot watch {path}: {source}")]
    Watch { path: String, source: notify::Error },
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error("the build produced no .wasm file: is the crate a cdylib?")]
    NoComponent,
    #[error("the build failed")]
    BuildFailed,
}

/// Runs the loop, writing what happens to `out`.
pub async fn run(
    client: &AdminClient,
    options: &DevOptions,
    out: &mut (impl Write + Send),
) -> Result<(), DevError> {
    let outcome = cycle(client, options, out).await;
    if options.once {
        return outcome;
    }
    if let Err(error) = outcome {
        report(out, &error);
    }
    let (sender, receiver) = std::sync::mpsc::channel();
    let mut watcher = notify::recommended_watcher(sender).map_err(|source| DevError::Watch {
        path: options.crate_dir.display().to_string(),
        source,
    })?;
    use notify::Watcher as _;
    for watched in ["src", "Cargo.toml", "build.rs", "wit"] {
        let path = options.crate_dir.join(watched);
        if path.exists() {
            watcher
                .watch(&path, notify::RecursiveMode::Recursive)
                .map_err(|source| DevError::Watch {
                    path: path.display().to_string(),
                    source,
                })?;
        }
    }
    let _ = writeln!(out, "watching {} for changes", options.crate_dir.display());
    let _ = out.flush();
    let receiver = std::sync::Arc::new(std::sync::Mutex::new(receiver));
    loop {
        let waiting = receiver.clone();
        // A save is often several events (write, rename, chmod): wait for one, then let the
        // burst settle before building.
        let changed = tokio::task::spawn_blocking(move || {
            let receiver = waiting
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            loop {
                match receiver.recv() {
                    Ok(Ok(event)) if is_edit(&event) => break,
                    Ok(_) => {}
                    Err(_) => return false,
                }
            }
            while receiver.recv_timeout(Duration::from_millis(300)).is_ok() {}
            true
        })
        .await
        .unwrap_or(false);
        if !changed {
            return Ok(());
        }
        if let Err(error) = cycle(client, options, out).await {
            report(out, &error);
        }
    }
}

fn is_edit(event: &notify::Event) -> bool {
    use notify::EventKind;
    matches!(
        event.kind,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
    )
}

fn report(out: &mut impl Write, error: &DevError) {
    let _ = writeln!(out, "{error}; waiting for the next change");
    let _ = out.flush();
}

/// One build, upload and replay.
async fn cycle(
    client: &AdminClient,
    options: &DevOptions,
    out: &mut (impl Write + Send),
) -> Result<(), DevError> {
    let started = std::time::Instant::now();
    let wasm = build(&options.crate_dir, out)?;
    let size = std::fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
    let _ = writeln!(
        out,
        "built {} ({} KiB) in {:.1} s",
        wasm.file_name().unwrap_or_default().to_string_lossy(),
        size / 1024,
        started.elapsed().as_secs_f64()
    );
    let uploaded = client
        .upload_handler(&options.handler, &wasm, options.handler_config.as_deref())
        .await?;
    let sha = uploaded["sha256"].as_str().unwrap_or_default().to_owned();
    let short = &sha[..sha.len().min(12)];
    let _ = writeln!(out, "uploaded {} version {short}", options.handler);
    let details = client.handler(&options.handler).await?;
    let actions: Vec<String> = details["used_by"]
        .as_array()
        .map(|names| {
            names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if actions.is_empty() {
        let _ = writeln!(
            out,
            "no action uses wasm://{} yet: nothing to replay",
            options.handler
        );
    }
    let request = ReplayRequest {
        handler: Some(format!("wasm://{}@{sha}", options.handler)),
        mode: options.mode.clone(),
        from_attempt: None,
        record: false,
    };
    for action in actions {
        let selection = [
            ("action", Some(action.clone())),
            ("limit", Some(options.events.to_string())),
        ];
        let mut lines = Vec::new();
        let summary = client
            .replay_events(&selection, &request, |line| lines.push(line.clone()))
            .await?;
        let _ = writeln!(
            out,
            "{action}: the last {} event(s) against {short}: {} same, {} different, {} not replayed",
            summary["replayed"].as_u64().unwrap_or(0) + summary["failed"].as_u64().unwrap_or(0),
            summary["same"],
            summary["different"],
            summary["failed"],
        );
        for line in &lines {
            let _ = writeln!(out, "  {}", describe(line));
        }
    }
    let _ = out.flush();
    Ok(())
}

/// One replayed event: its verdict, the stored outcome and the new one, and what changed.
fn describe(line: &Value) -> String {
    let event = line["event_id"].as_str().unwrap_or("?");
    if let Some(error) = line.get("error") {
        return format!(
            "{event} not replayed: {}",
            error["error"].as_str().unwrap_or("?")
        );
    }
    let stored = if line["stored"]["output"].is_null() {
        "error"
    } else {
        "output"
    };
    let verdict = if line["same"] == true {
        "same"
    } else {
        "different"
    };
    let mut text = format!(
        "{event} {verdict} (stored {stored}, now {})",
        line["outcome"].as_str().unwrap_or("?")
    );
    if line["same"] != true {
        text.push_str(&format!("\n    now: {}", line["result"]));
    }
    text
}

/// Builds the crate for `wasm32-wasip2` (release); the component's path. Cargo's diagnostics
/// go to `out` as cargo renders them.
fn build(dir: &Path, out: &mut impl Write) -> Result<PathBuf, DevError> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(dir)
        .output()
        .map_err(DevError::Cargo)?;
    if !output.status.success() {
        let _ = out.write_all(&output.stderr);
        return Err(DevError::BuildFailed);
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .flat_map(|message| message["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|name| name.as_str().map(PathBuf::from))
        .rfind(|path| path.extension().is_some_and(|e| e == "wasm"))
        .ok_or(DevError::NoComponent)
}
