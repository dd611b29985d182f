//! `hookwing-bench`: measures, side by side in one run, what an action costs end to end — the
//! no-op ceiling of the HTTP + GraphQL stack, a bare wasmtime call, the same action as an
//! in-process WASM handler and as a webhook (on SQLite and PostgreSQL), and asynchronous
//! delivery with one and two replicas — then prints the ratios the project's targets are
//! stated in. See docs/BENCHMARKS.md.

mod ceiling;
mod child;
mod load;
mod peers;
mod push;
mod raw_wasm;
mod report;
mod scale;
mod scenarios;
mod server;
mod webhook;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// The benchmark's servers are this binary in another role: they allocate as the `hookwing`
/// binary does (see its `main.rs`), so that what is measured is what runs.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The `user-login` guest example, built by build.rs.
pub const USER_LOGIN_WASM: &str = env!("USER_LOGIN_WASM");

#[derive(Parser)]
#[command(
    name = "hookwing-bench",
    about = "Side-by-side benchmark of hookwing actions"
)]
struct Cli {
    #[command(subcommand)]
    role: Option<Role>,
    #[command(flatten)]
    run: RunArgs,
}

/// How much to measure.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// A quick pass over every scenario that only checks they all run (for CI); its numbers
    /// mean nothing.
    #[arg(long)]
    pub short: bool,
    /// Seconds each throughput scenario is measured (after a warm-up of a fifth of that).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Concurrent clients for the throughput scenarios.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// Events submitted in each asynchronous scenario.
    #[arg(long, default_value_t = 30_000)]
    pub events: u64,
    /// PostgreSQL to benchmark on; a scratch database is created there and dropped after.
    #[arg(
        long,
        env = "HOOKWING_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub postgres: String,
    /// Run only these scenarios (comma-separated); all by default.
    #[arg(long, value_delimiter = ',', value_enum)]
    pub only: Vec<Scenario>,
    /// Exit with status 1 if a target is missed.
    #[arg(long)]
    pub require_targets: bool,
    /// Only how the cost grows: 1/10/100 handlers, 10/100/1,000 actions x 1/20 roles,
    /// 0/100k/1M rows in the log (docs/BENCHMARKS.md); a full run ends with these steps too.
    #[arg(long)]
    pub scale: bool,
    /// Which scale steps run (comma-separated); all by default.
    #[arg(long, value_delimiter = ',', value_enum)]
    pub scale_steps: Vec<ScaleStep>,
}

/// A group of scale steps, for `--scale-steps`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleStep {
    /// Calls spread over 1, 10 and 100 handlers, and one handler behind the most actions.
    Handlers,
    /// `create_action` and memory with 10 to 1,000 actions of 1 or 20 roles.
    Metadata,
    /// Throughput and `GET /v1/events` with 0 to 1,000,000 rows in the log.
    Rows,
}

/// A group of scenarios, for `--only`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// The bare wasmtime baseline.
    Raw,
    /// The no-op GraphQL server.
    Ceiling,
    /// Sync WASM and webhook actions on SQLite.
    Sqlite,
    /// Sync WASM and webhook actions on PostgreSQL.
    Postgres,
    /// Asynchronous actions on SQLite (one server) and on PostgreSQL (one and two replicas).
    Async,
    /// The scale steps (also what `--scale` runs alone).
    Scale,
}

impl RunArgs {
    /// Whether `scenario` runs: every one, unless `--only` names some.
    pub fn selected(&self, scenario: Scenario) -> bool {
        self.only.is_empty() || self.only.contains(&scenario)
    }

    /// Whether the scale steps of `step` run: all, unless `--scale-steps` names some.
    pub fn scale_step(&self, step: ScaleStep) -> bool {
        self.scale_steps.is_empty() || self.scale_steps.contains(&step)
    }

    /// Warm-up and measuring time of one throughput scenario.
    pub fn amount(&self) -> load::Amount {
        if self.short {
            return load::Amount::Duration {
                warmup: Duration::from_millis(100),
                measure: Duration::from_millis(400),
            };
        }
        let measure = Duration::from_secs(self.seconds.max(1));
        load::Amount::Duration {
            warmup: measure / 5,
            measure,
        }
    }

    pub fn clients(&self) -> usize {
        if self.short { 4 } else { self.clients.max(1) }
    }

    pub fn events(&self) -> u64 {
        if self.short { 200 } else { self.events.max(1) }
    }
}

/// The processes the benchmark starts: itself, in another role.
#[derive(Subcommand)]
enum Role {
    /// The no-op GraphQL server.
    #[command(hide = true)]
    Ceiling,
    /// The webhook twin of the user-login guest.
    #[command(hide = true)]
    Webhook,
    /// A hookwing server.
    #[command(hide = true)]
    Server {
        #[arg(long)]
        database_url: String,
        #[arg(long)]
        node_id: String,
        #[arg(long)]
        cache_dir: PathBuf,
        #[arg(long)]
        no_delivery: bool,
    },
    /// The bare wasmtime baseline.
    #[command(hide = true)]
    RawWasm {
        #[arg(long)]
        millis: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.role {
        None => {
            let report = if cli.run.scale {
                scale::run(&cli.run).await?
            } else {
                let mut report = scenarios::run_all(&cli.run).await?;
                if cli.run.selected(Scenario::Scale) {
                    report.append(scale::run(&cli.run).await?);
                }
                report
            };
            report.print();
            if cli.run.require_targets && !cli.run.short && !report.targets_met() {
                std::process::exit(1);
            }
        }
        Some(Role::Ceiling) => ceiling::serve().await?,
        Some(Role::Webhook) => webhook::serve().await?,
        Some(Role::Server {
            database_url,
            node_id,
            cache_dir,
            no_delivery,
        }) => server::serve(database_url, node_id, cache_dir, !no_delivery).await?,
        Some(Role::RawWasm { millis }) => {
            let result = raw_wasm::run(USER_LOGIN_WASM, Duration::from_millis(millis)).await?;
            child::announce(&serde_json::to_string(&result)?);
        }
    }
    Ok(())
}
