//! One value of a grouping key, hashable and ordered as SQLite orders it.

use rusqlite::ToSql;
use rusqlite::types::{FromSql, FromSqlResult, ToSqlOutput, ValueRef};

/// A key column's value. The variants are in SQLite's order (NULL before
/// numbers before text), so sorting keys sorts groups as `ORDER BY` would.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Key {
    #[default]
    Null,
    Int(i64),
    Text(String),
}

impl Key {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Key::Int(value) => Some(*value),
            _ => None,
        }
    }

    pub fn as_text(&self) -> Option<String> {
        match self {
            Key::Text(text) => Some(text.clone()),
            Key::Int(value) => Some(value.to_string()),
            Key::Null => None,
        }
    }
}

impl FromSql for Key {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Ok(match value {
            ValueRef::Null => Key::Null,
            ValueRef::Integer(int) => Key::Int(int),
            // Key columns hold integers and text; anything else a person
            // wrote into a row still groups, by its text.
            ValueRef::Real(real) => Key::Text(real.to_string()),
            ValueRef::Text(text) | ValueRef::Blob(text) => {
                Key::Text(String::from_utf8_lossy(text).into_owned())
            }
        })
    }
}

impl ToSql for Key {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Key::Null => ToSqlOutput::from(rusqlite::types::Null),
            Key::Int(int) => ToSqlOutput::from(*int),
            Key::Text(text) => ToSqlOutput::from(text.as_str()),
        })
    }
}
