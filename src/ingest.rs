//! The ingest pipeline shared by the webhook and `import`.
//!
//! `prepare` does the CPU work (decode, validate, hash) on the caller's task,
//! so many requests parse in parallel; the single writer only does SQL. The
//! writer then stores the push, or the rejected body, and answers once the
//! transaction holding it is durable.

use chrono::{DateTime, FixedOffset};
use sha2::{Digest, Sha256};

use crate::domain::{Push, PushError};
use crate::storage::{StoreError, WriteOutcome, Writer};
use crate::wire::{BodyError, BodyFormat, decode_body};

/// A request body as it arrived.
#[derive(Clone, Debug)]
pub struct RawPush {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub received_at: DateTime<FixedOffset>,
}

/// A push that belongs to a call, ready to store.
#[derive(Debug)]
pub struct AcceptedPush {
    pub raw: RawPush,
    pub format: BodyFormat,
    /// The fields of a form body as a JSON object; `None` for JSON bodies.
    pub form_payload: Option<String>,
    pub sha256: [u8; 32],
    pub push: Push,
}

/// Why a body was refused; decides the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    /// Not JSON, or JSON that is not an object: 400.
    #[error(transparent)]
    Malformed(#[from] BodyError),
    /// An object with no usable `conversation_id`: 422.
    #[error(transparent)]
    Unusable(#[from] PushError),
}

impl RejectReason {
    pub fn http_status(&self) -> u16 {
        match self {
            RejectReason::Malformed(_) => 400,
            RejectReason::Unusable(_) => 422,
        }
    }
}

/// A body kept in `rejected_pushes` for inspection and replay.
#[derive(Debug)]
pub struct RejectedPush {
    pub raw: RawPush,
    pub reason: RejectReason,
}

#[derive(Debug)]
pub enum Prepared {
    Accepted(Box<AcceptedPush>),
    Rejected(RejectedPush),
}

/// Decodes and validates a body; never fails, since a refusal is stored too.
pub fn prepare(raw: RawPush, default_offset: FixedOffset) -> Prepared {
    let (format, object) = match decode_body(&raw.body, raw.content_type.as_deref()) {
        Ok(decoded) => decoded,
        Err(error) => return rejected(raw, error.into()),
    };
    let push = match Push::from_object(&object, default_offset) {
        Ok(push) => push,
        Err(error) => return rejected(raw, error.into()),
    };
    let form_payload =
        (format == BodyFormat::Form).then(|| serde_json::Value::Object(object).to_string());
    Prepared::Accepted(Box::new(AcceptedPush {
        sha256: Sha256::digest(&raw.body).into(),
        raw,
        format,
        form_payload,
        push,
    }))
}

fn rejected(raw: RawPush, reason: RejectReason) -> Prepared {
    Prepared::Rejected(RejectedPush { raw, reason })
}

/// Prepares and stores one push; `Ok` only once it is durable.
pub async fn ingest(
    writer: &Writer,
    raw: RawPush,
    default_offset: FixedOffset,
) -> Result<WriteOutcome, StoreError> {
    writer.write(prepare(raw, default_offset)).await
}
