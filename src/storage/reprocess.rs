//! `reprocess`: rebuilds every projection from the stored events.
//!
//! After a parsing fix or an upgrade, the events (kept byte for byte) are the
//! truth: each is parsed again, its normalized columns and warnings are
//! rewritten, and every call is merged again by the same code as the live
//! path. One transaction: readers see the old projections until it commits.
//! It tells its progress through both stages (parsing events, merging calls).

use rusqlite::{Connection, TransactionBehavior, params};

use super::bodies::Bodies;
use super::bodies::chains::BodyReader;
use super::bodies::reversed_numbers;
use super::connection::open_writer;
use super::events::{EVENT_COLUMNS, StoredEvent, insert_numbers, insert_warnings};
use super::progress::Progress;
use super::projection::{clear_projections, reproject_call};
use super::rollups::{self, RollupChanges};
use super::sql::BodyValue;
use super::{StoreError, StoreOptions};
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
/// Bodies kept decoded while reading in arrival order: a push's base is an
/// earlier push of its call, most often among the last thousand or two.
const BODIES_KEPT: usize = 2048;

/// Rebuilds every projection of the database of `options`, telling
/// `progress` after each chunk of events and each hundred calls.
pub fn reprocess(
    options: &StoreOptions,
    mut progress: impl FnMut(Progress),
) -> Result<ReprocessReport, StoreError> {
    let offset = options.default_offset;
    let mut connection = open_writer(&options.path, options.wal_autocheckpoint)?;
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let bodies = Bodies::load(&tx)?;
    let mut report = ReprocessReport::default();
    let total_events = tx.query_row("SELECT count(*) FROM events", [], |row| {
        row.get::<_, i64>(0)
    })?;
    tx.execute("DELETE FROM parse_warnings", params![])?;
    // Found again in every push as it is read: a push read as another
    // call's now takes its numbers along.
    tx.execute("DELETE FROM call_numbers", params![])?;
    let mut after = 0_i64;
    let mut reader = BodyReader::new(&bodies, &tx, BODIES_KEPT);
    // Events read again as another call's than their row said.
    let mut moved: Vec<(ConversationId, i64)> = Vec::new();
    // The numbers kept in the chunk being read: a call's pushes repeat them.
    let mut numbers_kept: std::collections::HashSet<(i64, String)> = Default::default();
    loop {
        let rows: Vec<StoredEvent> = tx
            .prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE id > ?1 ORDER BY id LIMIT ?2"
            ))?
            .query_map(params![after, CHUNK], StoredEvent::read)?
            .collect::<Result<_, _>>()?;
        let rows = rows
            .into_iter()
            .map(|row| row.restore(&mut reader))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(last) = rows.last() else { break };
        numbers_kept.clear();
        after = last.event_id;
        for row in &rows {
            let stored = row.to_stored_push(offset)?;
            let push = &stored.push;
            if push.conversation_id != row.conversation_id {
                moved.push((row.conversation_id, row.event_id));
            }
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
            let numbers: Vec<String> = reversed_numbers(&row.body)
                .into_iter()
                .filter(|number| numbers_kept.insert((push.conversation_id.0, number.clone())))
                .collect();
            insert_numbers(&tx, push.conversation_id.0, &numbers)?;
            report.events += 1;
            report.warnings += push.warnings.len() as u64;
        }
        progress(Progress {
            stage: "parsing events",
            done: report.events,
            total: total_events as u64,
        });
    }
    drop(reader);
    for (old_call, event_id) in moved {
        keep_apart(&tx, &bodies, old_call, event_id)?;
    }
    progress(Progress {
        stage: "clearing the calls",
        done: 0,
        total: 0,
    });
    clear_projections(&tx)?;
    let calls: Vec<ConversationId> = tx
        .prepare("SELECT DISTINCT conversation_id FROM events ORDER BY conversation_id")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let total_calls = calls.len() as u64;
    // Every call is new here: counting the rollups once at the end is
    // cheaper than moving each call into its cells.
    let mut ignored = RollupChanges::new(offset.local_minus_utc());
    for conversation_id in calls {
        reproject_call(&tx, &bodies, conversation_id, offset, &mut ignored)?;
        ignored.discard();
        report.calls += 1;
        if report.calls % 100 == 0 || report.calls == total_calls {
            progress(Progress {
                stage: "merging calls",
                done: report.calls,
                total: total_calls,
            });
        }
    }
    progress(Progress {
        stage: "counting the statistics",
        done: 0,
        total: 0,
    });
    rollups::rebuild::rebuild(&tx, offset.local_minus_utc())?;
    tx.commit()?;
    Ok(report)
}

/// A delta is only ever read with its call (a purge erases a call whole):
/// event `event_id`, now another call's than `old_call`, and every push of
/// `old_call` that was a delta of it are kept on their own instead.
fn keep_apart(
    tx: &Connection,
    bodies: &Bodies,
    old_call: ConversationId,
    event_id: i64,
) -> Result<(), StoreError> {
    let dependents: Vec<i64> = tx
        .prepare("SELECT id FROM events WHERE conversation_id = ?1 AND body_base = ?2")?
        .query_map(params![old_call, event_id], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    // Decoded before any is rewritten, while every base is as it was.
    let mut reader = BodyReader::new(bodies, tx, 1);
    let mut decoded = Vec::new();
    for id in std::iter::once(event_id).chain(dependents) {
        decoded.push((id, reader.read_event(id)?));
    }
    for (id, body) in decoded {
        let encoded = bodies.encode(&body);
        tx.execute(
            "UPDATE events SET body = ?2, body_dictionary = ?3, body_base = NULL WHERE id = ?1",
            params![
                id,
                BodyValue(encoded.as_ref().map_or(&body, |encoded| &encoded.bytes)),
                encoded.as_ref().map(|encoded| encoded.dictionary),
            ],
        )?;
    }
    Ok(())
}
