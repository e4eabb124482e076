//! `reprocess`: rebuilds every projection from the stored events.
//!
//! After a parsing fix or an upgrade, the events (kept byte for byte) are the
//! truth: each is parsed again, its normalized columns and warnings are
//! rewritten, and every call is merged again by the same code as the live
//! path. One transaction: readers see the old projections until it commits.

use std::path::Path;

use chrono::FixedOffset;
use rusqlite::{TransactionBehavior, params};

use super::StoreError;
use super::connection::open_writer;
use super::events::{CallEvent, EVENT_COLUMNS, insert_warnings};
use super::projection::{clear_projections, reproject_call};
use crate::domain::ConversationId;
use crate::wire::time::format_time;

/// What `reprocess` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReprocessReport {
    pub events: u64,
    pub calls: u64,
    pub warnings: u64,
}

/// Events parsed per read, to bound memory on large databases.
const CHUNK: i64 = 2000;

/// Rebuilds every projection of the database at `path`.
pub fn reprocess(path: &Path, offset: FixedOffset) -> Result<ReprocessReport, StoreError> {
    let mut connection = open_writer(path)?;
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut report = ReprocessReport::default();
    tx.execute("DELETE FROM parse_warnings", params![])?;
    let mut after = 0_i64;
    loop {
        let rows: Vec<CallEvent> = tx
            .prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE id > ?1 ORDER BY id LIMIT ?2"
            ))?
            .query_map(params![after, CHUNK], CallEvent::read)?
            .collect::<Result<_, _>>()?;
        let Some(last) = rows.last() else { break };
        after = last.event_id;
        for row in &rows {
            let stored = row.to_stored_push(offset)?;
            let push = &stored.push;
            tx.prepare_cached(
                "UPDATE events SET conversation_id = ?2, occasion = ?3, event_at = ?4,
                     event_at_ms = ?5, warning_count = ?6 WHERE id = ?1",
            )?
            .execute(params![
                row.event_id,
                push.conversation_id,
                push.occasion,
                push.timestamp.as_ref().map(format_time),
                push.timestamp.map(|t| t.timestamp_millis()),
                push.warnings.len() as i64,
            ])?;
            insert_warnings(&tx, row.event_id, push)?;
            report.events += 1;
            report.warnings += push.warnings.len() as u64;
        }
    }
    clear_projections(&tx)?;
    let calls: Vec<ConversationId> = tx
        .prepare("SELECT DISTINCT conversation_id FROM events ORDER BY conversation_id")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    for conversation_id in calls {
        reproject_call(&tx, conversation_id, offset)?;
        report.calls += 1;
    }
    tx.commit()?;
    Ok(report)
}
