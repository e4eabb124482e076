//! The `udesk-calls` binary: parses the command line, sets up logging and
//! hands over to the library.

use std::io::IsTerminal;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;
use udesk_calls::cli::{parse, run};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("udesk-calls: {error:#}");
            ExitCode::FAILURE
        }
    }
}
