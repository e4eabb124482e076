//! Conversions between the domain's values and SQLite's.
//!
//! Times are stored as RFC 3339 text (readable in `sqlite3`), booleans as
//! 0/1, ids as integers. Reading is lenient where a person may have edited a
//! row (a time that does not parse reads as no value) and strict where the
//! service relies on the value.

use chrono::{DateTime, FixedOffset};
use rusqlite::types::{FromSql, FromSqlResult, ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::{Row, ToSql};

use crate::domain::ConversationId;
use crate::domain::fields::FieldValue;
use crate::wire::time::format_time;

impl ToSql for ConversationId {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.0))
    }
}

impl FromSql for ConversationId {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        i64::column_result(value).map(ConversationId)
    }
}

/// A field's value as SQL.
pub fn to_sql_value(value: Option<FieldValue>) -> SqlValue {
    match value {
        None => SqlValue::Null,
        Some(FieldValue::Text(text)) => SqlValue::Text(text),
        Some(FieldValue::Int(int)) => SqlValue::Integer(int),
        Some(FieldValue::Bool(flag)) => SqlValue::Integer(i64::from(flag)),
        Some(FieldValue::Time(time)) => SqlValue::Text(format_time(&time)),
    }
}

/// A column as a field's value; the field's type reads it back
/// ([`FieldType::from_value`](crate::domain::fields::FieldType::from_value)).
pub fn field_value(row: &Row, index: usize) -> rusqlite::Result<Option<FieldValue>> {
    Ok(match row.get_ref(index)? {
        ValueRef::Null => None,
        ValueRef::Integer(int) => Some(FieldValue::Int(int)),
        ValueRef::Real(real) => Some(FieldValue::Text(real.to_string())),
        ValueRef::Text(text) => Some(FieldValue::Text(String::from_utf8_lossy(text).into_owned())),
        ValueRef::Blob(_) => None,
    })
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

/// A body stored as text when it is UTF-8 (so `sqlite3` shows it), else as a blob.
pub struct BodyValue<'a>(pub &'a [u8]);

impl ToSql for BodyValue<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match std::str::from_utf8(self.0) {
            Ok(text) => ValueRef::Text(text.as_bytes()),
            Err(_) => ValueRef::Blob(self.0),
        }))
    }
}

/// `?, ?, …` for `count` parameters.
pub fn placeholders(count: usize) -> String {
    vec!["?"; count].join(", ")
}
