//! The calls a commit changed, read for live updates, and a filter matched
//! against such a call in memory.
//!
//! Live updates read each changed call once and share it among all
//! subscribers; each checks its own filter against it here instead of
//! asking the database once per subscriber. [`CallFilter::matches`] must
//! mean exactly what `filter::filter_condition` means in SQL: the test
//! below runs both over the same calls.

use std::sync::Arc;

use rusqlite::Connection;

use super::filter::CallFilter;
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

/// Whether `value` is among `wanted`; no list means no condition, and a
/// missing value matches no list (as SQL's `NULL IN (…)`).
fn any_of<T: PartialEq>(wanted: &Option<Vec<T>>, value: Option<&T>) -> bool {
    match wanted {
        None => true,
        Some(wanted) => value.is_some_and(|value| wanted.contains(value)),
    }
}

/// `value op bound` where a bound is given; a missing value fails it.
fn within(value: Option<i64>, min: Option<i64>, max_exclusive: Option<i64>) -> bool {
    let above = min.is_none_or(|min| value.is_some_and(|v| v >= min));
    let below = max_exclusive.is_none_or(|max| value.is_some_and(|v| v < max));
    above && below
}

impl CallFilter {
    /// Whether `live` meets every condition of this filter.
    pub fn matches(&self, live: &LiveCall) -> bool {
        let call = &live.call;
        let s = &call.scalars;
        let total_time = s.total_time;
        any_of(&self.agent_ids, s.agent_id.as_ref())
            && any_of(&self.agent_emails, s.agent_email.as_ref())
            && any_of(&self.agent_group_ids, s.user_group_id.as_ref())
            && any_of(&self.workflows, s.workflow.as_ref())
            && any_of(&self.call_results, s.call_result.as_ref())
            && any_of(&self.categories, s.category.as_ref())
            && any_of(&self.statuses, Some(&call.status))
            && any_of(&self.last_occasions, Some(&call.last_occasion))
            && any_of(&self.customer_phones, s.customer_phone.as_ref())
            && any_of(&self.call_ids, s.call_id.as_ref())
            && any_of(&self.defeat_causes, s.defeat_cause.as_ref())
            && any_of(&self.surveys, s.survey.as_ref())
            && within(
                Some(call.started_at_ms()),
                self.started_from_ms,
                self.started_before_ms,
            )
            && self
                .answered
                .is_none_or(|answered| answered == (total_time.unwrap_or(0) > 0))
            && within(
                total_time,
                self.talk_time_min,
                self.talk_time_max.map(|max| max.saturating_add(1)),
            )
            && self
                .has_recording
                .is_none_or(|wanted| wanted == s.record_url.is_some())
            && self
                .has_tickets
                .is_none_or(|wanted| wanted == (live.ticket_count > 0))
    }
}

#[cfg(test)]
mod tests;
