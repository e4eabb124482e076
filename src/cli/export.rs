//! `udesk-calls export --from TIME --to TIME`: the calls that started in
//! the span, as CSV for a spreadsheet or NDJSON for a data tool, read from
//! the database file in one snapshot (beside a running service too) a page
//! at a time, so a year takes the memory of a day.
//!
//! `--output FILE` is written beside its final name and renamed when
//! complete: an interrupted export leaves no partial file behind.

use std::io::Write;
use std::ops::ControlFlow;
use std::process::ExitCode;

use anyhow::Context;

use crate::export::{Encoder, span_asked};
use crate::storage::export::{ExportSpan, export_from_file};

use super::ExportArgs;
use super::progress::Bar;

pub async fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let offset = args.database.default_utc_offset;
    let (from, to) = span_asked(
        args.from.as_deref(),
        args.to.as_deref(),
        ("--from", "--to"),
        offset,
        chrono::Utc::now(),
    )
    .map_err(|problem| anyhow::anyhow!(problem))?;
    let span = ExportSpan {
        from_ms: from.timestamp_millis(),
        to_ms: to.timestamp_millis(),
    };
    let db = args.database.db.clone();
    let exported = tokio::task::spawn_blocking(move || {
        let (out, file): (Box<dyn Write>, _) = match &args.output {
            None => (Box::new(std::io::stdout().lock()), None),
            Some(path) => {
                let folder = match path.parent() {
                    Some(folder) if !folder.as_os_str().is_empty() => folder,
                    _ => std::path::Path::new("."),
                };
                let file = tempfile::NamedTempFile::new_in(folder)
                    .with_context(|| format!("cannot write in {}", folder.display()))?;
                let handle = file.reopen().context("cannot write the export")?;
                (Box::new(handle), Some((file, path.clone())))
            }
        };
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, out);
        let mut encoder = Encoder::new(args.format);
        let mut bar = Bar::staged();
        // A reader that has seen enough (`| head`) closes the pipe: not an
        // error of this command, which stops there.
        let exported = export_from_file(&db, span, |page, progress| {
            bar.show(progress);
            match out.write_all(&encoder.page(page)) {
                Ok(()) => Ok(ControlFlow::Continue(())),
                Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {
                    Ok(ControlFlow::Break(()))
                }
                Err(error) => Err(error),
            }
        })
        .with_context(|| format!("cannot export from {}", db.display()))?;
        bar.finish();
        match out.flush() {
            Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(error).context("cannot write the export")?
            }
            _ => {}
        }
        drop(out);
        if let Some((file, path)) = file {
            file.as_file()
                .sync_all()
                .context("cannot write the export")?;
            file.persist(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        anyhow::Ok(exported)
    })
    .await??;
    eprintln!(
        "exported {exported} call{}",
        if exported == 1 { "" } else { "s" }
    );
    Ok(ExitCode::SUCCESS)
}
