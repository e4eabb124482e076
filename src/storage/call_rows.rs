//! The `calls` table as rows: its columns, listed once, for writing a merged
//! [`Call`] and reading it back.
//!
//! The call's own columns come first ([`CALL_COLUMNS`]), then one column per
//! push field in the order of [`SCALAR_FIELDS`]; writes and reads both walk
//! that one list.

use std::sync::LazyLock;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row};

use crate::domain::{Call, CallStatus, ConversationId, SCALAR_FIELDS, Scalars};
use crate::wire::time::format_time;

use super::sql::{field_value, read_required_time, read_time, to_sql_value};

/// Columns of `calls` that are not push fields, in the order bound and read.
const CALL_COLUMNS: &[&str] = &[
    "conversation_id",
    "status",
    "last_occasion",
    "started_at",
    "started_at_ms",
    "first_received_at",
    "last_received_at",
    "last_event_at",
    "event_count",
    "warning_count",
];

/// Every column of a call row, comma-separated, for `SELECT` and `INSERT`.
pub static COLUMNS: LazyLock<String> = LazyLock::new(|| {
    CALL_COLUMNS
        .iter()
        .copied()
        .chain(SCALAR_FIELDS.iter().map(|field| field.name))
        .collect::<Vec<_>>()
        .join(", ")
});

/// The upsert of a call row.
pub static UPSERT: LazyLock<String> = LazyLock::new(|| {
    let columns: Vec<&str> = COLUMNS.split(", ").collect();
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let updates: Vec<String> = columns[1..]
        .iter()
        .map(|column| format!("{column} = excluded.{column}"))
        .collect();
    format!(
        "INSERT INTO calls ({}) VALUES ({}) ON CONFLICT (conversation_id) DO UPDATE SET {}",
        *COLUMNS,
        placeholders.join(", "),
        updates.join(", ")
    )
});

/// A call's values in the order of [`COLUMNS`].
pub fn values(call: &Call) -> Vec<SqlValue> {
    let mut values: Vec<SqlValue> = vec![
        call.conversation_id.0.into(),
        call.status.as_str().to_owned().into(),
        call.last_occasion.clone().into(),
        format_time(&call.started_at).into(),
        call.started_at_ms().into(),
        format_time(&call.first_received_at).into(),
        format_time(&call.last_received_at).into(),
        call.last_event_at.as_ref().map(format_time).into(),
        call.event_count.into(),
        call.warning_count.into(),
    ];
    values.extend(call.scalars.values().into_iter().map(to_sql_value));
    values
}

/// Reads a row selected as [`COLUMNS`].
pub fn read(row: &Row) -> rusqlite::Result<Call> {
    let status: String = row.get(1)?;
    let scalars = (CALL_COLUMNS.len()..CALL_COLUMNS.len() + SCALAR_FIELDS.len())
        .map(|index| field_value(row, index))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Call {
        conversation_id: row.get(0)?,
        status: CallStatus::parse(&status).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                1,
                rusqlite::types::Type::Text,
                format!("{status:?} is not a call status").into(),
            )
        })?,
        last_occasion: row.get(2)?,
        started_at: read_required_time(row, 3)?,
        first_received_at: read_required_time(row, 5)?,
        last_received_at: read_required_time(row, 6)?,
        last_event_at: read_time(row, 7)?,
        event_count: row.get(8)?,
        warning_count: row.get(9)?,
        scalars: Scalars::from_values(scalars),
    })
}

/// The names of [`COLUMNS`], in order.
static COLUMN_NAMES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    CALL_COLUMNS
        .iter()
        .copied()
        .chain(SCALAR_FIELDS.iter().map(|field| field.name))
        .collect()
});

/// The values a call's row holds now, in the order of [`COLUMNS`]; `None`
/// when the call has no row yet.
pub fn stored_values(
    conn: &Connection,
    conversation_id: ConversationId,
) -> rusqlite::Result<Option<Vec<SqlValue>>> {
    static SELECT: LazyLock<String> =
        LazyLock::new(|| format!("SELECT {} FROM calls WHERE conversation_id = ?1", *COLUMNS));
    conn.prepare_cached(&SELECT)?
        .query_row([conversation_id], |row| {
            (0..COLUMN_NAMES.len())
                .map(|index| row.get::<_, SqlValue>(index))
                .collect()
        })
        .optional()
}

/// A call's `event_count` and `last_received_at` as its row holds them;
/// `None` when it has no row yet. Any write to the call moves one of them.
pub fn stored_progress(
    conn: &Connection,
    conversation_id: ConversationId,
) -> rusqlite::Result<Option<(i64, String)>> {
    conn.prepare_cached(
        "SELECT event_count, last_received_at FROM calls WHERE conversation_id = ?1",
    )?
    .query_row([conversation_id], |row| Ok((row.get(0)?, row.get(1)?)))
    .optional()
}

/// The names of the columns whose value differs, in the order of [`COLUMNS`].
pub fn changed_columns(stored: &[SqlValue], values: &[SqlValue]) -> Vec<&'static str> {
    COLUMN_NAMES
        .iter()
        .zip(stored.iter().zip(values))
        .filter(|(_, (old, new))| old != new)
        .map(|(name, _)| *name)
        .collect()
}

/// Writes only the `changed` columns of an existing row (`values` in the
/// order of [`COLUMNS`]): an index whose columns did not change is left
/// alone, where an upsert setting every column rewrote every index.
pub fn update_changed(
    conn: &Connection,
    changed: &[&str],
    values: &[SqlValue],
) -> rusqlite::Result<()> {
    let assignments: Vec<String> = changed
        .iter()
        .enumerate()
        .map(|(i, column)| format!("{column} = ?{}", i + 2))
        .collect();
    let sql = format!(
        "UPDATE calls SET {} WHERE conversation_id = ?1",
        assignments.join(", ")
    );
    let mut params: Vec<&SqlValue> = vec![&values[0]];
    for column in changed {
        let at = COLUMN_NAMES.iter().position(|name| name == column);
        params.push(&values[at.expect("a column of calls")]);
    }
    conn.prepare_cached(&sql)?
        .execute(rusqlite::params_from_iter(params))?;
    Ok(())
}
