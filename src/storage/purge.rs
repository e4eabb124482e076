//! Erasing personal data: every call of one customer (PIPL's right to
//! erasure), or every call that started before a time (retention).
//!
//! A call goes whole: its events (the raw pushes), their parse warnings, its
//! row and its collections. For a customer, a call is theirs when its phone
//! is the number or when any of its raw pushes carries the number's bytes;
//! rejected bodies that carry them go too.
//!
//! Deleting rows is not erasing bytes: SQLite leaves deleted content in free
//! space and in the WAL. Every writing connection runs with
//! `secure_delete` (see `connection.rs`), so what is deleted is overwritten;
//! after a purge the WAL is checkpointed and truncated; and a customer's
//! purge then reads the file back, and should the number still be found (a
//! database written before `secure_delete` keeps old fragments), rewrites
//! it with `VACUUM`. Calls are deleted a chunk at a time so the service's
//! writer never waits long for the lock.

use std::path::Path;

use chrono::{DateTime, FixedOffset};

use rusqlite::{Connection, TransactionBehavior, params, params_from_iter};

use super::StoreError;
use super::bodies::{Bodies, SHORTEST_NUMBER, reversed_numbers, set_state, state};
use super::connection::{is_current, open_for_reading, open_writer};
use super::events::each_event_of_call;
use super::rollups::{self, RollupChanges};
use super::sql::placeholders;
use crate::domain::ConversationId;

/// Which calls to erase.
#[derive(Clone, Debug)]
pub enum PurgeTarget {
    /// Every call of the customer with this phone number, as pushed.
    CustomerPhone(String),
    /// Every call that started before this instant.
    StartedBefore(DateTime<FixedOffset>),
}

/// What a purge removed (or, dry, would remove).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub calls: u64,
    pub events: u64,
    pub parse_warnings: u64,
    pub rejected_pushes: u64,
    /// Recordings of the erased calls (their links and archived copies).
    pub recordings: u64,
    /// Archived copies no call uses any more, to delete from the archive
    /// (`recordings::archive`) once the purge is committed.
    pub unused_copies: Vec<String>,
    /// Whether the file had to be rewritten to erase old fragments.
    pub vacuumed: bool,
}

impl PurgeReport {
    /// Adds a chunk's counts and copies to this report's.
    pub fn add(&mut self, chunk: PurgeReport) {
        self.calls += chunk.calls;
        self.events += chunk.events;
        self.parse_warnings += chunk.parse_warnings;
        self.rejected_pushes += chunk.rejected_pushes;
        self.recordings += chunk.recordings;
        self.unused_copies.extend(chunk.unused_copies);
    }
}

/// Calls deleted per transaction.
pub const CHUNK: usize = 500;

/// The calls of `target`, at most `limit` of them.
fn calls_of(
    conn: &Connection,
    target: &PurgeTarget,
    limit: usize,
) -> Result<Vec<ConversationId>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(match target {
        // Compressed bodies are searched through the long numbers kept of
        // every push (`call_numbers`), found by the digits of the number
        // reversed, so also where a prefix such as +86 precedes it; bodies
        // still stored as received (a partial index lists them) are
        // searched byte for byte.
        PurgeTarget::CustomerPhone(phone) => conn
            .prepare_cached(
                "SELECT conversation_id FROM calls WHERE customer_phone = ?1
                 UNION
                 SELECT conversation_id FROM call_numbers
                 WHERE ?3 IS NOT NULL AND reversed_digits >= ?3 AND reversed_digits < ?3 || ':'
                 UNION
                 SELECT conversation_id FROM events INDEXED BY events_stored_as_received
                 WHERE body_dictionary IS NULL
                   AND (instr(CAST(body AS BLOB), CAST(?1 AS BLOB)) > 0
                        OR instr(CAST(form_payload AS BLOB), CAST(?1 AS BLOB)) > 0)
                 LIMIT ?2",
            )?
            .query_map(
                rusqlite::params![phone, limit, indexed_number(phone)],
                |row| row.get(0),
            )?
            .collect::<Result<_, _>>()?,
        PurgeTarget::StartedBefore(time) => conn
            .prepare_cached("SELECT conversation_id FROM calls WHERE started_at_ms < ?1 LIMIT ?2")?
            .query_map(rusqlite::params![time.timestamp_millis(), limit], |row| {
                row.get(0)
            })?
            .collect::<Result<_, _>>()?,
    })
}

/// The number as `call_numbers` keeps it, when it is one it keeps: only
/// digits, at least [`SHORTEST_NUMBER`] of them, reversed.
fn indexed_number(phone: &str) -> Option<String> {
    let digits = phone.trim();
    (digits.len() >= SHORTEST_NUMBER && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.chars().rev().collect())
}

/// Counts, and unless `dry_run` deletes, up to `limit` calls of `target` in
/// the transaction `tx`. Returns the report of this chunk.
pub fn purge_chunk(
    tx: &Connection,
    bodies: &Bodies,
    target: &PurgeTarget,
    limit: usize,
    dry_run: bool,
) -> Result<PurgeReport, StoreError> {
    let ids = calls_of(tx, target, limit)?;
    let mut report = PurgeReport {
        calls: ids.len() as u64,
        ..PurgeReport::default()
    };
    if ids.is_empty() {
        return Ok(report);
    }
    // A dry run takes every call at once: counted a chunk of ids at a time,
    // as a statement holds at most 32,766 parameters.
    for chunk in ids.chunks(CHUNK) {
        let list = placeholders(chunk.len());
        let count = |table: &str| -> Result<u64, StoreError> {
            let sql = format!("SELECT count(*) FROM {table} WHERE conversation_id IN ({list})");
            Ok(tx.query_row(&sql, params_from_iter(chunk), |row| row.get::<_, i64>(0))? as u64)
        };
        report.events += count("events")?;
        report.parse_warnings += count("parse_warnings")?;
        report.recordings += count("recordings")?;
    }
    if !dry_run {
        let list = placeholders(ids.len());
        let mut rollups = RollupChanges::new(rollups::rebuild::counted_offset(tx)?.unwrap_or(0));
        for id in &ids {
            let before = rollups.contribution(tx, *id)?;
            rollups.record(before, None);
        }
        for id in &ids {
            forget_numbers(tx, bodies, *id)?;
        }
        let copies: Vec<String> = tx
            .prepare(&format!(
                "SELECT DISTINCT archive_key FROM recordings
                 WHERE conversation_id IN ({list}) AND archive_key IS NOT NULL"
            ))?
            .query_map(params_from_iter(&ids), |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        for table in ["events", "calls", "recordings"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE conversation_id IN ({list})"),
                params_from_iter(&ids),
            )?;
        }
        // The same audio under a call kept: its copy stays.
        let mut still_used =
            tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM recordings WHERE archive_key = ?1)")?;
        for copy in copies {
            if !still_used.query_row([&copy], |row| row.get::<_, bool>(0))? {
                report.unused_copies.push(copy);
            }
        }
        rollups.flush(tx)?;
    }
    Ok(report)
}

/// Deletes the numbers `call_numbers` keeps of a call, found again in its
/// pushes: the table is indexed by number alone, a third smaller than with
/// an index by call too, and a purge reads only what it erases. Should a
/// body not read back, every row of the call is looked for instead.
fn forget_numbers(
    tx: &Connection,
    bodies: &Bodies,
    conversation_id: ConversationId,
) -> Result<(), StoreError> {
    let mut numbers = std::collections::BTreeSet::new();
    let read = each_event_of_call(tx, bodies, conversation_id, |event| {
        numbers.extend(reversed_numbers(&event.body));
        Ok(())
    });
    if let Err(error) = read {
        tracing::warn!(%error, "a purged call's pushes did not read back: its numbers are looked for in every row");
        tx.execute(
            "DELETE FROM call_numbers WHERE conversation_id = ?1",
            [conversation_id],
        )?;
        return Ok(());
    }
    let mut delete = tx.prepare_cached(
        "DELETE FROM call_numbers WHERE reversed_digits = ?1 AND conversation_id = ?2",
    )?;
    for number in numbers {
        delete.execute(params![number, conversation_id])?;
    }
    Ok(())
}

/// Counts, and unless `dry_run` deletes, the rejected bodies of `target`:
/// those carrying the number, or received before the time.
pub fn purge_rejected(
    tx: &Connection,
    target: &PurgeTarget,
    dry_run: bool,
) -> Result<u64, StoreError> {
    let (condition, value): (&str, rusqlite::types::Value) = match target {
        PurgeTarget::CustomerPhone(phone) => (
            "instr(CAST(body AS BLOB), CAST(?1 AS BLOB)) > 0",
            phone.clone().into(),
        ),
        PurgeTarget::StartedBefore(time) => {
            ("unixepoch(received_at) < ?1", time.timestamp().into())
        }
    };
    let found: i64 = tx.query_row(
        &format!("SELECT count(*) FROM rejected_pushes WHERE {condition}"),
        [&value],
        |row| row.get(0),
    )?;
    if !dry_run {
        tx.execute(
            &format!("DELETE FROM rejected_pushes WHERE {condition}"),
            [&value],
        )?;
    }
    Ok(found as u64)
}

/// Runs a whole purge of the database at `path` on a connection of its own
/// (the `purge` command, beside a running service or not), chunk by chunk;
/// `progress` hears the calls done.
pub fn purge(
    path: &Path,
    wal_autocheckpoint: u32,
    target: &PurgeTarget,
    dry_run: bool,
    mut progress: impl FnMut(u64),
) -> Result<PurgeReport, StoreError> {
    if dry_run {
        return count(path, wal_autocheckpoint, target);
    }
    let mut connection = open_writer(path, wal_autocheckpoint)?;
    let bodies = Bodies::load(&connection)?;
    let conn = &mut connection;
    let mut total = PurgeReport::default();
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let chunk = purge_chunk(&tx, &bodies, target, CHUNK, false)?;
        tx.commit()?;
        let last = chunk.calls < CHUNK as u64;
        total.add(chunk);
        progress(total.calls);
        if last {
            break;
        }
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    total.rejected_pushes = purge_rejected(&tx, target, false)?;
    tx.commit()?;
    checkpoint_truncate(conn)?;
    // The files are read with the connection closed: closing a descriptor
    // of a file drops every POSIX lock this process holds on it, SQLite's
    // included.
    drop(connection);
    // A database written with `secure_delete` all its life (created by
    // this version, or rewritten once) holds no old fragments: only one
    // written before is read back, whole.
    if let PurgeTarget::CustomerPhone(phone) = target
        && !erased_throughout(path)?
        && file_contains(path, phone.as_bytes())?
    {
        let connection = open_writer(path, wal_autocheckpoint)?;
        connection.execute_batch("VACUUM")?;
        set_state(&connection, ERASED_THROUGHOUT, 1)?;
        checkpoint_truncate(&connection)?;
        total.vacuumed = true;
    }
    Ok(total)
}

/// `store_state` key: set once every deleted byte of the database is known
/// to have been overwritten (`secure_delete` since its creation, or since
/// a `VACUUM` rewrote it).
pub const ERASED_THROUGHOUT: &str = "erased_throughout";

fn erased_throughout(path: &Path) -> Result<bool, StoreError> {
    let connection = open_for_reading(path)?;
    Ok(state(&connection, ERASED_THROUGHOUT)? == Some(1))
}

/// What a purge of `target` would erase, counted in one read snapshot
/// without writing: a full disk is when erasing is planned. A missing or
/// older file is first created or migrated, as by every command.
fn count(
    path: &Path,
    wal_autocheckpoint: u32,
    target: &PurgeTarget,
) -> Result<PurgeReport, StoreError> {
    let mut connection = None;
    if path.exists() {
        let reader = open_for_reading(path)?;
        if is_current(&reader)? {
            connection = Some(reader);
        }
    }
    let connection = match connection {
        Some(reader) => reader,
        None => open_writer(path, wal_autocheckpoint)?,
    };
    let tx = connection.unchecked_transaction()?;
    let bodies = Bodies::load(&tx)?;
    let mut total = purge_chunk(&tx, &bodies, target, usize::MAX, true)?;
    total.rejected_pushes = purge_rejected(&tx, target, true)?;
    Ok(total)
}

/// Copies the WAL into the database and empties it, so deleted frames are
/// gone from the WAL file too. Retries while readers hold old snapshots.
pub fn checkpoint_truncate(conn: &Connection) -> Result<(), StoreError> {
    for _ in 0..50 {
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
        if busy == 0 {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err(StoreError::Unavailable(
        "the WAL could not be emptied: a long read kept it busy for 5 s (a backup, an open `sqlite3` transaction, or the service's daily integrity check, which takes a minute on a large file); what was erased is gone from the database, so run the purge again in a minute to empty the WAL too"
            .into(),
    ))
}

/// Whether the database file or its WAL holds `needle`, byte for byte,
/// read a mebibyte at a time (memory stays flat whatever the file's size).
pub fn file_contains(path: &Path, needle: &[u8]) -> Result<bool, StoreError> {
    use std::io::Read;
    const CHUNK: usize = 1 << 20;
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let keep = needle.len().saturating_sub(1);
    for file in [path.to_owned(), wal.into()] {
        let unreadable = |error: std::io::Error| {
            StoreError::Unavailable(format!("cannot read {}: {error}", file.display()))
        };
        let mut reader = match std::fs::File::open(&file) {
            Ok(reader) => reader,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(unreadable(error)),
        };
        let mut window = Vec::with_capacity(CHUNK + keep);
        let mut chunk = vec![0; CHUNK];
        loop {
            let read = reader.read(&mut chunk).map_err(unreadable)?;
            if read == 0 {
                break;
            }
            window.extend_from_slice(&chunk[..read]);
            if memchr::memmem::find(&window, needle).is_some() {
                return Ok(true);
            }
            // What could begin a match across the boundary stays.
            let cut = window.len().saturating_sub(keep);
            window.drain(..cut);
        }
    }
    Ok(false)
}

/// `serve --retain-days`: erases the calls that started more than `days` ago,
/// at start and then every six hours, through the service's writer, a chunk
/// at a time between batches of pushes; each chunk's archived recordings no
/// call uses any more go to `forget_copies` once it is committed. Ends when
/// the writer stops.
pub async fn retain<F, Fut>(writer: super::Writer, days: u32, forget_copies: F)
where
    F: Fn(Vec<String>) -> Fut,
    Fut: Future<Output = ()>,
{
    const EVERY: std::time::Duration = std::time::Duration::from_secs(6 * 3600);
    loop {
        let cutoff = chrono::Utc::now().fixed_offset() - chrono::Duration::days(i64::from(days));
        let mut total = PurgeReport::default();
        loop {
            match writer.purge_chunk(PurgeTarget::StartedBefore(cutoff)).await {
                Ok(mut chunk) => {
                    let last = chunk.calls < CHUNK as u64;
                    forget_copies(std::mem::take(&mut chunk.unused_copies)).await;
                    total.add(chunk);
                    if last {
                        break;
                    }
                }
                Err(StoreError::ShuttingDown) => return,
                Err(error) => {
                    tracing::warn!(%error, "retention could not erase old calls; it tries again later");
                    break;
                }
            }
        }
        tracing::info!(
            days,
            calls = total.calls,
            events = total.events,
            rejected_pushes = total.rejected_pushes,
            recordings = total.recordings,
            "retention erased the calls older than the limit"
        );
        tokio::time::sleep(EVERY).await;
    }
}
