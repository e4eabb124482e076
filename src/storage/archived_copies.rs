//! What `udesk-calls recordings verify` and `recordings retry` read and
//! change: the archived copies, each with the recordings that use it, and
//! the recording jobs that failed.

use std::path::Path;

use chrono::Utc;
use rusqlite::{TransactionBehavior, params};

use super::StoreError;
use super::connection::{open_existing_for_a_command, open_writer};
use super::jobs::{JobKind, queue_time};

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
