//! Online backup: a consistent copy of a live database through SQLite's
//! backup API, taken while the service keeps writing.
//!
//! The pages are copied from one read snapshot (a read transaction held for
//! the whole copy), so pushes committed meanwhile neither block the writer
//! nor restart the copy: the copy is the database as it was when the backup
//! began. The copy is then turned into a plain rollback-journal file (one
//! self-contained file, no `-wal` beside it to lose or to mix up) and must
//! pass `PRAGMA integrity_check`. Where the copy is written and how it is put
//! in place is the caller's business.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::StoreError;
use super::connection::configure_common;
use super::progress::Progress;

/// Pages copied per step (1 MiB of 4 KiB pages): how often progress is told.
const PAGES_PER_STEP: i32 = 256;

/// How long the copy may keep finding the destination busy before it gives up.
const BUSY_LIMIT: Duration = Duration::from_secs(10);

/// What a backup holds, as of the moment it was taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupReport {
    pub calls: u64,
    pub events: u64,
    pub pages: u64,
    pub bytes: u64,
}

/// Copies the database at `source` into the new (or empty) file `copy`.
pub fn copy_database(
    source: &Path,
    copy: &Path,
    mut progress: impl FnMut(Progress),
) -> Result<BackupReport, StoreError> {
    // Read-write without create, so a missing file is an error and a live
    // WAL database opens as a reader beside the service; `query_only` keeps
    // the backup from writing to it.
    let from = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|error| {
        StoreError::Unavailable(format!("cannot open {}: {error}", source.display()))
    })?;
    configure_common(&from)?;
    from.execute_batch("PRAGMA query_only = ON;")?;

    let snapshot = from.unchecked_transaction()?;
    let tables: i64 = snapshot
        .query_row(
            "SELECT count(*) FROM sqlite_schema
             WHERE type = 'table' AND name IN ('calls', 'events')",
            [],
            |row| row.get(0),
        )
        .map_err(|error| match error.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) => {
                StoreError::Unavailable(format!("{} is not a SQLite database", source.display()))
            }
            _ => error.into(),
        })?;
    if tables != 2 {
        return Err(StoreError::Unavailable(format!(
            "{} is not a udesk-calls database (it has no calls and events tables)",
            source.display()
        )));
    }
    let (calls, events) = snapshot.query_row(
        "SELECT (SELECT count(*) FROM calls), (SELECT count(*) FROM events)",
        [],
        |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)),
    )?;

    let mut to = Connection::open(copy).map_err(|error| {
        StoreError::Unavailable(format!("cannot create {}: {error}", copy.display()))
    })?;
    let pages = copy_pages(&from, &mut to, &mut progress)?;
    // The snapshot ends only now: every page came from the same moment.
    snapshot.rollback()?;

    let page_size: i64 = to.query_row("PRAGMA page_size", [], |row| row.get(0))?;
    to.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
    progress(Progress {
        stage: "checking the copy",
        done: 0,
        total: 0,
    });
    check_integrity(&to)?;
    to.close().map_err(|(_, error)| StoreError::from(error))?;
    Ok(BackupReport {
        calls: calls as u64,
        events: events as u64,
        pages,
        bytes: pages * page_size as u64,
    })
}

/// Runs the backup step by step, telling `progress` after each; returns the
/// number of pages copied.
fn copy_pages(
    from: &Connection,
    to: &mut Connection,
    progress: &mut impl FnMut(Progress),
) -> Result<u64, StoreError> {
    let backup = Backup::new(from, to)?;
    let mut busy_since: Option<Instant> = None;
    loop {
        let step = backup.step(PAGES_PER_STEP)?;
        let position = backup.progress();
        let total = position.pagecount.max(0) as u64;
        progress(Progress {
            stage: "copying pages",
            done: total.saturating_sub(position.remaining.max(0) as u64),
            total,
        });
        match step {
            StepResult::Done => return Ok(total),
            StepResult::More => busy_since = None,
            // Busy, Locked (and whatever a later rusqlite adds) are retried.
            _ => {
                let since = *busy_since.get_or_insert_with(Instant::now);
                if since.elapsed() > BUSY_LIMIT {
                    return Err(StoreError::Unavailable(
                        "the backup's destination stayed locked".into(),
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// `PRAGMA integrity_check` on the copy; its complaints become the error.
fn check_integrity(copy: &Connection) -> Result<(), StoreError> {
    let findings: Vec<String> = copy
        .prepare("PRAGMA integrity_check(20)")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    if findings.len() == 1 && findings[0] == "ok" {
        return Ok(());
    }
    Err(StoreError::Internal(format!(
        "the copy failed PRAGMA integrity_check, so the database itself is likely damaged: {}",
        findings.join("; ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::connection::{DEFAULT_WAL_AUTOCHECKPOINT, open_writer};

    #[test]
    fn the_copy_is_one_checked_file_with_the_snapshot_of_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("live.db");
        let writer = open_writer(&source, DEFAULT_WAL_AUTOCHECKPOINT).unwrap();
        writer
            .execute_batch(
                "INSERT INTO calls (conversation_id, status, last_occasion, started_at_ms,
                     first_received_at, last_received_at, event_count, warning_count)
                 VALUES (1, 'ENDED', 'end', 0, 'x', 'x', 1, 0),
                        (2, 'ENDED', 'end', 0, 'x', 'x', 1, 0);",
            )
            .unwrap();
        let copy = dir.path().join("copy.db");
        let mut stages = Vec::new();
        let report = copy_database(&source, &copy, |p| stages.push(p)).unwrap();
        assert_eq!(report.calls, 2);
        assert!(report.pages > 0 && report.bytes == report.pages * 4096);
        let last_copied = stages.iter().rfind(|p| p.stage == "copying pages").unwrap();
        assert_eq!(last_copied.done, last_copied.total);
        assert_eq!(stages.last().unwrap().stage, "checking the copy");

        let copied = Connection::open(&copy).unwrap();
        let mode: String = copied
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "delete");
        let calls: i64 = copied
            .query_row("SELECT count(*) FROM calls", [], |row| row.get(0))
            .unwrap();
        assert_eq!(calls, 2);
    }

    #[test]
    fn a_file_that_is_not_a_udesk_calls_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("other.db");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let error = copy_database(&other, &dir.path().join("copy.db"), |_| {}).unwrap_err();
        assert!(
            error.to_string().contains("not a udesk-calls database"),
            "{error}"
        );

        let missing = copy_database(
            &dir.path().join("none.db"),
            &dir.path().join("c.db"),
            |_| {},
        )
        .unwrap_err();
        assert!(missing.to_string().contains("cannot open"), "{missing}");
    }
}
