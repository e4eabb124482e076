//! The `udesk-calls` binary: parses the command line, sets up logging and
//! hands over to the library.

use std::process::ExitCode;

use udesk_calls::cli::{logging, parse, run};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = parse();
    logging::init(cli.log_format);
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("udesk-calls: {error:#}");
            ExitCode::FAILURE
        }
    }
}
