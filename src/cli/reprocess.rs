//! `udesk-calls reprocess`.

use std::process::ExitCode;

use anyhow::Context;

use crate::storage::reprocess::reprocess;

use super::DatabaseArgs;

pub async fn run(args: DatabaseArgs) -> anyhow::Result<ExitCode> {
    let report = tokio::task::spawn_blocking(move || {
        reprocess(&args.db, args.default_utc_offset).with_context(|| {
            format!(
                "reprocessing {} failed; nothing was changed",
                args.db.display()
            )
        })
    })
    .await??;
    eprintln!(
        "reprocessed {} events into {} calls ({} parse warnings)",
        report.events, report.calls, report.warnings
    );
    Ok(ExitCode::SUCCESS)
}
