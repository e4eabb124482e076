//! One push, validated: what the rest of the service may rely on.
//!
//! A push needs a usable `conversation_id` (a positive 64-bit integer, as a
//! number or a string); without one it cannot belong to a call and is
//! rejected. Every other field is best effort: a value that cannot be read is
//! left out and recorded as a [`ParseWarning`], never a reason to refuse the
//! push, whose raw bytes are kept anyway.

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};

use crate::wire::Decoded;
use crate::wire::value::{first_present, read_int, read_text, read_time};

use super::ids::ConversationId;
use super::table::{Collections, Scalars};
use super::warnings::{ParseWarning, Warnings};

/// The occasion of the push that closes a call.
pub const END: &str = "end";

/// Why a JSON object cannot be a push of any call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("conversation_id is missing; every Udesk call push carries one")]
    MissingConversationId,
    #[error("conversation_id is not a usable call id: {0}")]
    BadConversationId(String),
}

/// A push's content, read and normalized.
#[derive(Clone, Debug, PartialEq)]
pub struct Push {
    pub conversation_id: ConversationId,
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
        let scalars = Scalars::read(object, default_offset, &mut warnings);
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

    /// Reads a decoded body: its object, with what the wire had to read
    /// tolerantly (see `wire::json`) first among the warnings.
    pub fn from_decoded(decoded: &Decoded, default_offset: FixedOffset) -> Result<Push, PushError> {
        let mut push = Push::from_object(&decoded.object, default_offset)?;
        let oddities = decoded.oddities.iter().map(|oddity| ParseWarning {
            field: oddity.field.clone(),
            raw_value: oddity.raw.clone(),
            problem: oddity.problem.clone(),
        });
        push.warnings.splice(0..0, oddities);
        Ok(push)
    }

    pub fn is_end(&self) -> bool {
        self.occasion.as_deref() == Some(END)
    }
}

fn present<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    first_present(object, &[key]).map(|(_, value)| value)
}

fn conversation_id(object: &Map<String, Value>) -> Result<ConversationId, PushError> {
    let value = present(object, "conversation_id").ok_or(PushError::MissingConversationId)?;
    match read_int(value) {
        Ok(id) if id > 0 => Ok(ConversationId(id)),
        Ok(id) => Err(PushError::BadConversationId(format!(
            "{id} is not a positive integer"
        ))),
        Err(problem) => Err(PushError::BadConversationId(problem)),
    }
}
