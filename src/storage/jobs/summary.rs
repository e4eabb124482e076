//! What the queue holds for each target: counts by state, the latest
//! success and the latest error, for GraphQL and the metrics.

use chrono::{DateTime, FixedOffset};
use rusqlite::{Connection, params};

use super::JobKind;
use crate::storage::StoreError;
use crate::storage::sql::read_time;

/// The jobs of one kind for one target.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobTargetSummary {
    /// The target as configured (for forwarding, the whole URL).
    pub target: String,
    pub pending: i64,
    pub parked: i64,
    pub delivered: i64,
    /// The error of the latest failed try of a job still pending or parked;
    /// `None` when every job was delivered.
    pub last_error: Option<String>,
    /// When a job was last delivered.
    pub last_success_at: Option<DateTime<FixedOffset>>,
}

/// The summary of `target`'s jobs of `kind` (zeros for a target with none).
pub fn summary(
    conn: &Connection,
    kind: JobKind,
    target: &str,
) -> Result<JobTargetSummary, StoreError> {
    let mut summary = JobTargetSummary {
        target: target.to_owned(),
        ..JobTargetSummary::default()
    };
    let mut counts = conn.prepare_cached(
        "SELECT state, count(*) FROM jobs WHERE kind = ?1 AND target = ?2 GROUP BY state",
    )?;
    let mut rows = counts.query(params![kind.as_str(), target])?;
    while let Some(row) = rows.next()? {
        let count: i64 = row.get(1)?;
        let state: String = row.get(0)?;
        match state.as_str() {
            "pending" => summary.pending = count,
            "parked" => summary.parked = count,
            "delivered" => summary.delivered = count,
            _ => {}
        }
    }
    summary.last_success_at = conn
        .prepare_cached(
            "SELECT max(updated_at) FROM jobs
             WHERE kind = ?1 AND target = ?2 AND state = 'delivered'",
        )?
        .query_row(params![kind.as_str(), target], |row| read_time(row, 0))?;
    summary.last_error = conn
        .prepare_cached(
            "SELECT last_error FROM jobs
             WHERE kind = ?1 AND target = ?2 AND state IN ('pending', 'parked')
               AND last_error IS NOT NULL
             ORDER BY updated_at DESC LIMIT 1",
        )?
        .query_row(params![kind.as_str(), target], |row| row.get(0))
        .or_else(|error| match error {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            other => Err(other),
        })?;
    Ok(summary)
}

/// The summaries of `configured` targets, in their order, then of every
/// other target that still has jobs of `kind` (one dropped from the
/// configuration with work left).
pub fn summaries(
    conn: &Connection,
    kind: JobKind,
    configured: &[String],
) -> Result<Vec<JobTargetSummary>, StoreError> {
    let mut targets = configured.to_vec();
    let known = targets_with_jobs(conn, kind)?;
    targets.extend(known.into_iter().filter(|t| !configured.contains(t)));
    targets
        .iter()
        .map(|target| summary(conn, kind, target))
        .collect()
}

/// The targets that have jobs of `kind`, one index seek each (a `SELECT
/// DISTINCT` would read every job ever done).
pub fn targets_with_jobs(conn: &Connection, kind: JobKind) -> Result<Vec<String>, StoreError> {
    let mut next =
        conn.prepare_cached("SELECT min(target) FROM jobs WHERE kind = ?1 AND target > ?2")?;
    let mut targets: Vec<String> = Vec::new();
    loop {
        let after = targets.last().map_or("", String::as_str);
        let found: Option<String> =
            next.query_row(params![kind.as_str(), after], |row| row.get(0))?;
        match found {
            Some(target) => targets.push(target),
            None => return Ok(targets),
        }
    }
}

/// Pending jobs of `kind` for each of `targets`, for the metrics' gauge: an
/// index range of the pending ones only, however many were delivered.
pub fn pending_counts(
    conn: &Connection,
    kind: JobKind,
    targets: &[String],
) -> Result<Vec<(String, i64)>, StoreError> {
    let mut count = conn.prepare_cached(
        "SELECT count(*) FROM jobs WHERE kind = ?1 AND target = ?2 AND state = 'pending'",
    )?;
    targets
        .iter()
        .map(|target| {
            let pending = count.query_row(params![kind.as_str(), target], |row| row.get(0))?;
            Ok((target.clone(), pending))
        })
        .collect()
}
