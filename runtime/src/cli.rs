//! The command line (SPEC §7). Flags are the top configuration layer; see `config`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Overrides;

/// GraphQL actions whose handlers are webhooks or in-process WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "hookwing", version)]
pub struct Cli {
    /// Configuration file (TOML); HOOKWING_* variables and flags override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
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
        /// `sqlite://path` (default `sqlite://hookwing.db`) or `postgres://…`
        /// [env: DATABASE_URL]
        #[arg(
            long = "database-url",
            id = "metadata_database_url",
            global = true,
            value_name = "URL"
        )]
        database_url: Option<String>,
        #[command(subcommand)]
        command: MetadataCommand,
    },
    /// Upload, list, show, activate or delete WebAssembly handlers on a running server.
    Handlers {
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(subcommand)]
        command: HandlersCommand,
    },
    /// Generate an action's types and a handler skeleton: Rust for a component, TypeScript or
    /// Python for a webhook. Reads the stored metadata, or a metadata directory.
    Codegen {
        /// Only this action (default: every action).
        #[arg(long)]
        action: Option<String>,
        /// The language.
        #[arg(long, value_enum, default_value = "rust")]
        lang: CodegenLanguage,
        #[command(flatten)]
        source: MetadataSourceArgs,
        /// Write to this file instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Rust: the types alone, without the handler skeleton (to regenerate a crate's
        /// `src/types.rs`).
        #[arg(long)]
        types_only: bool,
    },
    /// Watch a guest crate: on each save, build it, upload it to a running server as a new
    /// version, and replay the last events of its actions against that version.
    Dev {
        /// The guest crate's directory.
        path: PathBuf,
        /// The handler name to upload as (default: the directory's name).
        #[arg(long)]
        name: Option<String>,
        /// The handler's JSON config, sent with every upload.
        #[arg(long, value_name = "FILE")]
        handler_config: Option<PathBuf>,
        /// Events replayed per action after each upload.
        #[arg(long, default_value_t = 5)]
        events: u32,
        /// `live` (the default) or `recorded`: how replayed components' outbound requests are
        /// answered.
        #[arg(long, value_name = "MODE")]
        mode: Option<String>,
        /// Build, upload and replay once, without watching.
        #[arg(long)]
        once: bool,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Create something new from the metadata.
    New {
        #[command(subcommand)]
        command: NewCommand,
    },
    /// Replay stored events on a running server, against the handler of your choice.
    Events {
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(subcommand)]
        command: EventsCommand,
    },
}

/// The languages `codegen` writes (the flag's values; `codegen` has its own type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CodegenLanguage {
    Rust,
    Typescript,
    Python,
}

/// Where `codegen` and `new` read the metadata from.
#[derive(Debug, Clone, Args)]
pub struct MetadataSourceArgs {
    /// A metadata directory (actions.graphql, actions.yaml) instead of the stored metadata.
    #[arg(long = "metadata-dir", id = "source_metadata_dir", value_name = "DIR")]
    pub metadata_dir: Option<PathBuf>,
    /// The database whose stored metadata is read (default `sqlite://hookwing.db`)
    /// [env: DATABASE_URL]
    #[arg(long = "database-url", id = "source_database_url", value_name = "URL")]
    pub database_url: Option<String>,
}

/// `hookwing new …`.
#[derive(Debug, Subcommand)]
pub enum NewCommand {
    /// A guest crate for one action: its types, a handler skeleton that builds, a native test.
    Handler {
        /// The crate's name (and, by default, its directory).
        name: String,
        /// The action it answers.
        #[arg(long)]
        action: String,
        /// Where to create it (default: ./NAME); it must not exist.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// How the crate depends on hookwing-sdk, as a Cargo.toml value (default: this
        /// build's sdk/ when it is there, else the repository on GitHub).
        #[arg(long, value_name = "TOML")]
        sdk: Option<String>,
        #[command(flatten)]
        source: MetadataSourceArgs,
    },
}

/// Where a running server is, for the commands that talk to its admin API.
#[derive(Debug, Clone, Args)]
pub struct RemoteArgs {
    /// The server's base URL (default: http:// + the configured listen address)
    #[arg(long, global = true, value_name = "URL", env = "HOOKWING_SERVER_URL")]
    pub server: Option<String>,
    /// The server's admin secret (default: the configured one) [env: HOOKWING_ADMIN_SECRET]
    #[arg(
        long = "admin-secret",
        id = "remote_admin_secret",
        global = true,
        value_name = "SECRET"
    )]
    pub admin_secret: Option<String>,
}

/// `hookwing events …`.
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Run stored events again, once, and compare with their stored results. With an event id,
    /// that event; without, the events the filters select (newest first). Nothing is stored
    /// unless --record is given.
    Replay {
        /// One event's id.
        id: Option<uuid::Uuid>,
        /// `current` (the default: the active version), `same` (the version that ran it),
        /// `wasm://NAME@SHA`, or a webhook URL.
        #[arg(long, value_name = "HANDLER")]
        handler: Option<String>,
        /// `live` (the default): the component's outbound requests go out; `recorded`: they are
        /// answered from the exchanges recorded with a stored attempt, and nothing goes out.
        #[arg(long, value_name = "MODE")]
        mode: Option<String>,
        /// In recorded mode, the stored attempt whose recording answers (default: the last).
        #[arg(long, value_name = "N")]
        from_attempt: Option<i32>,
        /// Store each replay as a new attempt of its event, and its result as the event's.
        #[arg(long)]
        record: bool,
        /// Only events of this action.
        #[arg(long, conflicts_with = "id")]
        action: Option<String>,
        /// Only events in this state: completed or error.
        #[arg(long, conflicts_with = "id")]
        status: Option<String>,
        /// Only events created at or after this instant (RFC 3339).
        #[arg(long, conflicts_with = "id")]
        since: Option<String>,
        /// Only events created before this instant (RFC 3339).
        #[arg(long, conflicts_with = "id")]
        until: Option<String>,
        /// At most this many events (default 100).
        #[arg(long, conflicts_with = "id")]
        limit: Option<u32>,
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
        /// The handler's JSON config: allowed_hosts, allow_private_network, memory_limit_mib,
        /// max_concurrency, record_outbound_http, config (any UTF-8).
        #[arg(long, value_name = "FILE")]
        handler_config: Option<PathBuf>,
    },
    /// List uploaded handlers (their active versions).
    List,
    /// Show handler NAME: every stored version (the active one first, with the WIT world it
    /// implements) and the actions that use it.
    Show {
        /// Handler name.
        name: String,
    },
    /// Make a stored version of handler NAME the active one again (a rollback).
    Activate {
        /// Handler name.
        name: String,
        /// The version's sha256, or a prefix of it that names one version.
        sha256: String,
    },
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
    /// `sqlite://path` (default `sqlite://hookwing.db`) or `postgres://…` [env: DATABASE_URL]
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Hasura metadata directory (actions.graphql, actions.yaml) applied at start
    /// [env: HOOKWING_METADATA_DIR]
    #[arg(long, value_name = "DIR")]
    pub metadata_dir: Option<PathBuf>,
    /// Let --metadata-dir replace metadata changed through the API since a directory was last
    /// applied; without it such a start is refused, listing what would be lost
    /// [env: HOOKWING_METADATA_DIR_OVERWRITE]
    #[arg(long)]
    pub metadata_dir_overwrite: bool,
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
    /// Show what applying a metadata directory would change, object by object.
    Diff {
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
        let database_url = match &self.command {
            // `hookwing --database-url URL metadata …` and `hookwing metadata … --database-url
            // URL` both work.
            Some(Command::Metadata { database_url, .. }) => database_url
                .clone()
                .or_else(|| self.serve.database_url.clone()),
            Some(
                Command::Codegen { source, .. }
                | Command::New {
                    command: NewCommand::Handler { source, .. },
                },
            ) => source
                .database_url
                .clone()
                .or_else(|| self.serve.database_url.clone()),
            _ => serve.database_url.clone(),
        };
        let admin_secret = match &self.command {
            Some(
                Command::Handlers { remote, .. }
                | Command::Events { remote, .. }
                | Command::Dev { remote, .. },
            ) => remote.admin_secret.clone(),
            _ => serve.admin_secret,
        };
        Overrides {
            listen: serve.listen,
            database_url,
            metadata_dir: serve.metadata_dir,
            metadata_dir_overwrite: serve.metadata_dir_overwrite.then_some(true),
            admin_secret,
        }
    }

    /// The flag of `serve` given before another command (`hookwing --listen X metadata …`),
    /// which that command would silently ignore.
    pub fn misplaced_serve_flag(&self) -> Option<&'static str> {
        if matches!(self.command, None | Some(Command::Serve(_))) {
            return None;
        }
        let given = &self.serve;
        let metadata = matches!(
            self.command,
            Some(Command::Metadata { .. } | Command::Codegen { .. } | Command::New { .. })
        );
        [
            ("--listen", given.listen.is_some()),
            ("--database-url", given.database_url.is_some() && !metadata),
            ("--metadata-dir", given.metadata_dir.is_some()),
            ("--metadata-dir-overwrite", given.metadata_dir_overwrite),
            ("--admin-secret", given.admin_secret.is_some()),
        ]
        .into_iter()
        .find_map(|(flag, set)| set.then_some(flag))
    }
}
