//! The calls a commit changed, read for live updates, and a filter matched
//! against such a call in memory.
//!
//! Live updates read each changed call once and share it among all
//! subscribers; each checks its own filter against it
//! (`conditions::LiveFilter`) instead of asking the database once per
//! subscriber. The match and the SQL come from the same conditions; the
//! test below runs both over the same calls.

use std::sync::Arc;

use rusqlite::Connection;

use crate::domain::{Call, ConversationId};
use crate::storage::call_rows::{self, COLUMNS};
use crate::storage::sql::placeholders;
use crate::storage::{Store, StoreError};

/// A call as a commit left it, with what a filter needs beside its fields.
#[derive(Clone, Debug)]
pub struct LiveCall {
    pub call: Arc<Call>,
    /// How many ticket numbers it has (the `hasTickets` condition).
    pub ticket_count: i64,
}

/// The most ids read in one statement (SQLite caps its parameters).
const IDS_PER_READ: usize = 500;

/// The calls of `ids` (each once, in no particular order); an id without a
/// call (erased since) is left out.
pub fn live_calls(conn: &Connection, ids: &[ConversationId]) -> Result<Vec<LiveCall>, StoreError> {
    let ticket_count_at = COLUMNS.split(", ").count();
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_PER_READ) {
        let sql = format!(
            "SELECT {}, ticket_count FROM calls WHERE conversation_id IN ({})",
            *COLUMNS,
            placeholders(chunk.len())
        );
        let mut statement = conn.prepare_cached(&sql)?;
        let rows = statement.query_map(rusqlite::params_from_iter(chunk.iter()), |row| {
            Ok(LiveCall {
                call: Arc::new(call_rows::read(row)?),
                ticket_count: row.get(ticket_count_at)?,
            })
        })?;
        for call in rows {
            found.push(call?);
        }
    }
    Ok(found)
}

impl Store {
    /// The calls of `ids`, as committed now.
    pub async fn live_calls(&self, ids: Vec<ConversationId>) -> Result<Vec<LiveCall>, StoreError> {
        self.read(move |conn| live_calls(conn, &ids)).await
    }
}

#[cfg(test)]
mod tests;
