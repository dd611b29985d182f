//! The `hookwing` binary: parse flags, load configuration, start logging, call the library.

use anyhow::Context;
use clap::Parser;
use hookwing::cli::{
    Cli, CodegenLanguage, Command, EventsCommand, HandlersCommand, MetadataCommand, NewCommand,
    RemoteArgs,
};
use hookwing::config::{Config, LogFormat};
use hookwing::handler::wasm::compiler;
use hookwing::remote::{AdminClient, ReplayRequest};
use tracing_subscriber::EnvFilter;

/// The server allocates and frees many small values per request (JSON, GraphQL, metadata),
/// often freeing on one thread what another allocated. jemalloc does that faster than the
/// system allocator (sync calls about 14% faster, a metadata change at 1,000 actions twice as
/// fast; docs/BENCHMARKS.md), for a few MiB more resident memory.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Runs the command; a failure is printed once, as one line per cause, with exit code 1
/// (usage errors are clap's: exit code 2). Never a backtrace: these are the user's errors.
fn main() -> std::process::ExitCode {
    // The child a server starts to compile an upload within budget: not a command of users,
    // so not in `--help`, and nothing of the server's (configuration, runtime) set up.
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() == Some(std::ffi::OsStr::new(compiler::SUBCOMMAND)) {
        let job = args.next().unwrap_or_default();
        return compiler::child_main(&job.to_string_lossy());
    }
    let (cli, config, traces) = match setup() {
        Ok(setup) => setup,
        Err(error) => {
            eprintln!("{}", describe(&error));
            return std::process::ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(cli, config));
    drop(runtime);
    // Sends the spans still buffered; outside the runtime, as the exporter's client needs.
    if let Some(traces) = traces
        && let Err(error) = traces.shutdown()
    {
        eprintln!("warning: cannot send the last spans: {error}");
    }
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{}", describe(&error));
            std::process::ExitCode::FAILURE
        }
    }
}

/// Flags, configuration and logging (with trace export, when configured), before any async
/// runtime exists: the trace exporter's HTTP client must not start inside one.
fn setup() -> anyhow::Result<(Cli, Config, Option<hookwing::traces::Exporter>)> {
    let cli = Cli::parse();
    if let Some(flag) = cli.misplaced_serve_flag() {
        use clap::CommandFactory;
        Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                format!("{flag} is a flag of `serve`; give it after the command that uses it"),
            )
            .exit();
    }
    let mut config = Config::load(cli.config.as_deref(), &cli.overrides())?;
    // Uploads are compiled by this same binary, in a child process.
    config.wasm.compiler = std::env::current_exe().ok();
    // One TLS provider for every client of the process, the trace exporter's included.
    hookwing::install_crypto_provider();
    let traces = hookwing::traces::provider(&config.traces)?;
    init_tracing(&config, traces.as_ref());
    Ok((cli, config, traces))
}

/// `error: top`, then each cause that adds something (many errors repeat their source's text
/// in their own message).
fn describe(error: &anyhow::Error) -> String {
    let mut text = format!("error: {error}");
    let mut said = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !said.contains(&cause) {
            text.push_str(&format!("\n  caused by: {cause}"));
            said.push_str(&cause);
        }
    }
    text
}

/// How a new guest crate depends on the SDK: this build's `sdk/` when the sources are there
/// (a build from a clone), else the repository.
fn default_sdk_dependency() -> String {
    let local = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
    match local.canonicalize() {
        Ok(path) if path.join("Cargo.toml").exists() => {
            format!("{{ path = {:?} }}", path.display().to_string())
        }
        _ => format!("{{ git = \"{}\" }}", env!("CARGO_PKG_REPOSITORY")),
    }
}

/// The admin API client of `hookwing handlers …` and `hookwing events …`.
fn admin_client(remote: &RemoteArgs, config: &Config) -> AdminClient {
    let base = remote
        .server
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.listen));
    AdminClient::new(&base, config.all_admin_secrets().into_iter().next())
}

/// One line of a bulk replay, for a terminal: where it is, the event, and what changed.
fn describe_replay(line: &serde_json::Value) -> String {
    let position = format!(
        "[{}/{}]",
        line["index"].as_u64().unwrap_or(0) + 1,
        line["total"]
    );
    let event = line["event_id"].as_str().unwrap_or("?");
    if let Some(error) = line.get("error") {
        return format!(
            "{position} {event} not replayed: {}",
            error["error"].as_str().unwrap_or("?")
        );
    }
    let verdict = if line["same"] == true {
        "same"
    } else {
        "different"
    };
    let mut text = format!(
        "{position} {event} {} {verdict} ({}, {})",
        line["action_name"].as_str().unwrap_or("?"),
        line["outcome"].as_str().unwrap_or("?"),
        line["handler"].as_str().unwrap_or("?"),
    );
    if line["same"] != true {
        text.push_str(&format!("\n    diff: {}", line["diff"]));
    }
    text
}

async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    match cli.command {
        None | Some(Command::Serve(_)) => {
            let listener = std::net::TcpListener::bind(config.listen)
                .with_context(|| format!("cannot listen on {}", config.listen))?;
            let running = hookwing::serve(config, listener).await?;
            running.until_signal().await?;
        }
        Some(Command::Metadata {
            command: MetadataCommand::Apply { dir },
            ..
        }) => {
            let version = hookwing::ops::apply_metadata_dir(&config, &dir).await?;
            println!("applied {} (resource version {version})", dir.display());
        }
        Some(Command::Metadata {
            command: MetadataCommand::Diff { dir },
            ..
        }) => {
            let changes = hookwing::ops::diff_metadata_dir(&config, &dir).await?;
            if changes.is_empty() {
                println!("no changes: {} matches the stored metadata", dir.display());
            }
            for change in changes {
                println!("{change}");
            }
        }
        Some(Command::Metadata {
            command: MetadataCommand::Export { dir },
            ..
        }) => {
            hookwing::ops::export_metadata_dir(&config, &dir).await?;
            println!("exported metadata to {}", dir.display());
        }
        Some(Command::Codegen {
            action,
            lang,
            source,
            out,
            types_only,
        }) => {
            let metadata =
                hookwing::ops::metadata_from(&config, source.metadata_dir.as_deref()).await?;
            let model = hookwing::codegen::Model::new(&metadata, action.as_deref())?;
            let language = match lang {
                CodegenLanguage::Rust => hookwing::codegen::Language::Rust,
                CodegenLanguage::Typescript => hookwing::codegen::Language::Typescript,
                CodegenLanguage::Python => hookwing::codegen::Language::Python,
            };
            let code = if types_only && language == hookwing::codegen::Language::Rust {
                hookwing::codegen::rust_types(&model)
            } else {
                hookwing::codegen::generate(&model, language)
            };
            match out {
                Some(path) => std::fs::write(&path, code)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => print!("{code}"),
            }
        }
        Some(Command::New {
            command:
                NewCommand::Handler {
                    name,
                    action,
                    dir,
                    sdk,
                    source,
                },
        }) => {
            let metadata =
                hookwing::ops::metadata_from(&config, source.metadata_dir.as_deref()).await?;
            let model = hookwing::codegen::Model::new(&metadata, Some(&action))?;
            let dir = dir.unwrap_or_else(|| name.clone().into());
            let sdk = sdk.unwrap_or_else(default_sdk_dependency);
            for file in hookwing::codegen::scaffold_crate(&model, &dir, &name, &sdk)? {
                println!("created {file}");
            }
            println!(
                "build it: (cd {} && cargo build --release --target wasm32-wasip2)",
                dir.display()
            );
        }
        Some(Command::Dev {
            path,
            name,
            handler_config,
            events,
            mode,
            once,
            remote,
        }) => {
            let client = admin_client(&remote, &config);
            let handler = name.unwrap_or_else(|| {
                path.canonicalize()
                    .ok()
                    .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .unwrap_or_else(|| "handler".into())
            });
            let options = hookwing::dev::DevOptions {
                crate_dir: path,
                handler,
                handler_config,
                events,
                mode,
                once,
            };
            hookwing::dev::run(&client, &options, &mut std::io::stdout()).await?;
        }
        Some(Command::Handlers { remote, command }) => {
            let client = admin_client(&remote, &config);
            let reply = match command {
                HandlersCommand::Upload {
                    name,
                    wasm,
                    handler_config,
                } => {
                    client
                        .upload_handler(&name, &wasm, handler_config.as_deref())
                        .await?
                }
                HandlersCommand::List => client.list_handlers().await?,
                HandlersCommand::Show { name } => client.handler(&name).await?,
                HandlersCommand::Activate { name, sha256 } => {
                    client.activate_handler(&name, &sha256).await?
                }
                HandlersCommand::Delete { name } => client.delete_handler(&name).await?,
            };
            println!("{}", serde_json::to_string_pretty(&reply)?);
        }
        Some(Command::Events {
            remote,
            command:
                EventsCommand::Replay {
                    id,
                    handler,
                    mode,
                    from_attempt,
                    record,
                    action,
                    status,
                    since,
                    until,
                    limit,
                },
        }) => {
            let client = admin_client(&remote, &config);
            let options = ReplayRequest {
                handler,
                mode,
                from_attempt,
                record,
            };
            match id {
                Some(id) => {
                    let reply = client.replay_event(id, &options).await?;
                    println!("{}", serde_json::to_string_pretty(&reply)?);
                }
                None => {
                    let selection = [
                        ("action", action),
                        ("status", status),
                        ("since", since),
                        ("until", until),
                        ("limit", limit.map(|n| n.to_string())),
                    ];
                    let summary = client
                        .replay_events(&selection, &options, |line| {
                            println!("{}", describe_replay(line));
                        })
                        .await?;
                    if summary["failed"].as_u64().unwrap_or(0) > 0 {
                        anyhow::bail!("some events could not be replayed");
                    }
                }
            }
        }
    }
    Ok(())
}

fn init_tracing(config: &Config, traces: Option<&hookwing::traces::Exporter>) {
    use std::io::IsTerminal;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.filter));
    // Colours only for a person at a terminal, never into a file or a pipe.
    let text = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let log = match config.log.format {
        LogFormat::Json => text.json().with_filter(filter).boxed(),
        LogFormat::Text => text.with_filter(filter).boxed(),
    };
    tracing_subscriber::registry()
        .with(log)
        .with(traces.map(hookwing::traces::layer))
        .init();
}
