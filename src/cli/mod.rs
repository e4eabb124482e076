//! The command line: `serve`, `import`, `reprocess`, `schema`.
//!
//! Each flag can also come from the environment variable named in `--help`;
//! the flags that open the database are shared by every command.

mod import;
pub mod logging;
mod reprocess;
mod serve;

use std::path::PathBuf;

use chrono::FixedOffset;
use clap::{Args, Parser, Subcommand};

use crate::config::{DEFAULT_MAX_BODY_BYTES, parse_cors_origin, parse_utc_offset};

#[derive(Parser)]
#[command(
    name = "udesk-calls",
    version,
    about = "Receives Udesk call event pushes, keeps them in SQLite and serves the calls over GraphQL"
)]
pub struct Cli {
    /// How log lines (on standard error) are written: `text` for people,
    /// `json` (one object per line) for a log collector. `RUST_LOG` picks
    /// what is logged (default `info`).
    #[arg(
        long,
        global = true,
        env = "UDESK_CALLS_LOG_FORMAT",
        value_enum,
        default_value_t = logging::LogFormat::Text
    )]
    pub log_format: logging::LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the service: the webhook for Udesk and the GraphQL API.
    Serve(ServeArgs),
    /// Ingest pushes from newline-delimited JSON (one push per line) through
    /// the same pipeline as the webhook.
    Import(ImportArgs),
    /// Rebuild every call from its stored pushes, after an upgrade or a
    /// parsing fix. Stop the service first, or it waits for the database.
    Reprocess(DatabaseArgs),
    /// Print the GraphQL schema (SDL).
    Schema,
}

/// Where the database is and how to read its times.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// The SQLite database file; created and migrated if missing.
    #[arg(long, env = "UDESK_CALLS_DB", default_value = "udesk-calls.db")]
    pub db: PathBuf,

    /// How to read Udesk times that carry no offset, and where a day starts
    /// in daily statistics.
    #[arg(
        long,
        env = "UDESK_CALLS_DEFAULT_UTC_OFFSET",
        default_value = "+08:00",
        value_parser = parse_utc_offset,
        allow_hyphen_values = true
    )]
    pub default_utc_offset: FixedOffset,
}

/// No `Debug`: it holds the tokens.
#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// The address to listen on. Any non-loopback address needs both kinds
    /// of token, or --insecure.
    #[arg(long, env = "UDESK_CALLS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// A secret the push URL must carry as `?token=`. Give it several times
    /// (comma-separated in the variable) to rotate tokens without dropping
    /// pushes. With none, the webhook is open.
    #[arg(
        long = "webhook-token",
        env = "UDESK_CALLS_WEBHOOK_TOKEN",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub webhook_tokens: Vec<String>,

    /// A bearer token GraphQL requests must carry (`Authorization: Bearer
    /// TOKEN`). Several allowed, like --webhook-token. With none, the API is
    /// open.
    #[arg(
        long = "api-token",
        env = "UDESK_CALLS_API_TOKEN",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub api_tokens: Vec<String>,

    /// An origin whose pages may query GraphQL from a browser (CORS), like
    /// https://dashboard.example.com; `*` allows any. Several allowed
    /// (comma-separated in the variable). With none, only same-origin pages.
    #[arg(
        long = "cors-origin",
        env = "UDESK_CALLS_CORS_ORIGINS",
        value_delimiter = ',',
        value_parser = parse_cors_origin
    )]
    pub cors_origins: Vec<String>,

    /// Push bodies larger than this are answered 413.
    #[arg(long, env = "UDESK_CALLS_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    /// Allow listening on a non-loopback address without tokens.
    #[arg(long, env = "UDESK_CALLS_INSECURE")]
    pub insecure: bool,

    /// Reader connections for GraphQL queries.
    #[arg(long, env = "UDESK_CALLS_READERS", default_value_t = 8)]
    pub readers: u32,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Newline-delimited JSON pushes; `-` reads standard input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Runs a parsed command line; the error is printed by `main`.
pub async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Import(args) => import::run(args).await,
        Command::Reprocess(args) => reprocess::run(args).await,
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}
