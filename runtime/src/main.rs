//! The `hookwing` binary: parse flags, load configuration, start logging, call the library.

use anyhow::Context;
use clap::Parser;
use hookwing::cli::{Cli, Command, HandlersCommand, MetadataCommand};
use hookwing::config::{Config, LogFormat};
use hookwing::remote::AdminClient;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref(), &cli.overrides())?;
    init_tracing(&config);
    match cli.command {
        None | Some(Command::Serve(_)) => {
            let listener = std::net::TcpListener::bind(config.listen)
                .with_context(|| format!("cannot listen on {}", config.listen))?;
            let running = hookwing::serve(config, listener).await?;
            running.until_signal().await?;
        }
        Some(Command::Metadata {
            command: MetadataCommand::Apply { dir },
        }) => {
            let version = hookwing::ops::apply_metadata_dir(&config, &dir).await?;
            println!("applied {} (resource version {version})", dir.display());
        }
        Some(Command::Metadata {
            command: MetadataCommand::Export { dir },
        }) => {
            hookwing::ops::export_metadata_dir(&config, &dir).await?;
            println!("exported metadata to {}", dir.display());
        }
        Some(Command::Handlers { server, command }) => {
            let base = server.unwrap_or_else(|| format!("http://{}", config.listen));
            let client = AdminClient::new(&base, config.all_admin_secrets().into_iter().next());
            let reply = match command {
                HandlersCommand::Upload { name, wasm, config } => {
                    client
                        .upload_handler(&name, &wasm, config.as_deref())
                        .await?
                }
                HandlersCommand::List => client.list_handlers().await?,
                HandlersCommand::Delete { name } => client.delete_handler(&name).await?,
            };
            println!("{}", serde_json::to_string_pretty(&reply)?);
        }
    }
    Ok(())
}

fn init_tracing(config: &Config) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
