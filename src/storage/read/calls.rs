//! Reading calls: one by id, pages in a stable order, counts.
//!
//! Pages use keyset pagination: a position is a call's sort key and its
//! `conversation_id`, and the next page starts strictly after it. Unlike
//! OFFSET this costs the same on page 1 and page 10 000, and a call that
//! arrives meanwhile never shifts the walk by one.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row};

use crate::domain::fields::{FieldKind, FieldValue, SCALAR_FIELDS, Scalars};

use super::filter::{CallFilter, filter_condition};
use crate::storage::StoreError;

/// A `calls` row as the API serves it.
#[derive(Clone, Debug)]
pub struct CallRecord {
    pub conversation_id: i64,
    /// `IN_PROGRESS` or `ENDED`.
    pub status: String,
    pub last_occasion: String,
    pub started_at: Option<DateTime<FixedOffset>>,
    pub started_at_ms: i64,
    pub first_received_at: DateTime<FixedOffset>,
    pub last_received_at: DateTime<FixedOffset>,
    pub event_count: i64,
    /// The push fields, aligned with [`SCALAR_FIELDS`].
    pub scalars: Scalars,
}

/// The orders calls can be listed in; ties are broken by `conversation_id`
/// in the same direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallOrder {
    StartedAtDesc,
    StartedAtAsc,
    /// Longest talk first; a call without a talk time counts as 0 seconds.
    TalkTimeDesc,
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
    pub fn key_of(self, call: &CallRecord) -> i64 {
        match self {
            CallOrder::StartedAtDesc | CallOrder::StartedAtAsc => call.started_at_ms,
            CallOrder::TalkTimeDesc | CallOrder::TalkTimeAsc => {
                match call.scalars.get("total_time") {
                    Some(FieldValue::Int(seconds)) => *seconds,
                    _ => 0,
                }
            }
        }
    }
}

/// Where a call sits in an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub key: i64,
    pub conversation_id: i64,
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
    pub calls: Vec<CallRecord>,
    pub has_more: bool,
}

/// The columns read for a [`CallRecord`], in the order `read_call` expects.
static CALL_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    let mut columns = vec![
        "conversation_id",
        "status",
        "last_occasion",
        "started_at",
        "started_at_ms",
        "first_received_at",
        "last_received_at",
        "event_count",
    ];
    columns.extend(SCALAR_FIELDS.iter().map(|field| field.name));
    columns.join(", ")
});
const META_COLUMNS: usize = 8;

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
            condition.params.push(position.conversation_id.into());
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
        columns = *CALL_COLUMNS,
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
    let mut calls: Vec<CallRecord> = statement
        .query_map(rusqlite::params_from_iter(params), read_call)?
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
    condition.params.push(position.conversation_id.into());
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
    conversation_id: i64,
) -> Result<Option<CallRecord>, StoreError> {
    let sql = format!(
        "SELECT {} FROM calls WHERE conversation_id = ?",
        *CALL_COLUMNS
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([conversation_id], read_call)
        .optional()?)
}

/// The calls of each `call_id` given, by start time.
pub fn calls_by_call_ids(
    conn: &Connection,
    call_ids: &[String],
) -> Result<HashMap<String, Vec<CallRecord>>, StoreError> {
    let mut grouped: HashMap<String, Vec<CallRecord>> = HashMap::new();
    if call_ids.is_empty() {
        return Ok(grouped);
    }
    let sql = format!(
        "SELECT {} FROM calls WHERE call_id IN ({}) ORDER BY started_at_ms, conversation_id",
        *CALL_COLUMNS,
        vec!["?"; call_ids.len()].join(", ")
    );
    let mut statement = conn.prepare(&sql)?;
    let rows = statement.query_map(rusqlite::params_from_iter(call_ids), read_call)?;
    for call in rows {
        let call = call?;
        if let Some(FieldValue::Text(call_id)) = call.scalars.get("call_id") {
            grouped.entry(call_id.clone()).or_default().push(call);
        }
    }
    Ok(grouped)
}

/// Reads an RFC 3339 column; text that is not one reads as no value.
pub fn read_time(row: &Row, index: usize) -> rusqlite::Result<Option<DateTime<FixedOffset>>> {
    let text: Option<String> = row.get(index)?;
    Ok(text.and_then(|text| DateTime::parse_from_rfc3339(&text).ok()))
}

/// Reads a NOT NULL RFC 3339 column; anything else is a corrupt row.
pub fn read_required_time(row: &Row, index: usize) -> rusqlite::Result<DateTime<FixedOffset>> {
    let text: String = row.get(index)?;
    DateTime::parse_from_rfc3339(&text).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            Box::new(error),
        )
    })
}

fn read_call(row: &Row) -> rusqlite::Result<CallRecord> {
    let mut scalars = Scalars::default();
    for (offset, field) in SCALAR_FIELDS.iter().enumerate() {
        let index = META_COLUMNS + offset;
        scalars.0[offset] = match field.kind {
            FieldKind::Text => row.get::<_, Option<String>>(index)?.map(FieldValue::Text),
            FieldKind::Int | FieldKind::Id => {
                row.get::<_, Option<i64>>(index)?.map(FieldValue::Int)
            }
            FieldKind::Bool => row
                .get::<_, Option<i64>>(index)?
                .map(|v| FieldValue::Bool(v != 0)),
            FieldKind::Time => read_time(row, index)?.map(FieldValue::Time),
        };
    }
    Ok(CallRecord {
        conversation_id: row.get(0)?,
        status: row.get(1)?,
        last_occasion: row.get(2)?,
        started_at: read_time(row, 3)?,
        started_at_ms: row.get(4)?,
        first_received_at: read_required_time(row, 5)?,
        last_received_at: read_required_time(row, 6)?,
        event_count: row.get(7)?,
        scalars,
    })
}
