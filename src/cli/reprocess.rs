//! `udesk-calls reprocess`.

use std::process::ExitCode;

use anyhow::Context;

use crate::storage::open_for_maintenance;
use crate::storage::reprocess::reprocess;

use super::DatabaseArgs;

pub async fn run(args: DatabaseArgs) -> anyhow::Result<ExitCode> {
    let report = tokio::task::spawn_blocking(move || {
        let mut connection = open_for_maintenance(&args.db)
            .with_context(|| format!("cannot open the database {}", args.db.display()))?;
        reprocess(&mut connection, args.default_utc_offset)
            .context("reprocess failed; nothing was changed")
    })
    .await??;
    eprintln!(
        "reprocessed {} events into {} calls ({} parse warnings)",
        report.events, report.calls, report.warnings
    );
    Ok(ExitCode::SUCCESS)
}
