//! One push, validated: what the rest of the service may rely on.
//!
//! A push needs a usable `conversation_id` (a positive 64-bit integer, as a
//! number or a string); without one it cannot belong to a call and is
//! rejected. Every other field is best effort: a value that cannot be read is
//! left out and recorded as a [`ParseWarning`], never a reason to refuse the
//! push, whose raw bytes are kept anyway.

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};

use crate::wire::value::{is_absent, read_bool, read_int, read_text, read_time};

use super::collections::Collections;
use super::fields::{FieldKind, FieldValue, SCALAR_FIELDS, Scalars};

/// The occasion of the push that closes a call.
pub const END: &str = "end";

/// A field whose value could not be read.
#[derive(Clone, Debug, PartialEq)]
pub struct ParseWarning {
    pub field: String,
    /// The value as received, as JSON text.
    pub raw_value: String,
    pub problem: String,
}

#[derive(Debug, Default)]
pub struct Warnings(pub Vec<ParseWarning>);

impl Warnings {
    pub fn add(&mut self, field: &str, raw: &Value, problem: String) {
        self.0.push(ParseWarning {
            field: field.to_owned(),
            raw_value: raw.to_string(),
            problem,
        });
    }
}

/// Why a JSON object cannot be a push of any call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("conversation_id is missing; every Udesk call push carries one")]
    MissingConversationId,
    #[error("conversation_id is not a usable call id: {0}")]
    BadConversationId(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Push {
    pub conversation_id: i64,
    pub occasion: Option<String>,
    /// The push's `timestamp`: when the event happened, by Udesk's clock.
    pub timestamp: Option<DateTime<FixedOffset>>,
    pub scalars: Scalars,
    pub collections: Collections,
    pub warnings: Vec<ParseWarning>,
}

impl Push {
    /// Reads a push object; `default_offset` applies to times without one.
    pub fn from_object(
        object: &Map<String, Value>,
        default_offset: FixedOffset,
    ) -> Result<Push, PushError> {
        let conversation_id = conversation_id(object)?;
        let mut warnings = Warnings::default();
        let occasion = present(object, "occasion").and_then(|value| match read_text(value) {
            Ok(text) => Some(text.trim().to_owned()),
            Err(problem) => {
                warnings.add("occasion", value, problem);
                None
            }
        });
        let timestamp = present(object, "timestamp").and_then(|value| {
            read_time(value, default_offset)
                .map_err(|problem| warnings.add("timestamp", value, problem))
                .ok()
        });
        let scalars = Scalars(
            SCALAR_FIELDS
                .iter()
                .map(|field| {
                    let (key, value) = std::iter::once(field.name)
                        .chain(field.aliases.iter().copied())
                        .find_map(|key| present(object, key).map(|value| (key, value)))?;
                    read_scalar(field.kind, value, default_offset)
                        .map_err(|problem| warnings.add(key, value, problem))
                        .ok()
                })
                .collect(),
        );
        let collections = Collections::read(object, &mut warnings);
        Ok(Push {
            conversation_id,
            occasion,
            timestamp,
            scalars,
            collections,
            warnings: warnings.0,
        })
    }

    pub fn is_end(&self) -> bool {
        self.occasion.as_deref() == Some(END)
    }
}

fn present<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|value| !is_absent(value))
}

fn conversation_id(object: &Map<String, Value>) -> Result<i64, PushError> {
    let value = present(object, "conversation_id").ok_or(PushError::MissingConversationId)?;
    match read_int(value) {
        Ok(id) if id > 0 => Ok(id),
        Ok(id) => Err(PushError::BadConversationId(format!(
            "{id} is not a positive integer"
        ))),
        Err(problem) => Err(PushError::BadConversationId(problem)),
    }
}

fn read_scalar(kind: FieldKind, value: &Value, offset: FixedOffset) -> Result<FieldValue, String> {
    Ok(match kind {
        FieldKind::Text => FieldValue::Text(read_text(value)?),
        FieldKind::Int | FieldKind::Id => FieldValue::Int(read_int(value)?),
        FieldKind::Bool => FieldValue::Bool(read_bool(value)?),
        FieldKind::Time => FieldValue::Time(read_time(value, offset)?),
    })
}
