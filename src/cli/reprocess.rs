//! `udesk-calls reprocess`, with a progress bar through its two stages.

use std::process::ExitCode;

use anyhow::Context;

use crate::storage::reprocess::reprocess;

use super::DatabaseArgs;
use super::progress::Bar;

pub async fn run(args: DatabaseArgs) -> anyhow::Result<ExitCode> {
    let report = tokio::task::spawn_blocking(move || {
        let mut bar = Bar::staged();
        let report = reprocess(&args.store_options(1), |progress| bar.show(progress));
        bar.finish();
        report.with_context(|| {
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
