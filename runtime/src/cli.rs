//! The command line (SPEC §7). Flags are the top configuration layer; see `config`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Overrides;

/// GraphQL actions whose handlers are webhooks or in-process WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "hookwing", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// Configuration file (TOML); HOOKWING_* variables and flags override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// `sqlite://path` (default `sqlite://hookwing.db`) or `postgres://…` [env: DATABASE_URL]
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Flags of `serve`, which runs when no command is given.
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Apply or export a Hasura-format metadata directory.
    Metadata {
        #[command(subcommand)]
        command: MetadataCommand,
    },
    /// Upload, list or delete WebAssembly handlers on a running server.
    Handlers {
        /// The server's base URL (default: http:// + the configured listen address)
        /// [env: HOOKWING_SERVER_URL]
        #[arg(long, global = true, value_name = "URL", env = "HOOKWING_SERVER_URL")]
        server: Option<String>,
        #[command(subcommand)]
        command: HandlersCommand,
    },
}

/// `hookwing handlers …`.
#[derive(Debug, Subcommand)]
pub enum HandlersCommand {
    /// Upload a component as handler NAME (a new version if NAME exists).
    Upload {
        /// Handler name, used as `wasm://NAME` in actions.
        name: String,
        /// The component (`.wasm`, built for wasm32-wasip2).
        wasm: PathBuf,
        /// JSON config: allowed_hosts, allow_private_network, memory_limit_mib,
        /// max_concurrency, config.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// List uploaded handlers.
    List,
    /// Delete every version of handler NAME.
    Delete {
        /// Handler name.
        name: String,
    },
}

/// Flags of `serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080) [env: HOOKWING_LISTEN]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Hasura metadata directory (actions.graphql, actions.yaml) applied at start
    /// [env: HOOKWING_METADATA_DIR]
    #[arg(long, value_name = "DIR")]
    pub metadata_dir: Option<PathBuf>,
    /// Secret guarding the metadata API; unset means dev mode [env: HOOKWING_ADMIN_SECRET]
    #[arg(long, value_name = "SECRET")]
    pub admin_secret: Option<String>,
}

/// `hookwing metadata …`.
#[derive(Debug, Subcommand)]
pub enum MetadataCommand {
    /// Validate a metadata directory and store it in the database.
    Apply {
        /// Directory holding actions.graphql and actions.yaml.
        dir: PathBuf,
    },
    /// Write the stored metadata as a metadata directory.
    Export {
        /// Directory to write (created if missing).
        dir: PathBuf,
    },
}

impl Cli {
    /// The flags as a configuration layer.
    pub fn overrides(&self) -> Overrides {
        let serve = match &self.command {
            Some(Command::Serve(args)) => args.clone(),
            _ => self.serve.clone(),
        };
        Overrides {
            listen: serve.listen,
            database_url: self.database_url.clone(),
            metadata_dir: serve.metadata_dir,
            admin_secret: serve.admin_secret,
        }
    }
}
