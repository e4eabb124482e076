//! The `recordings` table (migration 09): each recording link a stored push
//! brought, queued for archiving in the push's own transaction, and its
//! copy once archived. Whether a recording is pending or failed is its
//! job's state (`jobs.subject`); [`RecordingState`] joins the two.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::jobs::{JobKind, enqueue};
use crate::domain::push::Push;
use crate::domain::recording::{recording_links, source_expiry};

/// What a `recording` job fetches.
#[derive(Clone, PartialEq, Eq)]
pub struct RecordingSource {
    pub id: i64,
    pub conversation_id: i64,
    /// Signed: never logged (see the `Debug` below).
    pub url: String,
    pub expires_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for RecordingSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingSource")
            .field("id", &self.id)
            .field("conversation_id", &self.conversation_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A recording's copy, as archived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchivedRecording {
    pub id: i64,
    pub bytes: u64,
    /// Lowercase hex.
    pub sha256: String,
    pub content_type: String,
    /// Its name in the archive.
    pub key: String,
}

/// A recording as GraphQL and `GET /recordings` see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingState {
    pub conversation_id: i64,
    pub ivr_recording_id: String,
    pub source_url: String,
    pub source_expires_at: Option<DateTime<Utc>>,
    pub archived: Option<ArchivedRecording>,
    /// Why its latest try failed (still tried, or given up on: `failed`).
    pub error: Option<String>,
    /// Given up on (its job parked).
    pub failed: bool,
}

/// Queues `push`'s recording links that its call did not have yet, each
/// with a job for `target`; true when it queued any.
pub fn queue_links(
    tx: &Connection,
    push: &Push,
    event_id: i64,
    target: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut queued = false;
    let conversation_id = push.conversation_id.0;
    for link in recording_links(push) {
        if queue_recording(
            tx,
            conversation_id,
            &link.ivr_recording_id,
            &link.url,
            target,
            Some(event_id),
            now,
        )?
        .is_some()
        {
            queued = true;
        }
    }
    Ok(queued)
}

/// Adds recording `url` of call `conversation_id` (`ivr_key` `""` for the
/// call's own) with its job for `target`, unless the call has it already;
/// returns the new recording's id.
pub fn queue_recording(
    tx: &Connection,
    conversation_id: i64,
    ivr_key: &str,
    url: &str,
    target: &str,
    event_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    let expires = source_expiry(url).map(|time| time.timestamp_millis());
    // `changes` and the last rowid, not `RETURNING`: this runs in every
    // ingest transaction, and `RETURNING` buffers its rows.
    let inserted = tx
        .prepare_cached(
            "INSERT INTO recordings (conversation_id, ivr_recording_id, source_url,
                 source_expires_at_ms)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        )?
        .execute(params![conversation_id, ivr_key, url, expires])?;
    if inserted == 0 {
        return Ok(None);
    }
    let id = tx.last_insert_rowid();
    enqueue(
        tx,
        JobKind::Recording,
        target,
        event_id,
        None,
        Some(id),
        now,
    )?;
    Ok(Some(id))
}

/// The recording a `recording` job fetches, or `None` once erased.
pub fn recording_source(conn: &Connection, id: i64) -> Result<Option<RecordingSource>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT conversation_id, source_url, source_expires_at_ms FROM recordings WHERE id = ?1",
        )?
        .query_row([id], |row| {
            Ok(RecordingSource {
                id,
                conversation_id: row.get(0)?,
                url: row.get(1)?,
                expires_at: row
                    .get::<_, Option<i64>>(2)?
                    .and_then(DateTime::from_timestamp_millis),
            })
        })
        .optional()?)
}

/// Records recording `archived.id`'s copy.
pub fn mark_archived(
    tx: &Connection,
    archived: &ArchivedRecording,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE recordings SET bytes = ?2, sha256 = ?3, content_type = ?4, archive_key = ?5,
             archived_at_ms = ?6
         WHERE id = ?1",
    )?
    .execute(params![
        archived.id,
        i64::try_from(archived.bytes).unwrap_or(i64::MAX),
        archived.sha256,
        archived.content_type,
        archived.key,
        now.timestamp_millis()
    ])?;
    Ok(())
}

const STATE_SQL: &str = "SELECT r.id, r.conversation_id, r.ivr_recording_id, r.source_url,
        r.source_expires_at_ms, r.bytes, r.sha256, r.content_type, r.archive_key,
        j.state, j.last_error
     FROM recordings AS r
     LEFT JOIN jobs AS j ON j.kind = 'recording' AND j.subject = r.id";

fn state_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RecordingState> {
    let id: i64 = row.get(0)?;
    let sha256: Option<String> = row.get(6)?;
    let archived = match sha256 {
        Some(sha256) => Some(ArchivedRecording {
            id,
            bytes: row.get::<_, i64>(5)?.max(0) as u64,
            sha256,
            content_type: row.get(7)?,
            key: row.get(8)?,
        }),
        None => None,
    };
    let job_state: Option<String> = row.get(9)?;
    Ok(RecordingState {
        conversation_id: row.get(1)?,
        ivr_recording_id: row.get(2)?,
        source_url: row.get(3)?,
        source_expires_at: row
            .get::<_, Option<i64>>(4)?
            .and_then(DateTime::from_timestamp_millis),
        failed: archived.is_none() && job_state.as_deref() == Some("parked"),
        error: if archived.is_some() {
            None
        } else {
            row.get(10)?
        },
        archived,
    })
}

/// The recordings of the calls `conversation_ids`, by call.
pub fn recordings_of(
    conn: &Connection,
    conversation_ids: &[i64],
) -> Result<HashMap<i64, Vec<RecordingState>>, StoreError> {
    let mut by_call: HashMap<i64, Vec<RecordingState>> = HashMap::new();
    let mut select = conn.prepare_cached(&format!(
        "{STATE_SQL} WHERE r.conversation_id IN (SELECT value FROM json_each(?1)) ORDER BY r.id"
    ))?;
    let ids = serde_json::to_string(conversation_ids)
        .map_err(|error| StoreError::Internal(error.to_string()))?;
    for state in select.query_map([ids], state_row)? {
        let state = state?;
        by_call
            .entry(state.conversation_id)
            .or_default()
            .push(state);
    }
    Ok(by_call)
}

/// The archive's totals: recordings pending, archived and failed, and the
/// bytes archived.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArchiveTotals {
    pub pending: u64,
    pub archived: u64,
    pub failed: u64,
    pub bytes: u64,
}

pub fn archive_totals(conn: &Connection) -> Result<ArchiveTotals, StoreError> {
    Ok(conn.query_row(
        "SELECT
             count(*) FILTER (WHERE r.sha256 IS NULL AND j.state = 'pending'),
             count(*) FILTER (WHERE r.sha256 IS NOT NULL),
             count(*) FILTER (WHERE r.sha256 IS NULL AND j.state = 'parked'),
             coalesce(sum(r.bytes), 0)
         FROM recordings AS r
         LEFT JOIN jobs AS j ON j.kind = 'recording' AND j.subject = r.id",
        [],
        |row| {
            let count = |i: usize| row.get::<_, i64>(i).map(|n| n.max(0) as u64);
            Ok(ArchiveTotals {
                pending: count(0)?,
                archived: count(1)?,
                failed: count(2)?,
                bytes: count(3)?,
            })
        },
    )?)
}

impl super::Store {
    /// The recordings of the calls `conversation_ids`, by call.
    pub async fn recordings_of(
        &self,
        conversation_ids: Vec<i64>,
    ) -> Result<HashMap<i64, Vec<RecordingState>>, StoreError> {
        self.read(move |conn| recordings_of(conn, &conversation_ids))
            .await
    }

    /// The archive's totals.
    pub async fn archive_totals(&self) -> Result<ArchiveTotals, StoreError> {
        self.read(archive_totals).await
    }

    /// The archived copy of call `conversation_id`'s recording (`ivr_id`
    /// empty) or of one of its IVR recordings: the latest archived.
    /// Gives every recording job queued for another target to `target`;
    /// returns how many.
    pub async fn adopt_recording_jobs(&self, target: String) -> Result<u64, StoreError> {
        let path = self.path().to_owned();
        tokio::task::spawn_blocking(move || {
            let conn = super::connection::open_writer(&path, 0)?;
            Ok(conn.execute(
                "UPDATE jobs SET target = ?1 WHERE kind = 'recording' AND target <> ?1",
                [target],
            )? as u64)
        })
        .await
        .map_err(|error| StoreError::Internal(error.to_string()))?
    }

    /// Whether recording `id` is still kept (not erased while it was being
    /// downloaded), and whether any recording names the copy `key`.
    pub async fn recording_kept(&self, id: i64, key: String) -> Result<(bool, bool), StoreError> {
        self.read(move |conn| {
            Ok(conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM recordings WHERE id = ?1),
                        EXISTS (SELECT 1 FROM recordings WHERE archive_key = ?2)",
                rusqlite::params![id, key],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?)
        })
        .await
    }

    pub async fn archived_copy(
        &self,
        conversation_id: i64,
        ivr_id: String,
    ) -> Result<Option<ArchivedRecording>, StoreError> {
        self.read(move |conn| {
            // The call's own recording is the one its row shows (a late push
            // may have brought an older link); otherwise the latest kept.
            let current: Option<String> = if ivr_id.is_empty() {
                conn.query_row(
                    "SELECT trim(record_url) FROM calls WHERE conversation_id = ?1",
                    [conversation_id],
                    |row| row.get(0),
                )
                .optional()?
                .flatten()
            } else {
                None
            };
            let kept: Vec<RecordingState> = recordings_of(conn, &[conversation_id])?
                .remove(&conversation_id)
                .unwrap_or_default()
                .into_iter()
                .filter(|state| state.ivr_recording_id == ivr_id && state.archived.is_some())
                .collect();
            let shown = kept
                .iter()
                .find(|state| Some(&state.source_url) == current.as_ref())
                .or_else(|| {
                    kept.iter()
                        .max_by_key(|state| state.archived.as_ref().map(|copy| copy.id))
                });
            Ok(shown.and_then(|state| state.archived.clone()))
        })
        .await
    }
}
