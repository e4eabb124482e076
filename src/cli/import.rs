//! `udesk-calls import FILE|-`: a file of pushes through the webhook's
//! pipeline: JSON objects one a line, pretty-printed one after another, or
//! in an array (`split`).
//!
//! Pushes are queued in file order without waiting for each commit, so the
//! writer batches them, and arrival order (which breaks timestamp ties) is
//! the order of the file. A rejected push is kept in `rejected_pushes` like
//! a rejected webhook body, reported with the line it starts on, and makes
//! the command exit with status 1. On a terminal, a bar shows how much of
//! the file is read, its rate and the time left (a counter of pushes for
//! standard input).
//!
//! A push longer than a push may be (`DEFAULT_MAX_BODY_BYTES`, the
//! webhook's default) is refused as the webhook refuses it (413, not kept),
//! and read past without being held in memory.
//!
//! Pushes are parsed (and compressed) a chunk at a time on blocking threads,
//! a few chunks ahead, so the writer thread is the only thing it waits for.

mod split;

use std::collections::VecDeque;
use std::process::ExitCode;

use anyhow::Context;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};

use self::split::{Piece, Splitter};

use crate::config::DEFAULT_MAX_BODY_BYTES;
use tokio::task::JoinHandle;

use crate::domain::RawPush;
use crate::http::webhook::{intake, rejection_status};
use crate::storage::writer::{PendingWrite, Queued};
use crate::storage::{Store, WriteOutcome, Writer};

use super::ImportArgs;
use super::progress::Bar;

/// Pushes queued before the oldest one's commit is awaited: two of the
/// writer's batches, so it always has the next at hand (each parsed push
/// holds tens of KiB: 4096 made the import's peak memory 255 MiB).
const IN_FLIGHT: usize = 2048;

#[derive(Debug, Default)]
struct Tally {
    stored: u64,
    duplicates: u64,
    rejected: u64,
}

pub async fn run(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let offset = args.database.default_utc_offset;
    // The input first: a missing file leaves no database behind.
    let file = if args.file.as_os_str() == "-" {
        None
    } else {
        let cannot = || format!("cannot read {}", args.file.display());
        let file = tokio::fs::File::open(&args.file)
            .await
            .with_context(cannot)?;
        let metadata = file.metadata().await.with_context(cannot)?;
        anyhow::ensure!(
            !metadata.is_dir(),
            "{} is a directory, not a file of pushes",
            args.file.display()
        );
        Some((file, metadata.len()))
    };
    let store = Store::open(&args.database.store_options(1))
        .with_context(|| format!("cannot open the database {}", args.database.db.display()))?;
    let result = match file {
        None => {
            let progress = Progress::Pushes(Bar::counting("pushes read"));
            import(&store, BufReader::new(tokio::io::stdin()), offset, progress).await
        }
        // A pipe (`<(zcat …)`) has no size: its pushes are counted instead.
        Some((file, 0)) => {
            let progress = Progress::Pushes(Bar::counting("pushes read"));
            import(&store, BufReader::new(file), offset, progress).await
        }
        Some((file, size)) => {
            let progress = Progress::Bytes(Bar::reading(size));
            import(&store, BufReader::new(file), offset, progress).await
        }
    }
    .with_context(|| format!("reading {}", args.file.display()));
    store.close().await;
    let tally = result?;
    let read = tally.stored + tally.duplicates + tally.rejected;
    eprintln!(
        "imported {read} push{}: {} stored, {} duplicates, {} rejected",
        if read == 1 { "" } else { "es" },
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

/// Pushes parsed together, on a blocking thread.
const CHUNK: usize = 256;
/// Chunks being parsed at once: enough to keep both cores busy beside the
/// writer, few enough to bound memory.
const CHUNKS_AHEAD: usize = 4;

/// The number of the line a push starts on, when it was read, and its bytes.
type Line = (u64, chrono::DateTime<chrono::FixedOffset>, Vec<u8>);
type Parsed = Vec<(u64, Queued)>;

/// What the bar counts: the bytes of a file (its size known), or the
/// pushes of standard input.
enum Progress {
    Bytes(Bar),
    Pushes(Bar),
}

impl Progress {
    fn read(&self, bytes: usize) {
        if let Progress::Bytes(bar) = self {
            bar.add(bytes as u64);
        }
    }

    fn found_push(&self) {
        if let Progress::Pushes(bar) = self {
            bar.add(1);
        }
    }

    fn bar(&self) -> &Bar {
        match self {
            Progress::Bytes(bar) | Progress::Pushes(bar) => bar,
        }
    }
}

async fn import(
    store: &Store,
    mut input: impl AsyncBufRead + Unpin,
    offset: chrono::FixedOffset,
    progress: Progress,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    let mut parsing: VecDeque<JoinHandle<Parsed>> = VecDeque::new();
    let mut pending: VecDeque<(u64, PendingWrite)> = VecDeque::new();
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut splitter = Splitter::new(DEFAULT_MAX_BODY_BYTES);
    loop {
        let piece = next_piece(&mut input, &mut splitter, &progress).await?;
        let done = piece.is_none();
        match piece {
            None => {}
            Some(Piece::TooLong { line, length }) => {
                // As the webhook answers 413: refused, and not kept.
                progress.found_push();
                tally.rejected += 1;
                progress.bar().println(&format!(
                    "line {line}: rejected (413): {length} bytes, over the {DEFAULT_MAX_BODY_BYTES} a push may have; not stored"
                ));
            }
            Some(Piece::Value { line, bytes }) => {
                progress.found_push();
                // Stamped as read, so arrival times follow the file.
                let received_at = crate::domain::received_now(offset);
                chunk.push((line, received_at, bytes));
            }
        }
        if chunk.len() == CHUNK || (done && !chunk.is_empty()) {
            let writer = store.writer().clone();
            let lines = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
            parsing.push_back(tokio::task::spawn_blocking(move || {
                parse(&writer, lines, offset)
            }));
        }
        while parsing.len() > CHUNKS_AHEAD || (done && !parsing.is_empty()) {
            let parsed = parsing.pop_front().expect("a chunk is being parsed");
            let parsed = match parsed.await {
                Ok(parsed) => parsed,
                Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                Err(error) => return Err(error.into()),
            };
            for (number, queued) in parsed {
                pending.push_back((number, store.writer().enqueue_prepared(queued).await?));
                if pending.len() >= IN_FLIGHT {
                    let (number, queued) = pending.pop_front().expect("pending is not empty");
                    settle(number, queued, &mut tally, progress.bar()).await?;
                }
            }
        }
        if done {
            break;
        }
    }
    for (number, queued) in pending {
        settle(number, queued, &mut tally, progress.bar()).await?;
    }
    progress.bar().finish();
    Ok(tally)
}

/// Reads up to the end of the next push: `None` at the end of the input.
async fn next_piece(
    input: &mut (impl AsyncBufRead + Unpin),
    splitter: &mut Splitter,
    progress: &Progress,
) -> std::io::Result<Option<Piece>> {
    loop {
        let available = input.fill_buf().await?;
        if available.is_empty() {
            return Ok(splitter.finish());
        }
        let (taken, piece) = splitter.feed(available);
        input.consume(taken);
        progress.read(taken);
        if piece.is_some() {
            return Ok(piece);
        }
    }
}

/// Parses and compresses pushes as the webhook would their bodies.
fn parse(writer: &Writer, lines: Vec<Line>, offset: chrono::FixedOffset) -> Parsed {
    lines
        .into_iter()
        .map(|(number, received_at, mut line)| {
            let end = line.trim_ascii_end().len();
            line.truncate(end);
            let start = line.len() - line.trim_ascii_start().len();
            line.drain(..start);
            let raw = RawPush {
                body: line,
                content_type: None,
                received_at,
            };
            (number, writer.prepare(intake(raw, offset)))
        })
        .collect()
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
