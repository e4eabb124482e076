//! `udesk-calls purge`: erase one customer's calls, or every call before a
//! time, with a progress bar on a terminal. The report gives counts only:
//! the number itself is never printed or logged.

use std::process::ExitCode;

use anyhow::Context;

use crate::storage::purge::{PurgeTarget, purge};

use super::PurgeArgs;
use super::progress::Bar;
use crate::recordings::archive::Archive;

/// A number shorter than this is refused: it would match inside other
/// numbers' pushes and erase calls that are not the customer's.
const MIN_PHONE_DIGITS: usize = 5;

pub async fn run(args: PurgeArgs) -> anyhow::Result<ExitCode> {
    let target = match (args.customer_phone, args.before) {
        (Some(phone), None) => {
            let phone = phone.trim().to_owned();
            if phone.chars().filter(char::is_ascii_digit).count() < MIN_PHONE_DIGITS {
                anyhow::bail!(
                    "--customer-phone needs the number as Udesk pushes it, at least {MIN_PHONE_DIGITS} digits"
                );
            }
            PurgeTarget::CustomerPhone(phone)
        }
        (None, Some(before)) => PurgeTarget::StartedBefore(
            crate::config::parse_instant(&before, args.database.default_utc_offset)
                .map_err(|problem| anyhow::anyhow!("--before: {problem}"))?,
        ),
        _ => anyhow::bail!("give exactly one of --customer-phone or --before"),
    };
    let archive = match &args.recordings_to {
        Some(target) => Some(Archive::open(target, &args.database.db).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let db = args.database.db.clone();
    let wal_autocheckpoint = args.database.wal_autocheckpoint;
    let dry_run = args.dry_run;
    let report = tokio::task::spawn_blocking(move || {
        let bar = Bar::counting("calls erased");
        let report = purge(&db, wal_autocheckpoint, &target, dry_run, |calls| {
            bar.set(calls)
        });
        bar.finish();
        report.with_context(|| format!("purging {} failed", db.display()))
    })
    .await??;
    let copies = report.unused_copies.len();
    super::serve::forget_copies(archive.as_ref(), report.unused_copies.clone()).await;
    let verb = if dry_run { "would erase" } else { "erased" };
    tracing::info!(
        dry_run,
        calls = report.calls,
        events = report.events,
        rejected_pushes = report.rejected_pushes,
        "purge finished"
    );
    let recordings = match (report.recordings, &archive) {
        (0, _) => String::new(),
        (n, _) if dry_run => format!(", {n} recordings"),
        (n, Some(_)) => format!(", {n} recordings ({copies} archived copies deleted)"),
        (n, None) => {
            format!(", {n} recordings (their archived copies are kept: give --recordings-to)")
        }
    };
    eprintln!(
        "{verb} {} calls ({} events, {} parse warnings{recordings}) and {} rejected pushes{}",
        report.calls,
        report.events,
        report.parse_warnings,
        report.rejected_pushes,
        if report.vacuumed {
            "; the file was rewritten (VACUUM) to erase old fragments"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}
