//! The kinds of a push's scalar fields: how each is read from JSON and how
//! it travels to storage as a [`FieldValue`].
//!
//! The fields themselves are listed in [`table`](super::table); the typed
//! [`Scalars`](super::Scalars) and [`SCALAR_FIELDS`](super::SCALAR_FIELDS)
//! are expanded from it.

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};

use super::ids::UdeskId;
use super::warnings::Warnings;
use crate::wire::value::{Problem, first_present, read_bool, read_int, read_text, read_time};

/// The Rust type of each kind, named as the table names kinds.
pub mod kind {
    /// Free text.
    pub type Text = String;
    /// A count or duration: never negative.
    pub type Int = i64;
    /// A Udesk id: an integer that may exceed 32 bits.
    pub type Id = super::UdeskId;
    pub type Bool = bool;
    pub type Time = chrono::DateTime<chrono::FixedOffset>;
}

/// How a field's value is read and stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Int,
    Id,
    Bool,
    Time,
}

/// One line of the field table.
#[derive(Debug)]
pub struct ScalarField {
    /// Udesk's name, and the column's.
    pub name: &'static str,
    /// Other spellings Udesk uses for the same field.
    pub aliases: &'static [&'static str],
    pub kind: FieldKind,
}

/// A normalized value as storage keeps it: times as RFC 3339 text are read
/// back from `Text`, booleans from `Int`.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    Text(String),
    Int(i64),
    Bool(bool),
    Time(DateTime<FixedOffset>),
}

/// A type a field can have.
pub trait FieldType: Sized + Clone {
    /// Reads a present JSON value; `offset` applies to times without one.
    fn read(value: &Value, offset: FixedOffset) -> Result<Self, Problem>;
    fn to_value(&self) -> FieldValue;
    /// The value back from storage; `None` for a value of another kind.
    fn from_value(value: FieldValue) -> Option<Self>;
}

impl FieldType for String {
    fn read(value: &Value, _: FixedOffset) -> Result<Self, Problem> {
        read_text(value)
    }
    fn to_value(&self) -> FieldValue {
        FieldValue::Text(self.clone())
    }
    fn from_value(value: FieldValue) -> Option<Self> {
        match value {
            FieldValue::Text(text) => Some(text),
            _ => None,
        }
    }
}

impl FieldType for i64 {
    /// Every `Int` field is a count or a duration in seconds: a negative one
    /// is a warning and no value, so it cannot drag a sum or a mean below
    /// what the calls took (one `-100000` queue time made a day's longest
    /// wait 0).
    fn read(value: &Value, _: FixedOffset) -> Result<Self, Problem> {
        let int = read_int(value)?;
        if int < 0 {
            return Err(format!("a count or duration cannot be negative ({int})"));
        }
        Ok(int)
    }
    fn to_value(&self) -> FieldValue {
        FieldValue::Int(*self)
    }
    fn from_value(value: FieldValue) -> Option<Self> {
        match value {
            FieldValue::Int(int) => Some(int),
            _ => None,
        }
    }
}

impl FieldType for UdeskId {
    fn read(value: &Value, offset: FixedOffset) -> Result<Self, Problem> {
        i64::read(value, offset).map(UdeskId)
    }
    fn to_value(&self) -> FieldValue {
        FieldValue::Int(self.0)
    }
    fn from_value(value: FieldValue) -> Option<Self> {
        i64::from_value(value).map(UdeskId)
    }
}

impl FieldType for bool {
    fn read(value: &Value, _: FixedOffset) -> Result<Self, Problem> {
        read_bool(value)
    }
    fn to_value(&self) -> FieldValue {
        FieldValue::Bool(*self)
    }
    fn from_value(value: FieldValue) -> Option<Self> {
        match value {
            FieldValue::Bool(flag) => Some(flag),
            FieldValue::Int(int) => Some(int != 0),
            _ => None,
        }
    }
}

impl FieldType for DateTime<FixedOffset> {
    fn read(value: &Value, offset: FixedOffset) -> Result<Self, Problem> {
        read_time(value, offset)
    }
    fn to_value(&self) -> FieldValue {
        FieldValue::Time(*self)
    }
    fn from_value(value: FieldValue) -> Option<Self> {
        match value {
            FieldValue::Time(time) => Some(time),
            FieldValue::Text(text) => DateTime::parse_from_rfc3339(&text).ok(),
            _ => None,
        }
    }
}

/// Reads the first present spelling of a field; an unreadable value is a
/// warning and no value.
pub(crate) fn read_field<T: FieldType>(
    object: &Map<String, Value>,
    keys: &[&str],
    offset: FixedOffset,
    warnings: &mut Warnings,
) -> Option<T> {
    let (key, value) = first_present(object, keys)?;
    T::read(value, offset)
        .map_err(|problem| warnings.add(key, value, problem))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::super::SCALAR_FIELDS;
    use std::collections::HashSet;

    #[test]
    fn a_negative_duration_is_a_warning_and_no_value() {
        let object = serde_json::json!({ "queue_time": -100000, "ring_time": "7" });
        let object = object.as_object().unwrap();
        let mut warnings = super::Warnings::default();
        let offset = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
        let queue: Option<i64> = super::read_field(object, &["queue_time"], offset, &mut warnings);
        let ring: Option<i64> = super::read_field(object, &["ring_time"], offset, &mut warnings);
        assert_eq!((queue, ring), (None, Some(7)));
        assert_eq!(warnings.0.len(), 1);
        assert_eq!(warnings.0[0].field, "queue_time");
        assert!(
            warnings.0[0].problem.contains("negative"),
            "{:?}",
            warnings.0
        );
    }

    #[test]
    fn every_field_and_alias_is_named_once() {
        let mut seen = HashSet::new();
        for field in SCALAR_FIELDS {
            assert!(seen.insert(field.name), "{} twice", field.name);
            for alias in field.aliases {
                assert!(seen.insert(alias), "{alias} twice");
            }
        }
    }
}
