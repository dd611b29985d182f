//! Compiling an uploaded component within a time and memory budget, in a child process.
//!
//! Compiling is the one step that runs an uploader's bytes through large native code
//! (Cranelift) before anything is known about them, and its cost is not proportional to their
//! size: a valid 1.7 MB component can take over 20 seconds and more than a gigabyte. A compile
//! running on a server thread cannot be stopped, and the memory it took stays with the
//! server's allocator after it ends. A child process can be stopped, is confined by the
//! kernel's resource limits (`RLIMIT_DATA`, `RLIMIT_CPU`), and gives every byte back when it
//! exits.
//!
//! The child is the server's own binary (`hookwing compile-component`, hidden): it builds an
//! engine with the server's exact settings, compiles and checks the component, and leaves the
//! compiled artifact in the shared artifact cache. The server then compiles it again
//! in-process, which the cache turns into a load: the server never runs the compiler on bytes
//! the child did not finish within budget. (Loading the child's output directly would need
//! wasmtime's `unsafe` deserialisation; the cache does the same load with wasmtime's own
//! checks.)

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use super::component::{self, InvalidComponent};
use super::engine::{self, EngineSettings};

/// The hidden subcommand the child runs.
pub const SUBCOMMAND: &str = "compile-component";

/// How uploads are compiled.
#[derive(Debug, Clone)]
pub struct CompileBudget {
    /// The binary that compiles in a child process (the server's own, `hookwing`); `None`
    /// compiles in the server's process, with no budget but the size limit (for embedders
    /// that have no such binary).
    pub program: Option<PathBuf>,
    /// Wall-clock time one compile may take.
    pub timeout: Duration,
    /// Memory (the child's data segment and private mappings) one compile may use.
    pub memory_bytes: u64,
}

/// What the child is told, as its one argument.
#[derive(Serialize, Deserialize)]
struct Job {
    engine: EngineSettings,
    memory_bytes: u64,
    cpu_secs: u64,
}

/// What the child answers on its standard output.
#[derive(Serialize, Deserialize)]
enum Verdict {
    Compiled,
    Refused(InvalidComponent),
}

/// Compiles `bytes` in a child process within `budget`, leaving the artifact in the cache;
/// `Ok` means the server may compile them (a cache load). Cheap checks (size, magic number)
/// are the caller's, done before.
pub(super) async fn compile_in_child(
    program: &Path,
    engine: &EngineSettings,
    budget: &CompileBudget,
    bytes: &[u8],
) -> Result<(), InvalidComponent> {
    let job = Job {
        engine: engine.clone(),
        memory_bytes: budget.memory_bytes,
        // The kernel's own stop, a little past the wall-clock one, in case a stopped
        // server left the child behind.
        cpu_secs: budget.timeout.as_secs().saturating_mul(2).max(1) + 1,
    };
    let job = serde_json::to_string(&job).map_err(|e| compiler_failed(&e.to_string()))?;
    let mut child = tokio::process::Command::new(program)
        .arg(SUBCOMMAND)
        .arg(job)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| compiler_failed(&format!("cannot start {}: {e}", program.display())))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = bytes.to_vec();
    let feed = tokio::spawn(async move {
        // The child may stop reading (killed, or refusing early): a broken pipe is its answer.
        let _ = stdin.write_all(&input).await;
    });
    let finished = tokio::time::timeout(budget.timeout, child.wait_with_output()).await;
    feed.abort();
    let Ok(output) = finished else {
        // Dropping the child's future kills it (`kill_on_drop`).
        return Err(InvalidComponent::OverBudget(format!(
            "compiling it took longer than {} s",
            budget.timeout.as_secs_f64()
        )));
    };
    let output = output.map_err(|e| compiler_failed(&e.to_string()))?;
    if output.status.success() {
        return match serde_json::from_slice::<Verdict>(&output.stdout) {
            Ok(Verdict::Compiled) => Ok(()),
            Ok(Verdict::Refused(reason)) => Err(reason),
            Err(e) => Err(compiler_failed(&format!("unreadable answer: {e}"))),
        };
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    if out_of_memory(&output.status, &stderr) {
        return Err(InvalidComponent::OverBudget(format!(
            "compiling it needed more than {} MiB",
            budget.memory_bytes >> 20
        )));
    }
    tracing::warn!(status = %output.status, stderr = %stderr.trim(), "the component compiler failed");
    Err(compiler_failed(&format!(
        "it exited with {}",
        output.status
    )))
}

/// Whether the child died for want of memory: Rust's allocation failure message (then an
/// abort), or the kernel's kill.
fn out_of_memory(status: &std::process::ExitStatus, stderr: &str) -> bool {
    if stderr.contains("memory allocation of") || stderr.contains("out of memory") {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        // SIGABRT after a failed allocation that printed nothing, SIGKILL from the OOM killer.
        matches!(status.signal(), Some(6 | 9))
    }
    #[cfg(not(unix))]
    {
        let _ = status;
        false
    }
}

fn compiler_failed(detail: &str) -> InvalidComponent {
    InvalidComponent::Invalid(format!("the compiler could not finish: {detail}"))
}

/// The child's side: reads the component on standard input, compiles and checks it under
/// the job's limits, and answers on standard output. Its exit code is 0 whenever it answered.
pub fn child_main(job: &str) -> std::process::ExitCode {
    let job: Job = match serde_json::from_str(job) {
        Ok(job) => job,
        Err(error) => {
            eprintln!("error: bad compile job: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    limit_resources(&job);
    let mut bytes = Vec::new();
    if let Err(error) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes) {
        eprintln!("error: cannot read the component: {error}");
        return std::process::ExitCode::FAILURE;
    }
    let verdict = match compile(&job.engine, &bytes) {
        Ok(()) => Verdict::Compiled,
        Err(reason) => Verdict::Refused(reason),
    };
    let answer = serde_json::to_string(&verdict).expect("a verdict serialises");
    println!("{answer}");
    std::process::ExitCode::SUCCESS
}

fn compile(settings: &EngineSettings, bytes: &[u8]) -> Result<(), InvalidComponent> {
    let engine = engine::build(settings).map_err(|e| compiler_failed(&e.to_string()))?;
    let linker = super::linker(&engine).map_err(|e| compiler_failed(&e.to_string()))?;
    component::compile(&engine, &linker, bytes, usize::MAX).map(drop)
}

#[cfg(unix)]
fn limit_resources(job: &Job) {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let limits = [
        (Resource::Data, job.memory_bytes),
        (Resource::Cpu, job.cpu_secs),
    ];
    for (resource, value) in limits {
        let limit = Rlimit {
            current: Some(value),
            maximum: Some(value),
        };
        if let Err(error) = setrlimit(resource, limit) {
            eprintln!("warning: cannot limit {resource:?}: {error}");
        }
    }
}

#[cfg(not(unix))]
fn limit_resources(_job: &Job) {}
