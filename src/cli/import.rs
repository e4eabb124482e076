//! `udesk-calls import FILE|-`: newline-delimited pushes, one per line,
//! through the webhook's pipeline.
//!
//! Lines are queued in file order without waiting for each commit, so the
//! writer batches them, and arrival order (which breaks timestamp ties) is the
//! order of the file. A rejected line is kept in `rejected_pushes` like a
//! rejected webhook body, reported with its line number, and makes the
//! command exit with status 1. On a terminal, a counter shows the lines read.

use std::collections::VecDeque;
use std::process::ExitCode;

use anyhow::Context;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};

use crate::domain::RawPush;
use crate::http::webhook::{intake, rejection_status};
use crate::storage::writer::PendingWrite;
use crate::storage::{Store, WriteOutcome};

use super::ImportArgs;
use super::progress::Bar;

/// Pushes queued before the oldest one's commit is awaited.
const IN_FLIGHT: usize = 4096;

#[derive(Debug, Default)]
struct Tally {
    stored: u64,
    duplicates: u64,
    rejected: u64,
}

pub async fn run(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let offset = args.database.default_utc_offset;
    let store = Store::open(&args.database.store_options(1))
        .with_context(|| format!("cannot open the database {}", args.database.db.display()))?;
    let result = if args.file.as_os_str() == "-" {
        import(&store, BufReader::new(tokio::io::stdin()), offset).await
    } else {
        let file = tokio::fs::File::open(&args.file)
            .await
            .with_context(|| format!("cannot read {}", args.file.display()))?;
        import(&store, BufReader::new(file), offset).await
    };
    store.close().await;
    let tally = result?;
    eprintln!(
        "imported {} pushes: {} stored, {} duplicates, {} rejected",
        tally.stored + tally.duplicates + tally.rejected,
        tally.stored,
        tally.duplicates,
        tally.rejected
    );
    Ok(if tally.rejected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn import(
    store: &Store,
    mut input: impl AsyncBufRead + Unpin,
    offset: chrono::FixedOffset,
) -> anyhow::Result<Tally> {
    let bar = Bar::counting("lines read");
    let mut tally = Tally::default();
    let mut pending: VecDeque<(u64, PendingWrite)> = VecDeque::new();
    let mut line = Vec::new();
    let mut number = 0_u64;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line).await? == 0 {
            break;
        }
        number += 1;
        bar.inc();
        let body = line.trim_ascii();
        if body.is_empty() {
            continue;
        }
        let raw = RawPush {
            body: body.to_vec(),
            content_type: None,
            received_at: chrono::Utc::now().with_timezone(&offset),
        };
        let queued = store.writer().enqueue(intake(raw, offset)).await?;
        pending.push_back((number, queued));
        if pending.len() >= IN_FLIGHT {
            let (number, queued) = pending.pop_front().expect("pending is not empty");
            settle(number, queued, &mut tally, &bar).await?;
        }
    }
    for (number, queued) in pending {
        settle(number, queued, &mut tally, &bar).await?;
    }
    bar.finish();
    Ok(tally)
}

async fn settle(
    line: u64,
    queued: PendingWrite,
    tally: &mut Tally,
    bar: &Bar,
) -> anyhow::Result<()> {
    match queued
        .outcome()
        .await
        .with_context(|| format!("line {line} could not be stored"))?
    {
        WriteOutcome::Stored { .. } => tally.stored += 1,
        WriteOutcome::Duplicate { .. } => tally.duplicates += 1,
        WriteOutcome::Rejected { reason, .. } => {
            tally.rejected += 1;
            bar.println(&format!(
                "line {line}: rejected ({}): {reason}",
                rejection_status(&reason).as_u16()
            ));
        }
    }
    Ok(())
}
