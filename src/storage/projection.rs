//! Writing a merged call: its `calls` row and the rows of its collections.
//!
//! The projection is a merge of all of the call's events (see
//! `domain::call`): each arriving event is merged into its call as merged
//! so far, and the call written in the same transaction as the event, so
//! the database never shows an event without its effect.

use std::collections::HashMap;

use chrono::FixedOffset;
use rusqlite::{Connection, params};

use crate::domain::{Call, Collections, ConversationId, MergedCall, StoredPush};

use super::bodies::Bodies;
use super::events::each_event_of_call;
use super::recent_calls::{RecentCall, RecentCalls};
use super::rollups::{self, RollupChanges};
use super::{StoreError, call_rows, collection_rows};
use crate::wire::time::format_time;

/// Recomputes one call from all its stored events and writes it whole.
pub fn reproject_call(
    tx: &Connection,
    bodies: &Bodies,
    conversation_id: ConversationId,
    offset: FixedOffset,
    rollups: &mut RollupChanges,
) -> Result<(), StoreError> {
    match merge_stored(tx, bodies, conversation_id, offset)? {
        Some(merged) => write_call(tx, merged.call(), merged.collections(), None, rollups),
        None => Ok(()),
    }
}

/// The calls merged in the transaction being written, written once each at
/// its end: a call whose pushes arrive together (an import, a burst) gets
/// its row, collections and rollups written once, not once per push. The
/// database still never shows an event without its effect, since both are
/// in the same transaction.
#[derive(Default)]
pub struct PendingCalls {
    /// In the order first merged.
    order: Vec<ConversationId>,
    /// What the collection tables held for each at the transaction's start,
    /// when known.
    stored: HashMap<ConversationId, Option<Collections>>,
}

impl PendingCalls {
    /// Forgets everything: the transaction was rolled back.
    pub fn clear(&mut self) {
        self.order.clear();
        self.stored.clear();
    }
}

/// Merges `arrived`, just stored, into its call; what changed is written by
/// [`write_pending`] before the transaction commits.
///
/// The writer remembers recently merged calls, so the common case (one more
/// push of a call it has seen) merges that one push into what it remembers,
/// in time independent of the call's history, and skips collections that
/// did not change. The memory is used only when the newest event stored
/// before `arrived` is the newest it merged, so a push written by another
/// process (an `import` beside `serve`) is never missed; otherwise the
/// call's pushes are read back and merged from the start, as after a
/// restart.
pub fn merge_arrived_push(
    tx: &Connection,
    arrived: StoredPush,
    offset: FixedOffset,
    bodies: &Bodies,
    recent: &mut RecentCalls,
    pending: &mut PendingCalls,
) -> Result<(), StoreError> {
    let conversation_id = arrived.push.conversation_id;
    // Merged before in this transaction, by this writer: what it remembers
    // is the call. Otherwise the calls row says whether another process
    // wrote to the call since (its count and last arrival then differ).
    let in_transaction = pending.stored.contains_key(&conversation_id);
    let row = match in_transaction {
        true => None,
        false => call_rows::stored_progress(tx, conversation_id)?,
    };
    let remembered = recent.take(conversation_id).filter(|call| {
        let merged = call.merged.call();
        in_transaction
            || row.as_ref().is_some_and(|(count, last)| {
                *count == merged.event_count && *last == format_time(&merged.last_received_at)
            })
    });
    let first = remembered.is_none()
        && !in_transaction
        && row.is_none()
        && !earlier_events(tx, conversation_id, arrived.event_id)?;
    let (merged, previous) = match remembered {
        Some(RecentCall { mut merged, .. }) => {
            let previous = merged.collections().clone();
            merged.merge(&arrived);
            (merged, Some(previous))
        }
        // Nothing of the call is stored besides it.
        None if first => (MergedCall::new(&arrived), Some(Collections::default())),
        None => {
            recent.note_merged_again();
            let merged = merge_stored(tx, bodies, conversation_id, offset)?
                .expect("a call with a stored push");
            (merged, None)
        }
    };
    // Merged before in this transaction: the tables still hold what they
    // held at its start, not the collections last merged.
    if !pending.stored.contains_key(&conversation_id) {
        pending.order.push(conversation_id);
        pending.stored.insert(conversation_id, previous);
    }
    recent.put(RecentCall {
        bytes: merged.approximate_bytes(),
        merged,
        last_event_id: arrived.event_id,
    });
    Ok(())
}

/// How many pushes `conversation_id` holds, the one being stored not
/// counted: what the bound on pushes per call is checked against.
pub fn pushes_held(
    tx: &Connection,
    conversation_id: ConversationId,
    recent: &RecentCalls,
    pending: &PendingCalls,
) -> Result<i64, StoreError> {
    if pending.stored.contains_key(&conversation_id) {
        // Merged in this transaction: its row is not written yet.
        if let Some(call) = recent.peek(conversation_id) {
            return Ok(call.merged.call().event_count);
        }
        return Ok(tx
            .prepare_cached("SELECT count(*) FROM events WHERE conversation_id = ?1")?
            .query_row([conversation_id], |row| row.get(0))?);
    }
    Ok(call_rows::stored_progress(tx, conversation_id)?.map_or(0, |(count, _)| count))
}

/// Writes every call merged in this transaction, once.
pub fn write_pending(
    tx: &Connection,
    pending: &mut PendingCalls,
    recent: &RecentCalls,
    bodies: &Bodies,
    offset: FixedOffset,
    rollups: &mut RollupChanges,
) -> Result<(), StoreError> {
    for conversation_id in std::mem::take(&mut pending.order) {
        let stored = pending.stored.remove(&conversation_id).flatten();
        match recent.peek(conversation_id) {
            Some(recent) => write_call(
                tx,
                recent.merged.call(),
                recent.merged.collections(),
                stored.as_ref(),
                rollups,
            )?,
            // Forgotten since (more merged values than the memory): merged again.
            None => {
                recent.note_merged_again();
                reproject_call(tx, bodies, conversation_id, offset, rollups)?
            }
        }
    }
    pending.stored.clear();
    Ok(())
}

/// Whether `conversation_id` has events stored before `event_id`: one
/// step into the call's index, however many it has.
fn earlier_events(
    tx: &Connection,
    conversation_id: ConversationId,
    event_id: i64,
) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM events WHERE conversation_id = ?1 AND id < ?2)",
        )?
        .query_row(params![conversation_id, event_id], |row| row.get(0))?)
}

/// A call merged from its stored pushes, read back one at a time; `None`
/// when it has none.
fn merge_stored(
    tx: &Connection,
    bodies: &Bodies,
    conversation_id: ConversationId,
    offset: FixedOffset,
) -> Result<Option<MergedCall>, StoreError> {
    let mut merged: Option<MergedCall> = None;
    each_event_of_call(tx, bodies, conversation_id, |event| {
        let push = event.to_stored_push(offset)?;
        match &mut merged {
            Some(merged) => merged.merge(&push),
            None => merged = Some(MergedCall::new(&push)),
        }
        Ok(())
    })?;
    Ok(merged)
}

/// Writes a call's row and its collections, and moves its place in the
/// rollups. `stored` is what the collection tables hold for the call when
/// known; unchanged collections are skipped.
pub fn write_call(
    tx: &Connection,
    call: &Call,
    collections: &Collections,
    stored: Option<&Collections>,
    rollups: &mut RollupChanges,
) -> Result<(), StoreError> {
    let id = call.conversation_id;
    let values = call_rows::values(call);
    match call_rows::stored_values(tx, id)? {
        None => {
            tx.prepare_cached(&call_rows::UPSERT)?
                .execute(rusqlite::params_from_iter(&values))?;
            rollups.record(None, rollups.contribution(tx, id)?);
        }
        Some(stored) => {
            let changed = call_rows::changed_columns(&stored, &values);
            // Most pushes of a known call change its occasion and times,
            // not what the statistics count: the rollups are read only
            // when they can move.
            let moves = changed.iter().any(|c| rollups::COLUMNS_READ.contains(c));
            let before = if moves {
                rollups.contribution(tx, id)?
            } else {
                None
            };
            if !changed.is_empty() {
                call_rows::update_changed(tx, &changed, &values)?;
            }
            if moves {
                rollups.record(before, rollups.contribution(tx, id)?);
            }
        }
    }
    collection_rows::write(tx, id, collections, stored)
}

/// Drops every projection, so `reprocess` can rebuild them from the events.
pub fn clear_projections(tx: &Connection) -> Result<(), StoreError> {
    collection_rows::clear_all(tx)?;
    tx.execute("DELETE FROM calls", [])?;
    // `reprocess` counts the rollups again once every call is back.
    Ok(())
}
