//! A body as it arrives, and what it becomes: a push ready to store, or a
//! rejection kept for an operator.
//!
//! [`prepare`] does the CPU work (decode, validate, hash) on the caller's
//! task, so many requests parse in parallel while the single writer only
//! does SQL. The webhook and `import` both prepare through it.

use chrono::{DateTime, FixedOffset};
use sha2::{Digest, Sha256};

use super::push::{Push, PushError};
use crate::wire::{BodyError, BodyFormat, decode_body};

/// A request body as it arrived.
#[derive(Clone, Debug)]
pub struct RawPush {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub received_at: DateTime<FixedOffset>,
}

/// A push that belongs to a call, ready to store: its bytes and its content.
#[derive(Debug)]
pub struct AcceptedPush {
    pub raw: RawPush,
    pub format: BodyFormat,
    /// The fields of a form body as a JSON object; `None` for JSON bodies.
    pub form_payload: Option<String>,
    /// Identifies a byte-identical redelivery.
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
}

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
        sha256: Sha256::digest(&raw.body).into(),
        raw,
        format,
        form_payload,
        push,
    })
}

fn rejected(raw: RawPush, reason: RejectReason) -> Rejection {
    Rejection { raw, reason }
}
