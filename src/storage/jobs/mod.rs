//! The job queue: durable background work on the stored pushes, in the
//! `jobs` table (migration 04).
//!
//! The writer enqueues a push's jobs in the transaction that stores the push
//! ([`PushJob`]), so a `200` means they exist. A worker of each kind claims
//! due jobs ([`claim_due`]): a job waits while an earlier job of its kind,
//! target and ordering key is pending, so one call's pushes go out one at a
//! time in arrival order, while different calls go in parallel. The worker
//! reports each try ([`JobUpdate`]): done, due again at a later time, or
//! parked, which no longer holds back the jobs after it. An operator
//! re-queues parked jobs ([`requeue_parked`]).
//!
//! A claim writes nothing: one service owns a database's queue, its worker
//! remembers which jobs it has in hand and passes them as `exclude`, and a
//! job it was still trying when the process died is simply due again (work
//! is done at least once, never lost). [`summary`] counts what a target has.

mod store;
pub mod summary;

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha256};

use super::StoreError;
use super::bodies::{Bodies, chains};
use super::connection::open_writer;
use super::recordings::{ArchivedRecording, RecordingSource, mark_archived};

pub use store::ClaimedJob;
pub use summary::JobTargetSummary;

/// What a job does; the runner of its kind runs it. Each kind also says
/// which stored pushes make its jobs (see `writer::batch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Send a stored push on to a URL (`serve --forward-to`): one job for
    /// every stored push.
    Forward,
    /// Archive a recording (`serve --recordings-to`): one job for each
    /// recording link a stored push brings that its call did not have.
    Recording,
}

impl JobKind {
    pub const ALL: [JobKind; 2] = [JobKind::Forward, JobKind::Recording];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Forward => "forward",
            JobKind::Recording => "recording",
        }
    }
}

/// What a claimed job is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobSubject {
    /// A `forward` job's push, as stored.
    Push(StoredBody),
    /// A `recording` job's recording.
    Recording(RecordingSource),
    /// Erased since the job was queued (a purge): nothing to do.
    Gone,
}

/// The jobs a target gets from each stored push (not a duplicate, not a
/// rejected body), as its kind says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushJob {
    pub kind: JobKind,
    pub target: String,
}

/// A pending job, as claimed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub event_id: Option<i64>,
    pub ordering_key: Option<i64>,
    /// What the job is about within its push (a `recording` job's recording).
    pub subject: Option<i64>,
    /// Tries before this one.
    pub attempts: u32,
}

/// How one try of a job ended.
#[derive(Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// Done.
    Delivered,
    /// Failed; due again at `at`. Later jobs of its key keep waiting.
    RetryAt { at: DateTime<Utc>, error: String },
    /// Given up on until re-queued; later jobs of its key go ahead.
    Park { error: String },
    /// Done: a recording's copy is in the archive.
    Archived(ArchivedRecording),
}

impl fmt::Debug for JobOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobOutcome::Delivered => f.write_str("Delivered"),
            JobOutcome::RetryAt { at, error } => write!(f, "RetryAt({at}, {error:?})"),
            JobOutcome::Park { error } => write!(f, "Park({error:?})"),
            JobOutcome::Archived(archived) => write!(f, "Archived({archived:?})"),
        }
    }
}

/// The outcome of a try of job `id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobUpdate {
    pub id: i64,
    pub outcome: JobOutcome,
}

/// A time as the `jobs` table keeps it: UTC, milliseconds, `Z`; fixed width,
/// so text order is time order.
pub fn queue_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Adds a job, due at once.
pub fn enqueue(
    tx: &Connection,
    kind: JobKind,
    target: &str,
    event_id: Option<i64>,
    ordering_key: Option<i64>,
    subject: Option<i64>,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let now = queue_time(now);
    tx.prepare_cached(
        "INSERT INTO jobs (kind, target, event_id, ordering_key, subject, next_attempt_at,
             created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6)",
    )?
    .execute(params![
        kind.as_str(),
        target,
        event_id,
        ordering_key,
        subject,
        now
    ])?;
    Ok(tx.last_insert_rowid())
}

/// The claim: due pending jobs of a kind (?1) and target (?2) at a time
/// (?3), not in a JSON array of ids (?4), that no earlier pending job of
/// their key holds back, oldest first, at most ?5.
pub const CLAIM_SQL: &str = "SELECT id, event_id, ordering_key, attempts, subject FROM jobs AS job
     WHERE kind = ?1 AND target = ?2 AND state = 'pending' AND next_attempt_at <= ?3
       AND id NOT IN (SELECT value FROM json_each(?4))
       AND NOT EXISTS (
           SELECT 1 FROM jobs AS earlier
           WHERE earlier.kind = job.kind AND earlier.target = job.target
             AND earlier.ordering_key = job.ordering_key
             AND earlier.state = 'pending' AND earlier.id < job.id)
     ORDER BY id LIMIT ?5";

/// Up to `limit` pending jobs of `kind` for `target` that are due at `now`,
/// oldest first, leaving out those in `exclude` (in hand already) and those
/// an earlier pending job of the same ordering key holds back.
pub fn claim_due(
    conn: &Connection,
    kind: JobKind,
    target: &str,
    now: DateTime<Utc>,
    limit: usize,
    exclude: &[i64],
) -> Result<Vec<Job>, StoreError> {
    let exclude =
        serde_json::to_string(exclude).map_err(|e| StoreError::Internal(e.to_string()))?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut select = conn.prepare_cached(CLAIM_SQL)?;
    let jobs = select.query_map(
        params![kind.as_str(), target, queue_time(now), exclude, limit],
        |row| {
            Ok(Job {
                id: row.get(0)?,
                event_id: row.get(1)?,
                ordering_key: row.get(2)?,
                attempts: row.get(3)?,
                subject: row.get(4)?,
            })
        },
    )?;
    Ok(jobs.collect::<Result<_, _>>()?)
}

/// Marks job `id` done. A job that is gone (its push was purged meanwhile)
/// or no longer pending is left alone.
pub fn complete(tx: &Connection, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE jobs SET state = 'delivered', attempts = attempts + 1, updated_at = ?2
         WHERE id = ?1 AND state = 'pending'",
    )?
    .execute(params![id, queue_time(now)])?;
    Ok(())
}

/// Records a failed try of job `id`; it is due again at `at`.
pub fn retry_later(
    tx: &Connection,
    id: i64,
    at: DateTime<Utc>,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE jobs SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3,
             updated_at = ?4
         WHERE id = ?1 AND state = 'pending'",
    )?
    .execute(params![id, queue_time(at), error, queue_time(now)])?;
    Ok(())
}

/// Records a failed try of job `id` and parks it.
pub fn park(tx: &Connection, id: i64, error: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE jobs SET state = 'parked', attempts = attempts + 1, last_error = ?2,
             updated_at = ?3
         WHERE id = ?1 AND state = 'pending'",
    )?
    .execute(params![id, error, queue_time(now)])?;
    Ok(())
}

/// Records the outcomes of several tries.
pub fn record(
    tx: &Connection,
    updates: &[JobUpdate],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for update in updates {
        match &update.outcome {
            JobOutcome::Delivered => complete(tx, update.id, now)?,
            JobOutcome::RetryAt { at, error } => retry_later(tx, update.id, *at, error, now)?,
            JobOutcome::Park { error } => park(tx, update.id, error, now)?,
            JobOutcome::Archived(archived) => {
                complete(tx, update.id, now)?;
                mark_archived(tx, archived, now)?;
            }
        }
    }
    Ok(())
}

/// Makes the parked jobs of `kind` (of the targets `matches` accepts) pending
/// and due at once, with their tries counted afresh; returns how many each
/// target got back, by target.
pub fn requeue_parked(
    tx: &Connection,
    kind: JobKind,
    matches: impl Fn(&str) -> bool,
    now: DateTime<Utc>,
) -> Result<Vec<(String, u64)>, StoreError> {
    let targets: Vec<String> = tx
        .prepare_cached(
            "SELECT DISTINCT target FROM jobs WHERE kind = ?1 AND state = 'parked' ORDER BY target",
        )?
        .query_map([kind.as_str()], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let mut requeued = Vec::new();
    for target in targets.into_iter().filter(|target| matches(target)) {
        let count = tx
            .prepare_cached(
                "UPDATE jobs SET state = 'pending', attempts = 0, next_attempt_at = ?3,
                     updated_at = ?3
                 WHERE kind = ?1 AND target = ?2 AND state = 'parked'",
            )?
            .execute(params![kind.as_str(), target, queue_time(now)])?;
        requeued.push((target, count as u64));
    }
    Ok(requeued)
}

/// `udesk-calls forward retry`: re-queues parked jobs in the database at
/// `path` on a connection of its own, beside a running service or not (its
/// worker finds them at its next look, within a second or two).
pub fn requeue_parked_in(
    path: &std::path::Path,
    wal_autocheckpoint: u32,
    kind: JobKind,
    matches: impl Fn(&str) -> bool,
) -> Result<Vec<(String, u64)>, StoreError> {
    let mut conn = open_writer(path, wal_autocheckpoint)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let requeued = requeue_parked(&tx, kind, matches, Utc::now())?;
    tx.commit()?;
    Ok(requeued)
}

/// The body of a stored push as a job sends it on.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredBody {
    pub event_id: i64,
    /// Exactly as stored (after any transfer compression was undone).
    pub body: Vec<u8>,
    /// The Content-Type it arrived with, if any.
    pub content_type: Option<String>,
    /// SHA-256 of the body: the push's identity, the same in every database.
    pub sha256: [u8; 32],
}

impl fmt::Debug for StoredBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A body holds personal data: its size only.
        f.debug_struct("StoredBody")
            .field("event_id", &self.event_id)
            .field("bytes", &self.body.len())
            .field("content_type", &self.content_type)
            .finish()
    }
}

/// The body of event `event_id` as received, or `None` once it was purged.
pub fn stored_body(
    conn: &Connection,
    bodies: &Bodies,
    event_id: i64,
) -> Result<Option<StoredBody>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT content_type, body_dictionary, body_base, body FROM events WHERE id = ?1",
        )?
        .query_row([event_id], |row| {
            let kept = chains::StoredBody::read(event_id, row, 1)?;
            Ok((kept, row.get::<_, Option<String>>(0)?))
        })
        .optional()?;
    let Some((kept, content_type)) = row else {
        return Ok(None);
    };
    let body = chains::BodyReader::new(bodies, conn, 1).read(kept)?;
    Ok(Some(StoredBody {
        event_id,
        // The row keeps only the hash's start: the id forwarding derives
        // from it is the whole hash's, the same for every version.
        sha256: Sha256::digest(&body).into(),
        body,
        content_type,
    }))
}

#[cfg(test)]
mod tests;
