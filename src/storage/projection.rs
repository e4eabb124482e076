//! Writing a merged call: its `calls` row and the rows of its collections.
//!
//! The projection is a merge of all of the call's events (see
//! `domain::call`), redone whenever one arrives and written in the same
//! transaction as the event, so the database never shows an event without
//! its effect.

use std::collections::HashMap;

use chrono::FixedOffset;
use rusqlite::Connection;

use crate::domain::{Call, Collections, ConversationId, StoredPush, project};

use super::bodies::Bodies;
use super::events::events_of_call;
use super::recent_calls::{RecentCall, RecentCalls};
use super::rollups::{self, RollupChanges};
use super::{StoreError, call_rows, collection_rows};

/// Recomputes one call from all its stored events and writes it whole.
pub fn reproject_call(
    tx: &Connection,
    bodies: &Bodies,
    conversation_id: ConversationId,
    offset: FixedOffset,
    rollups: &mut RollupChanges,
) -> Result<(), StoreError> {
    let (pushes, _) = load_pushes(tx, bodies, conversation_id, offset)?;
    match project(&pushes) {
        Some((call, collections)) => write_call(tx, &call, &collections, None, rollups),
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

/// Merges a call again after `arrived` was stored; what changed is written
/// by [`write_pending`] before the transaction commits.
///
/// The writer remembers recently merged calls, so the common case (one more
/// push of a call it has seen) neither parses the call's earlier pushes again
/// nor rewrites collections that did not change. The memory is used only when
/// the database holds exactly the pushes it remembers plus `arrived`, so a
/// push written by another process (an `import` beside `serve`) is never
/// missed.
pub fn merge_arrived_push(
    tx: &Connection,
    arrived: StoredPush,
    arrived_bytes: usize,
    offset: FixedOffset,
    bodies: &Bodies,
    recent: &mut RecentCalls,
    pending: &mut PendingCalls,
) -> Result<(), StoreError> {
    let conversation_id = arrived.push.conversation_id;
    let (stored, newest): (i64, i64) = tx
        .prepare_cached("SELECT count(*), max(id) FROM events WHERE conversation_id = ?1")?
        .query_row([conversation_id], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let remembered = recent
        .take(conversation_id)
        .filter(|call| call.pushes.len() as i64 + 1 == stored && newest == arrived.event_id);
    let (pushes, previous, bytes) = match remembered {
        Some(RecentCall {
            mut pushes,
            collections,
            bytes,
            ..
        }) => {
            pushes.push(arrived);
            (pushes, Some(collections), bytes + arrived_bytes)
        }
        // A first push: nothing of the call is stored besides it.
        None if stored == 1 => (vec![arrived], Some(Collections::default()), arrived_bytes),
        None => {
            let (pushes, bytes) = load_pushes(tx, bodies, conversation_id, offset)?;
            (pushes, None, bytes)
        }
    };
    // Merged before in this transaction: the tables still hold what they
    // held at its start, not the collections last merged.
    if !pending.stored.contains_key(&conversation_id) {
        pending.order.push(conversation_id);
        pending.stored.insert(conversation_id, previous);
    }
    let (call, collections) = project(&pushes).expect("a call with a stored push");
    recent.put(RecentCall {
        pushes,
        call,
        collections,
        bytes,
    });
    Ok(())
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
            Some(merged) => write_call(
                tx,
                &merged.call,
                &merged.collections,
                stored.as_ref(),
                rollups,
            )?,
            // Forgotten since (pushes larger than the memory): merged again.
            None => reproject_call(tx, bodies, conversation_id, offset, rollups)?,
        }
    }
    pending.stored.clear();
    Ok(())
}

/// A call's stored pushes, parsed again, and their bodies' bytes.
fn load_pushes(
    tx: &Connection,
    bodies: &Bodies,
    conversation_id: ConversationId,
    offset: FixedOffset,
) -> Result<(Vec<StoredPush>, usize), StoreError> {
    let rows = events_of_call(tx, bodies, conversation_id)?;
    let bytes = rows.iter().map(|row| row.body.len()).sum();
    let pushes = rows
        .iter()
        .map(|row| row.to_stored_push(offset))
        .collect::<Result<_, _>>()?;
    Ok((pushes, bytes))
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
