//! Reading calls: one by id, pages in a stable order, counts.
//!
//! Pages use keyset pagination: a position is a call's sort key and its
//! `conversation_id`, and the next page starts strictly after it. Unlike
//! OFFSET this costs the same on page 1 and page 10 000, and a call that
//! arrives meanwhile never shifts the walk by one.

use std::collections::HashMap;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension};

use super::filter::{CallFilter, filter_condition};
use crate::domain::{Call, ConversationId};
use crate::storage::StoreError;
use crate::storage::call_rows::{self, COLUMNS};
use crate::storage::sql::placeholders;

/// How calls are listed. Ties are broken by `conversationId`, in the same direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CallOrder {
    /// Latest start first.
    #[default]
    StartedAtDesc,
    /// Earliest start first.
    StartedAtAsc,
    /// Longest talk first; a call without a talk time counts as 0 seconds.
    TalkTimeDesc,
    /// Shortest talk first; a call without a talk time counts as 0 seconds.
    TalkTimeAsc,
}

impl CallOrder {
    /// The sorted expression; the talk-time one matches the index of migration 02.
    pub fn key_expression(self) -> &'static str {
        match self {
            CallOrder::StartedAtDesc | CallOrder::StartedAtAsc => "started_at_ms",
            CallOrder::TalkTimeDesc | CallOrder::TalkTimeAsc => "coalesce(total_time, 0)",
        }
    }

    fn descending(self) -> bool {
        matches!(self, CallOrder::StartedAtDesc | CallOrder::TalkTimeDesc)
    }

    /// The key of a call in this order.
    pub fn key_of(self, call: &Call) -> i64 {
        match self {
            CallOrder::StartedAtDesc | CallOrder::StartedAtAsc => call.started_at_ms(),
            CallOrder::TalkTimeDesc | CallOrder::TalkTimeAsc => {
                call.scalars.total_time.unwrap_or(0)
            }
        }
    }

    /// The order's name, as GraphQL spells it; cursors carry it.
    pub fn name(self) -> &'static str {
        match self {
            CallOrder::StartedAtDesc => "STARTED_AT_DESC",
            CallOrder::StartedAtAsc => "STARTED_AT_ASC",
            CallOrder::TalkTimeDesc => "TALK_TIME_DESC",
            CallOrder::TalkTimeAsc => "TALK_TIME_ASC",
        }
    }
}

/// Where a call sits in an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub key: i64,
    pub conversation_id: ConversationId,
}

/// One page: the calls strictly between `after` and `before`, `limit` of them
/// from the start, or from the end when `from_end`.
#[derive(Clone, Debug)]
pub struct PageQuery {
    pub order: CallOrder,
    pub after: Option<Position>,
    pub before: Option<Position>,
    pub limit: usize,
    pub from_end: bool,
}

/// The calls of a page in the requested order, and whether more calls lie
/// beyond the limit (in the direction the page was read).
#[derive(Clone, Debug)]
pub struct Page {
    pub calls: Vec<Call>,
    pub has_more: bool,
}

/// The comparison meaning "comes after" in `order` (or "before", reversed).
fn comparison(order: CallOrder, after: bool) -> &'static str {
    if order.descending() == after {
        "<"
    } else {
        ">"
    }
}

/// The SQL of a page and its parameters: exposed so the query-plan test
/// examines exactly what the service runs.
pub fn page_sql(filter: &CallFilter, page: &PageQuery) -> (String, Vec<SqlValue>) {
    let mut condition = filter_condition(filter);
    let key = page.order.key_expression();
    let mut bounds = String::new();
    for (position, after) in [(page.after, true), (page.before, false)] {
        if let Some(position) = position {
            let operator = comparison(page.order, after);
            bounds.push_str(&format!(" AND ({key}, conversation_id) {operator} (?, ?)"));
            condition.params.push(position.key.into());
            condition.params.push(position.conversation_id.0.into());
        }
    }
    let direction = if page.order.descending() != page.from_end {
        "DESC"
    } else {
        "ASC"
    };
    condition.params.push((page.limit as i64 + 1).into());
    let sql = format!(
        "SELECT {columns} FROM calls WHERE ({filter}){bounds} \
         ORDER BY {key} {direction}, conversation_id {direction} LIMIT ?",
        columns = *COLUMNS,
        filter = condition.or_true(),
    );
    (sql, condition.params)
}

/// Reads one page of calls; the calls come in `order` whichever end was read.
pub fn calls_page(
    conn: &Connection,
    filter: &CallFilter,
    page: &PageQuery,
) -> Result<Page, StoreError> {
    let (sql, params) = page_sql(filter, page);
    let mut statement = conn.prepare_cached(&sql)?;
    let mut calls: Vec<Call> = statement
        .query_map(rusqlite::params_from_iter(params), call_rows::read)?
        .collect::<Result<_, _>>()?;
    let has_more = calls.len() > page.limit;
    calls.truncate(page.limit);
    if page.from_end {
        calls.reverse();
    }
    Ok(Page { calls, has_more })
}

/// Whether any matching call lies at or beyond `position`: after it when
/// `after`, else before it. Answers `hasPreviousPage` / `hasNextPage` across a cursor.
pub fn any_call_beyond(
    conn: &Connection,
    filter: &CallFilter,
    order: CallOrder,
    position: Position,
    after: bool,
) -> Result<bool, StoreError> {
    let mut condition = filter_condition(filter);
    let operator = format!("{}=", comparison(order, after));
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM calls WHERE ({}) AND ({}, conversation_id) {operator} (?, ?))",
        condition.or_true(),
        order.key_expression(),
    );
    condition.params.push(position.key.into());
    condition.params.push(position.conversation_id.0.into());
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(rusqlite::params_from_iter(condition.params), |row| {
            row.get(0)
        })?)
}

/// The SQL counting the calls of a filter, and its parameters.
pub fn count_sql(filter: &CallFilter) -> (String, Vec<SqlValue>) {
    let condition = filter_condition(filter);
    let sql = format!("SELECT count(*) FROM calls WHERE {}", condition.or_true());
    (sql, condition.params)
}

pub fn count_calls(conn: &Connection, filter: &CallFilter) -> Result<i64, StoreError> {
    let (sql, params) = count_sql(filter);
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(rusqlite::params_from_iter(params), |row| row.get(0))?)
}

pub fn call_by_id(
    conn: &Connection,
    conversation_id: ConversationId,
) -> Result<Option<Call>, StoreError> {
    let sql = format!("SELECT {} FROM calls WHERE conversation_id = ?", *COLUMNS);
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([conversation_id], call_rows::read)
        .optional()?)
}

/// The calls of each `call_id` given, by start time.
pub fn calls_by_call_ids(
    conn: &Connection,
    call_ids: &[String],
) -> Result<HashMap<String, Vec<Call>>, StoreError> {
    let mut grouped: HashMap<String, Vec<Call>> = HashMap::new();
    if call_ids.is_empty() {
        return Ok(grouped);
    }
    let sql = format!(
        "SELECT {} FROM calls WHERE call_id IN ({}) ORDER BY started_at_ms, conversation_id",
        *COLUMNS,
        placeholders(call_ids.len())
    );
    let mut statement = conn.prepare(&sql)?;
    let rows = statement.query_map(rusqlite::params_from_iter(call_ids), call_rows::read)?;
    for call in rows {
        let call = call?;
        if let Some(call_id) = &call.scalars.call_id {
            grouped.entry(call_id.clone()).or_default().push(call);
        }
    }
    Ok(grouped)
}
