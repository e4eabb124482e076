//! A body as it arrives, and what it becomes: a push ready to store, or a
//! rejection kept for an operator.
//!
//! [`prepare`] does the CPU work (decode, validate, hash) on the caller's
//! task, so many requests parse in parallel while the single writer only
//! does SQL. The webhook and `import` both prepare through it.

use chrono::{DateTime, FixedOffset};
use sha2::{Digest, Sha256};

use super::ids::ConversationId;
use super::push::{Push, PushError};
use crate::wire::{BodyError, BodyFormat, decode_body};

/// A request body as it arrived.
#[derive(Clone, Debug)]
pub struct RawPush {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub received_at: DateTime<FixedOffset>,
}

/// The time a body arrives, to the millisecond: finer is noise, and each
/// of an event's two arrival times kept as text would be six bytes longer.
pub fn received_now(offset: FixedOffset) -> DateTime<FixedOffset> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(3).with_timezone(&offset)
}

/// A push that belongs to a call, ready to store: its bytes and its content.
#[derive(Debug)]
pub struct AcceptedPush {
    pub raw: RawPush,
    pub format: BodyFormat,
    /// The fields of a form body as a JSON object; `None` for JSON bodies.
    pub form_payload: Option<String>,
    /// Identifies a redelivery: the same bytes, but for whitespace around
    /// them.
    pub sha256: [u8; 32],
    pub push: Push,
}

/// Why a body is no push of any call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    /// Not JSON, or JSON that is not an object.
    #[error(transparent)]
    Malformed(#[from] BodyError),
    /// An object with no usable `conversation_id`.
    #[error(transparent)]
    Unusable(#[from] PushError),
    /// A push of a call that already holds the most pushes one call may.
    #[error(
        "call {conversation_id} already holds {MAX_PUSHES_PER_CALL} pushes, the most one call may \
         hold (a real call has a few dozen at most); this push is kept among the rejected pushes"
    )]
    CallFull { conversation_id: ConversationId },
}

/// The most distinct pushes one call may hold. A real call has a few dozen
/// at most; the bound keeps what a reader of one call may have to bring
/// into memory, and what merging it again after a start reads, finite.
pub const MAX_PUSHES_PER_CALL: i64 = 10_000;

/// A body refused, with the reason, to keep for inspection and replay.
#[derive(Debug)]
pub struct Rejection {
    pub raw: RawPush,
    pub reason: RejectReason,
}

/// Decodes and validates a body.
pub fn prepare(raw: RawPush, default_offset: FixedOffset) -> Result<AcceptedPush, Rejection> {
    let decoded = match decode_body(&raw.body, raw.content_type.as_deref()) {
        Ok(decoded) => decoded,
        Err(error) => return Err(rejected(raw, error.into())),
    };
    let push = match Push::from_decoded(&decoded, default_offset) {
        Ok(push) => push,
        Err(error) => return Err(rejected(raw, error.into())),
    };
    let format = decoded.format;
    let form_payload =
        (format == BodyFormat::Form).then(|| serde_json::Value::Object(decoded.object).to_string());
    Ok(AcceptedPush {
        // Whitespace around a body is no part of the push: a file with its
        // last newline (curl's `--data-binary @file`) and the same push
        // without it (a line of `import`) are one push, stored once.
        sha256: Sha256::digest(raw.body.trim_ascii()).into(),
        raw,
        format,
        form_payload,
        push,
    })
}

fn rejected(raw: RawPush, reason: RejectReason) -> Rejection {
    Rejection { raw, reason }
}
