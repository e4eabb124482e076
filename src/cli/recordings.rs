//! `udesk-calls recordings verify` re-hashes every archived copy and names
//! the missing and corrupt ones; `recordings retry` re-queues the
//! recordings that failed; `recordings backfill` queues those of calls
//! stored before archiving began. All run beside `serve` or without it.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::DatabaseArgs;
use super::progress::Bar;
use crate::config::recordings::ArchiveTarget;
use crate::recordings::archive::Archive;
use crate::storage::archived_copies::{
    ArchivedCopy, archived_copies_in, queue_stored_in, requeue_failed_recordings_in,
};

#[derive(Subcommand)]
pub enum RecordingsCommand {
    /// Re-hash every archived recording and report those missing from the
    /// archive or whose bytes no longer match their SHA-256. Exits 1 when
    /// any is.
    Verify(ArchiveArgs),
    /// Re-queue the recordings that failed (their link refused or expired,
    /// or too many tries), e.g. after a network outage. Safe while `serve`
    /// runs: it tries them within a second or two.
    Retry(DatabaseArgs),
    /// Queue the recordings of the calls stored before `serve
    /// --recordings-to` was given (each call's latest recording and its IVR
    /// recordings); a running `serve` archives them as it does new ones.
    /// Those queued already are left alone, so it may run again.
    Backfill(ArchiveArgs),
}

/// A database and the archive `serve` keeps of its recordings.
#[derive(Args)]
pub struct ArchiveArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// The archive `serve` keeps (`serve --recordings-to`): a directory, or
    /// an S3-compatible bucket as s3://BUCKET/PREFIX (endpoint and keys
    /// from the AWS_* variables). Required: without it there is nothing to
    /// check or queue for.
    #[arg(
        long,
        env = "UDESK_CALLS_RECORDINGS_TO",
        value_name = "DIR|s3://BUCKET/PREFIX",
        value_parser = ArchiveTarget::parse
    )]
    pub recordings_to: ArchiveTarget,
}

/// What one copy turned out to be.
enum Finding {
    Intact,
    Missing,
    Corrupt(String),
    Unreadable(String),
}

pub async fn verify(args: ArchiveArgs) -> anyhow::Result<ExitCode> {
    let db = args.database.db.clone();
    let archive = Archive::open(&args.recordings_to, &db).map_err(anyhow::Error::msg)?;
    let copies = tokio::task::spawn_blocking(move || archived_copies_in(&db))
        .await?
        .with_context(|| format!("reading {} failed", args.database.db.display()))?;
    let total_bytes: u64 = copies.iter().map(|copy| copy.bytes).sum();
    let bar = Bar::reading(total_bytes);
    let (mut intact, mut problems) = (0u64, 0u64);
    for copy in &copies {
        match check(&archive, copy).await {
            Finding::Intact => intact += 1,
            finding => {
                problems += 1;
                bar.println(&describe(copy, &finding));
            }
        }
        bar.add(copy.bytes);
    }
    bar.finish();
    let target = archive.target();
    if problems == 0 {
        eprintln!(
            "verified {intact} archived recordings ({total_bytes} bytes) in {target}: all intact"
        );
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "verified {} archived recordings in {target}: {intact} intact, {problems} missing or corrupt (listed above)",
        copies.len()
    );
    Ok(ExitCode::FAILURE)
}

async fn check(archive: &Archive, copy: &ArchivedCopy) -> Finding {
    let mut reader = match archive.read_whole(&copy.key).await {
        Ok(reader) => reader,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Finding::Missing,
        Err(error) => return Finding::Unreadable(error.to_string()),
    };
    let mut hash = Sha256::new();
    let mut bytes = 0u64;
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) => break,
            Ok(n) => {
                hash.update(&buffer[..n]);
                bytes += n as u64;
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Finding::Missing,
            Err(error) => return Finding::Unreadable(error.to_string()),
        }
    }
    let sha256: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if bytes != copy.bytes {
        Finding::Corrupt(format!("{bytes} bytes, not {}", copy.bytes))
    } else if sha256 != copy.sha256 {
        Finding::Corrupt(format!("its SHA-256 is {sha256}"))
    } else {
        Finding::Intact
    }
}

fn describe(copy: &ArchivedCopy, finding: &Finding) -> String {
    let what = match finding {
        Finding::Intact => "intact".to_owned(),
        Finding::Missing => "missing".to_owned(),
        Finding::Corrupt(how) => format!("corrupt ({how})"),
        Finding::Unreadable(error) => format!("unreadable ({error})"),
    };
    let calls: Vec<String> = copy
        .used_by
        .iter()
        .map(|(call, ivr)| match ivr.as_str() {
            "" => format!("call {call}"),
            ivr => format!("call {call} IVR {ivr}"),
        })
        .collect();
    format!(
        "{what}: {} (the recording of {})",
        copy.key,
        calls.join(", ")
    )
}

pub async fn backfill(args: ArchiveArgs) -> anyhow::Result<ExitCode> {
    let db = args.database.db.clone();
    let wal_autocheckpoint = args.database.wal_autocheckpoint;
    let target = args.recordings_to.as_target();
    let done =
        tokio::task::spawn_blocking(move || queue_stored_in(&db, wal_autocheckpoint, &target))
            .await?
            .with_context(|| format!("queueing in {} failed", args.database.db.display()))?;
    match done.queued {
        0 => eprintln!("every recording of the stored calls is queued already"),
        n => eprintln!(
            "queued {n} recordings of stored calls for {}; a running `serve --recordings-to` archives them now",
            args.recordings_to
        ),
    }
    if done.expired > 0 {
        eprintln!(
            "{} of them have links whose Expires has passed: they fail at once",
            done.expired
        );
    }
    tracing::info!(recordings = done.queued, "stored calls' recordings queued");
    Ok(ExitCode::SUCCESS)
}

pub async fn retry(args: DatabaseArgs) -> anyhow::Result<ExitCode> {
    let db = args.db.clone();
    let failed = tokio::task::spawn_blocking(move || {
        requeue_failed_recordings_in(&db, args.wal_autocheckpoint)
    })
    .await?
    .with_context(|| format!("re-queueing in {} failed", args.db.display()))?;
    match failed.requeued {
        0 => eprintln!("no recording has failed"),
        n => eprintln!("re-queued {n} failed recordings; a running `serve` tries them now"),
    }
    if failed.expired > 0 {
        eprintln!(
            "{} of them have links whose Expires has passed: they fail again at once",
            failed.expired
        );
    }
    tracing::info!(recordings = failed.requeued, "failed recordings re-queued");
    Ok(ExitCode::SUCCESS)
}
