//! The command line: `serve`, `import`, `reprocess`, `purge`, `backup`,
//! `forward`, `schema`.
//!
//! Each flag can also come from the environment variable named in `--help`,
//! and from the TOML file `--config` names (see `config_file`); the flags
//! that open the database are shared by every command.

mod backup;
mod config_file;
mod export;
mod forward;
mod http_limits;
mod import;
pub mod logging;
mod progress;
mod purge;
mod pushes;
mod recordings;
mod reprocess;
mod secret_value;
mod serve;

use std::path::PathBuf;

use chrono::FixedOffset;
use clap::{Args, Parser, Subcommand};

use crate::config::forwarding::{
    DEFAULT_FORWARD_CONCURRENCY, ForwardTarget, SigningSecret, parse_timeout,
};
use crate::config::recordings::{
    ArchiveTarget, DEFAULT_RECORDINGS_CONCURRENCY, DEFAULT_RECORDINGS_MAX_BYTES,
    DEFAULT_RECORDINGS_MAX_RATE, parse_rate,
};
use crate::config::{
    DEFAULT_GRAPHQL_MAX_RESPONSE_BYTES, DEFAULT_GRAPHQL_TIMEOUT_SECONDS, DEFAULT_MAX_BODY_BYTES,
    parse_cors_origin, parse_utc_offset,
};
use crate::storage::{DEFAULT_WAL_AUTOCHECKPOINT, StoreOptions};

pub use config_file::{parse, try_parse_from};
pub use forward::{ForwardCommand, ForwardRetryArgs};
pub use recordings::{ArchiveArgs, RecordingsCommand};
use secret_value::SecretValue;

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

    /// A TOML file of settings, keyed by the long flag names
    /// (`listen = "0.0.0.0:8080"`, `webhook-token = ["…", "…"]`). A flag on
    /// the command line wins over its environment variable, which wins over
    /// the file, which wins over the default. Unknown keys are refused.
    #[arg(
        long,
        global = true,
        env = "UDESK_CALLS_CONFIG",
        value_name = "FILE",
        display_order = 100
    )]
    pub config: Option<PathBuf>,
}

#[derive(Subcommand)]
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once at start; boxing would only obscure the arguments"
)]
pub enum Command {
    /// Run the service: the webhook for Udesk and the GraphQL API.
    Serve(ServeArgs),
    /// Ingest a file of pushes (JSON objects one a line, pretty-printed, or
    /// in an array) through the same pipeline as the webhook.
    Import(ImportArgs),
    /// Rebuild every call from its stored pushes, after an upgrade or a
    /// parsing fix. Stop the service first, or it waits for the database.
    Reprocess(DatabaseArgs),
    /// Erase personal data: every call of one customer (with its pushes and
    /// the rejected bodies carrying the number), or every call that started
    /// before a time. Safe while `serve` runs; the erased bytes are gone
    /// from the database file and its WAL afterwards.
    Purge(PurgeArgs),
    /// Write a consistent copy of the database to DEST, safe while `serve`
    /// runs and takes pushes. The copy is checked with `PRAGMA
    /// integrity_check` and only then appears under DEST's name.
    Backup(BackupArgs),
    /// Forwarding to the `serve --forward-to` URLs: re-queue the pushes a
    /// target refused.
    #[command(subcommand)]
    Forward(ForwardCommand),
    /// The recordings archive (`serve --recordings-to`): check every copy,
    /// or re-queue the recordings that failed.
    #[command(subcommand)]
    Recordings(RecordingsCommand),
    /// Print a call's pushes as Udesk sent them, byte for byte, one after
    /// another in arrival order, each followed by a line break (they are
    /// kept compressed, so `sqlite3` alone does not show them).
    Pushes(PushesArgs),
    /// Write the calls that started in a span as CSV (for a spreadsheet)
    /// or NDJSON, one call a row with the columns of `calls_readable`.
    Export(ExportArgs),
    /// Print the GraphQL schema (SDL).
    Schema,
}

#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// The calls that started at this time or later: RFC 3339
    /// (`2024-05-01T00:00:00+08:00`) or a date (`2024-05-01`, its midnight in
    /// --default-utc-offset). Without --from and --to: today's calls.
    #[arg(
        long,
        env = "UDESK_CALLS_EXPORT_FROM",
        value_name = "TIME",
        requires = "to"
    )]
    pub from: Option<String>,

    /// ... and before this time (a date means its midnight: `--from
    /// 2024-05-01 --to 2024-06-01` is May). Without --from and --to: today's
    /// calls.
    #[arg(
        long,
        env = "UDESK_CALLS_EXPORT_TO",
        value_name = "TIME",
        requires = "from"
    )]
    pub to: Option<String>,

    /// CSV (UTF-8 with a byte-order mark, which Excel needs to show Chinese)
    /// or NDJSON (one JSON object a line).
    #[arg(
        long,
        env = "UDESK_CALLS_EXPORT_FORMAT",
        value_enum,
        default_value = "csv"
    )]
    pub format: crate::export::Format,

    /// Write to this file (replaced whole when the export is complete);
    /// without it, to standard output.
    #[arg(long, short, env = "UDESK_CALLS_EXPORT_OUTPUT", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Args)]
pub struct PushesArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// The call's `conversation_id`.
    #[arg(value_name = "CONVERSATION_ID")]
    pub conversation_id: String,
}

#[derive(Args)]
#[command(group(
    clap::ArgGroup::new("what_to_erase")
        .required(true)
        .multiple(false)
        .args(["customer_phone", "before"])
))]
pub struct PurgeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Erase every call of the customer with this phone number, written as
    /// Udesk pushes it (e.g. 13800001111), and every rejected push carrying
    /// it. Without it, --before says what to erase.
    #[arg(
        long,
        env = "UDESK_CALLS_PURGE_CUSTOMER_PHONE",
        hide_env_values = true,
        value_name = "PHONE"
    )]
    pub customer_phone: Option<String>,

    /// Erase every call that started before this time: RFC 3339
    /// (2024-05-01T00:00:00+08:00) or a date (2024-05-01, midnight in
    /// --default-utc-offset), and every rejected push received before it.
    /// Without it, --customer-phone says what to erase.
    #[arg(long, env = "UDESK_CALLS_PURGE_BEFORE", value_name = "TIME")]
    pub before: Option<String>,

    /// Report what would be erased, and erase nothing.
    #[arg(long, env = "UDESK_CALLS_PURGE_DRY_RUN")]
    pub dry_run: bool,

    /// The recordings archive `serve` keeps (`serve --recordings-to`): the
    /// erased calls' copies are deleted from it too. Without it, the copies
    /// stay, and the purge says how many.
    #[arg(
        long,
        env = "UDESK_CALLS_RECORDINGS_TO",
        value_name = "DIR|s3://BUCKET/PREFIX",
        value_parser = ArchiveTarget::parse
    )]
    pub recordings_to: Option<ArchiveTarget>,
}

/// Where the database is, how to read its times and who checkpoints it.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// The SQLite database file; created and migrated if missing. A relative
    /// path is read from the working directory.
    #[arg(
        long,
        env = "UDESK_CALLS_DB",
        default_value = "udesk-calls.db",
        value_name = "PATH"
    )]
    pub db: PathBuf,

    /// How to read Udesk times that carry no offset, and where a day starts
    /// in daily statistics.
    #[arg(
        long,
        env = "UDESK_CALLS_DEFAULT_UTC_OFFSET",
        value_name = "OFFSET",
        default_value = "+08:00",
        value_parser = parse_utc_offset,
        allow_hyphen_values = true
    )]
    pub default_utc_offset: FixedOffset,

    /// Checkpoint the WAL into the database file every this many pages (of
    /// 4 KiB). 0 never checkpoints: set it when Litestream replicates the
    /// database, so that Litestream alone makes the checkpoints.
    #[arg(
        long,
        env = "UDESK_CALLS_WAL_AUTOCHECKPOINT",
        value_name = "PAGES",
        default_value_t = DEFAULT_WAL_AUTOCHECKPOINT
    )]
    pub wal_autocheckpoint: u32,
}

impl DatabaseArgs {
    /// How to open the store, with `readers` reader connections.
    pub fn store_options(&self, readers: u32) -> StoreOptions {
        StoreOptions {
            path: self.db.clone(),
            default_offset: self.default_utc_offset,
            readers,
            wal_autocheckpoint: self.wal_autocheckpoint,
            train_dictionary_after: crate::storage::bodies::TRAIN_AFTER,
        }
    }
}

/// No `Debug`: it holds the tokens.
#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// The address and port to listen on for the webhook and GraphQL. Any
    /// non-loopback address needs both kinds of token, or --insecure.
    #[arg(
        long,
        env = "UDESK_CALLS_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR"
    )]
    pub listen: String,

    /// A secret the push URL must carry as `?token=`. Give it several times
    /// (comma-separated in the variable) to rotate tokens without dropping
    /// pushes. With none, the webhook is open.
    #[arg(
        long = "webhook-token",
        env = "UDESK_CALLS_WEBHOOK_TOKEN",
        value_name = "TOKEN",
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
        value_name = "TOKEN",
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
        value_name = "ORIGIN",
        value_delimiter = ',',
        value_parser = parse_cors_origin
    )]
    pub cors_origins: Vec<String>,

    /// The largest push body accepted, in bytes; a larger one is answered
    /// 413 and not stored.
    #[arg(
        long,
        env = "UDESK_CALLS_MAX_BODY_BYTES",
        default_value_t = DEFAULT_MAX_BODY_BYTES,
        value_name = "BYTES"
    )]
    pub max_body_bytes: usize,

    /// Allow listening on a non-loopback address without --webhook-token or
    /// --api-token: anyone who reaches it can then read and write call data.
    /// Off unless given (or the variable is `true`).
    #[arg(long, env = "UDESK_CALLS_INSECURE")]
    pub insecure: bool,

    /// Erase calls that started more than this many days ago, at start and
    /// then every six hours (with the rejected pushes of that age). Without
    /// it, calls are kept forever.
    #[arg(
        long,
        env = "UDESK_CALLS_RETAIN_DAYS",
        value_name = "DAYS",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub retain_days: Option<u32>,

    #[command(flatten)]
    pub http_limits: http_limits::HttpLimitArgs,

    /// How many read-only database connections serve GraphQL queries; that
    /// many queries run at once, the next ones wait.
    #[arg(
        long,
        env = "UDESK_CALLS_READERS",
        default_value_t = 8,
        value_name = "N"
    )]
    pub readers: u32,

    /// Stop a GraphQL request (a batch counts as one) still running after
    /// this many seconds; it is answered with the code QUERY_TIMEOUT.
    #[arg(
        long,
        env = "UDESK_CALLS_GRAPHQL_TIMEOUT_SECONDS",
        default_value_t = DEFAULT_GRAPHQL_TIMEOUT_SECONDS,
        value_name = "SECONDS",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub graphql_timeout_seconds: u64,

    /// The largest GraphQL answer sent, in bytes (a batch's answers
    /// together); a larger one is replaced by an error with the code
    /// RESPONSE_TOO_LARGE, and its building stops once over.
    #[arg(
        long,
        env = "UDESK_CALLS_GRAPHQL_MAX_RESPONSE_BYTES",
        default_value_t = DEFAULT_GRAPHQL_MAX_RESPONSE_BYTES,
        value_name = "BYTES",
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1024..)
    )]
    pub graphql_max_response_bytes: usize,
    /// Send every stored push (not duplicates, not rejected bodies) on to
    /// this URL, byte for byte with its Content-Type, as a POST: at least
    /// once, in arrival order for each call, retried with backoff until a
    /// 2xx. Give it several times (comma-separated in the variable) for
    /// several receivers. Without it, nothing is forwarded.
    #[arg(
        long = "forward-to",
        env = "UDESK_CALLS_FORWARD_TO",
        value_name = "URL",
        value_delimiter = ',',
        value_parser = SecretValue(ForwardTarget::parse),
        hide_env_values = true
    )]
    pub forward_to: Vec<ForwardTarget>,

    /// Sign forwarded pushes with this key, `whsec_` and base64 (make one
    /// with `echo "whsec_$(openssl rand -base64 32)"`): each request then
    /// carries a Standard Webhooks `webhook-signature`. Without it, requests
    /// are not signed.
    #[arg(
        long,
        env = "UDESK_CALLS_FORWARD_SECRET",
        value_name = "SECRET",
        value_parser = SecretValue(SigningSecret::parse),
        hide_env_values = true
    )]
    pub forward_secret: Option<SigningSecret>,

    /// How long one forwarding request may take, connecting included (like
    /// 10s or 500ms); a slower one is tried again later.
    #[arg(
        long,
        env = "UDESK_CALLS_FORWARD_TIMEOUT",
        value_name = "DURATION",
        default_value = "10s",
        value_parser = parse_timeout
    )]
    pub forward_timeout: std::time::Duration,

    /// Forwarding requests in flight to each URL at most; pushes of one call
    /// always go one after another.
    #[arg(
        long,
        env = "UDESK_CALLS_FORWARD_CONCURRENCY",
        value_name = "N",
        default_value_t = DEFAULT_FORWARD_CONCURRENCY,
        value_parser = forward::parse_concurrency
    )]
    pub forward_concurrency: usize,

    /// Keep a copy of every recording (each push's `record_url` and
    /// `ivr_record_urls`, whose links expire) in this directory, or in an
    /// S3-compatible bucket as s3://BUCKET/PREFIX. Without it, recordings
    /// are not kept.
    #[arg(
        long,
        env = "UDESK_CALLS_RECORDINGS_TO",
        value_name = "DIR|s3://BUCKET/PREFIX",
        value_parser = ArchiveTarget::parse
    )]
    pub recordings_to: Option<ArchiveTarget>,

    /// Recordings downloaded at once at most.
    #[arg(
        long,
        env = "UDESK_CALLS_RECORDINGS_CONCURRENCY",
        value_name = "N",
        default_value_t = DEFAULT_RECORDINGS_CONCURRENCY,
        value_parser = forward::parse_concurrency
    )]
    pub recordings_concurrency: usize,

    /// How long one recording's download may take (like 2m or 90s); a
    /// slower one is tried again later.
    #[arg(
        long,
        env = "UDESK_CALLS_RECORDINGS_TIMEOUT",
        value_name = "DURATION",
        default_value = "2m",
        value_parser = parse_timeout
    )]
    pub recordings_timeout: std::time::Duration,

    /// A recording larger than this many bytes is failed, not kept.
    #[arg(
        long,
        env = "UDESK_CALLS_RECORDINGS_MAX_BYTES",
        value_name = "BYTES",
        default_value_t = DEFAULT_RECORDINGS_MAX_BYTES
    )]
    pub recordings_max_bytes: u64,

    /// How many bytes a second all downloads together may take (like 32MiB
    /// or 50MB; 0 for no cap), so a backlog being archived leaves the disk
    /// to the webhook.
    #[arg(
        long,
        env = "UDESK_CALLS_RECORDINGS_MAX_RATE",
        value_name = "BYTES",
        default_value = DEFAULT_RECORDINGS_MAX_RATE,
        value_parser = parse_rate
    )]
    pub recordings_max_rate: u64,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// The file of pushes: JSON objects one a line (newline-delimited JSON),
    /// pretty-printed one after another, or in a JSON array; `-` reads
    /// standard input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The database to copy; it may be in use by a running `serve`.
    #[arg(long, env = "UDESK_CALLS_DB", default_value = "udesk-calls.db")]
    pub db: PathBuf,

    /// The file to write the copy to. It must not exist yet (see --force);
    /// its folder must.
    #[arg(value_name = "DEST")]
    pub dest: PathBuf,

    /// Replace DEST if it already exists.
    #[arg(long, env = "UDESK_CALLS_BACKUP_FORCE")]
    pub force: bool,
}

/// Runs a parsed command line; the error is printed by `main`.
pub async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Import(args) => import::run(args).await,
        Command::Reprocess(args) => reprocess::run(args).await,
        Command::Purge(args) => purge::run(args).await,
        Command::Backup(args) => backup::run(args).await,
        Command::Forward(ForwardCommand::Retry(args)) => forward::retry(args).await,
        Command::Recordings(RecordingsCommand::Verify(args)) => recordings::verify(args).await,
        Command::Recordings(RecordingsCommand::Retry(args)) => recordings::retry(args).await,
        Command::Recordings(RecordingsCommand::Backfill(args)) => recordings::backfill(args).await,
        Command::Pushes(args) => pushes::run(args).await,
        Command::Export(args) => export::run(args).await,
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}
