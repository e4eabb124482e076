//! What `udesk-calls recordings verify` and `recordings retry` read and
//! change: the archived copies, each with the recordings that use it, the
//! recording jobs that failed, and (`recordings backfill`) the recordings of
//! calls stored before archiving began.

use std::path::Path;

use chrono::Utc;
use rusqlite::{TransactionBehavior, params};

use super::StoreError;
use super::connection::{open_existing_for_a_command, open_writer};
use super::jobs::{JobKind, queue_time};
use super::recordings::queue_recording;
use crate::domain::UdeskId;
use crate::domain::recording::{ivr_recording_key, source_expiry, usable};

/// One copy in the archive and what it must hold.
#[derive(Debug, Clone)]
pub struct ArchivedCopy {
    pub key: String,
    /// Lowercase hex.
    pub sha256: String,
    pub bytes: u64,
    /// The recordings kept in it: the call, and the IVR recording's id
    /// (`""` for the call's own recording).
    pub used_by: Vec<(i64, String)>,
}

/// Every archived copy of the database at `path`, by key.
pub fn archived_copies_in(path: &Path) -> Result<Vec<ArchivedCopy>, StoreError> {
    let conn = open_existing_for_a_command(path)?;
    let mut statement = conn.prepare(
        "SELECT archive_key, sha256, bytes, conversation_id, ivr_recording_id
         FROM recordings WHERE archive_key IS NOT NULL
         ORDER BY archive_key, conversation_id, ivr_recording_id",
    )?;
    let mut rows = statement.query([])?;
    let mut copies: Vec<ArchivedCopy> = Vec::new();
    while let Some(row) = rows.next()? {
        let key: String = row.get(0)?;
        let used_by = (row.get(3)?, row.get(4)?);
        match copies.last_mut() {
            Some(last) if last.key == key => last.used_by.push(used_by),
            _ => copies.push(ArchivedCopy {
                key,
                sha256: row.get(1)?,
                bytes: row.get::<_, i64>(2)?.max(0) as u64,
                used_by: vec![used_by],
            }),
        }
    }
    Ok(copies)
}

/// Recording jobs that failed (parked), and how many of them have a link
/// whose `Expires` has already passed (they fail again at once).
pub struct FailedRecordings {
    pub requeued: u64,
    pub expired: u64,
}

/// Makes every failed recording job of the database at `path` pending and
/// due at once, with its tries counted afresh; beside a running service or
/// not (its runner finds them at its next look).
pub fn requeue_failed_recordings_in(
    path: &Path,
    wal_autocheckpoint: u32,
) -> Result<FailedRecordings, StoreError> {
    let mut conn = open_writer(path, wal_autocheckpoint)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now = Utc::now();
    let expired: i64 = tx.query_row(
        "SELECT count(*) FROM jobs JOIN recordings ON recordings.id = jobs.subject
         WHERE jobs.kind = ?1 AND jobs.state = 'parked'
           AND recordings.source_expires_at_ms <= ?2",
        params![JobKind::Recording.as_str(), now.timestamp_millis()],
        |row| row.get(0),
    )?;
    let requeued = tx.execute(
        "UPDATE jobs SET state = 'pending', attempts = 0, next_attempt_at = ?2, updated_at = ?2
         WHERE kind = ?1 AND state = 'parked'",
        params![JobKind::Recording.as_str(), queue_time(now)],
    )?;
    tx.commit()?;
    Ok(FailedRecordings {
        requeued: requeued as u64,
        expired: expired.max(0) as u64,
    })
}

/// What `recordings backfill` queued.
pub struct Backfill {
    pub queued: u64,
    /// Of them, links whose `Expires` has passed (they fail at once).
    pub expired: u64,
}

/// Calls read per transaction: the service's writer waits no longer.
const BACKFILL_CHUNK: i64 = 2_000;

/// Queues, for `target`, the recordings of the calls stored before
/// archiving began (each call's latest `record_url` and its IVR
/// recordings); those queued already are left alone. In chunks, on a
/// connection of its own, beside a running service or not.
pub fn queue_stored_in(
    path: &Path,
    wal_autocheckpoint: u32,
    target: &str,
) -> Result<Backfill, StoreError> {
    let mut conn = open_writer(path, wal_autocheckpoint)?;
    let mut backfill = Backfill {
        queued: 0,
        expired: 0,
    };
    let sources = [
        "SELECT conversation_id, '' AS position, record_url FROM calls
         WHERE conversation_id > ?1 AND record_url IS NOT NULL
         ORDER BY conversation_id LIMIT ?2",
        "SELECT conversation_id, position, url FROM ivr_recordings
         WHERE conversation_id > ?1 AND url IS NOT NULL
         ORDER BY conversation_id, position LIMIT ?2",
    ];
    for (is_ivr, sql) in sources.into_iter().enumerate() {
        let mut after = i64::MIN;
        loop {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let rows: Vec<(i64, rusqlite::types::Value, String)> = tx
                .prepare(sql)?
                .query_map(params![after, BACKFILL_CHUNK], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })?
                .collect::<Result<_, _>>()?;
            // Whole calls in each chunk: the last one read may go on.
            let last = rows.last().map(|row| row.0);
            let rows: Vec<_> = match (last, rows.len() as i64 == BACKFILL_CHUNK) {
                (Some(last), true) if rows.iter().any(|row| row.0 != last) => {
                    rows.into_iter().filter(|row| row.0 != last).collect()
                }
                _ => rows,
            };
            let Some(&(through, _, _)) = rows.last() else {
                break;
            };
            for (conversation_id, position, url) in &rows {
                let Some(url) = usable(Some(url)) else {
                    continue;
                };
                let key = match (is_ivr, position) {
                    (1, rusqlite::types::Value::Integer(position)) => {
                        ivr_key_at(&tx, *conversation_id, *position)?
                    }
                    _ => String::new(),
                };
                if let Some(expired) = queue_one(&tx, *conversation_id, &key, &url, target)? {
                    backfill.queued += 1;
                    backfill.expired += u64::from(expired);
                }
            }
            tx.commit()?;
            after = through;
        }
    }
    Ok(backfill)
}

/// The key of the IVR recording at `position` of a call: its id, or its
/// place when it has none.
fn ivr_key_at(tx: &rusqlite::Connection, call: i64, position: i64) -> Result<String, StoreError> {
    let id: Option<i64> = tx.query_row(
        "SELECT recording_id FROM ivr_recordings WHERE conversation_id = ?1 AND position = ?2",
        params![call, position],
        |row| row.get(0),
    )?;
    let id = id.map(UdeskId);
    Ok(ivr_recording_key(id, position.max(0) as usize))
}

/// Queues one recording and its job unless it is known already; whether
/// its link has expired, when queued.
fn queue_one(
    tx: &rusqlite::Connection,
    call: i64,
    ivr_key: &str,
    url: &str,
    target: &str,
) -> Result<Option<bool>, StoreError> {
    let now = Utc::now();
    let queued = queue_recording(tx, call, ivr_key, url, target, None, now)?;
    Ok(queued.map(|_| source_expiry(url).is_some_and(|at| at <= now)))
}
