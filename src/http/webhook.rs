//! `POST /webhooks/udesk/calls?token=…`: receiving one Udesk push.
//!
//! The order of checks is what keeps the contract: the token first (a `401`
//! stores nothing), then the size (a `413` stores nothing), then the body goes
//! to the writer, and the answer waits for the commit. Every answer is JSON.

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::domain::masking::MaskedPhone;
use crate::domain::{RawPush, RejectReason, Rejection, prepare};
use crate::storage::{Intake, StoreError, WriteOutcome};
use crate::wire::{ContentEncoding, DecompressError, decompress};

use super::AppState;
use super::body_deadline::BodyReadTimeout;
use super::metrics::PushOutcome;
use super::tokens::token_allowed;

/// How long a push may wait for its commit before the answer is 503.
const COMMIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Why the webhook did not answer 200; each variant is one status.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("missing or wrong token in the push URL")]
    Unauthorized,
    #[error("the body is larger than the limit of {0} bytes")]
    TooLarge(usize),
    #[error("the request body could not be read: {0}")]
    Unreadable(String),
    #[error("{0}; send it again")]
    TimedOut(String),
    #[error(
        "the body's Content-Encoding {0:?} is not one this service reads; send it plain, gzip or deflate"
    )]
    UnsupportedEncoding(String),
    #[error("{reason}")]
    Rejected {
        reason: RejectReason,
        rejected_id: i64,
    },
    #[error("the push could not be stored; retry later")]
    Unavailable(#[source] StoreError),
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        let status = match &self {
            WebhookError::Unauthorized => StatusCode::UNAUTHORIZED,
            WebhookError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            WebhookError::Unreadable(_) => StatusCode::BAD_REQUEST,
            WebhookError::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
            WebhookError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            WebhookError::Rejected { reason, .. } => rejection_status(reason),
            WebhookError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        let mut body = json!({ "error": self.to_string() });
        match &self {
            WebhookError::Rejected { rejected_id, .. } => {
                body["rejected_id"] = json!(rejected_id);
            }
            WebhookError::Unavailable(cause) => {
                tracing::error!(error = %cause, "a push was answered 503");
            }
            _ => {}
        }
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        }
        response
    }
}

pub async fn receive_push(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, WebhookError> {
    let token = query_token(query.as_deref());
    if !token_allowed(&state.settings.webhook_tokens, token.as_deref()) {
        return Err(WebhookError::Unauthorized);
    }
    let limit = state.settings.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(WebhookError::TooLarge(limit));
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|error| {
        if caused_by::<http_body_util::LengthLimitError>(&error) {
            WebhookError::TooLarge(limit)
        } else if caused_by::<BodyReadTimeout>(&error) {
            WebhookError::TimedOut(error.to_string())
        } else {
            WebhookError::Unreadable(error.to_string())
        }
    })?;
    let encoding = ContentEncoding::parse(
        headers
            .get(header::CONTENT_ENCODING)
            .map(|v| v.to_str().unwrap_or("(not text)")),
    )
    .map_err(WebhookError::UnsupportedEncoding)?;
    let mut raw = RawPush {
        body: bytes.to_vec(),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        received_at: crate::domain::received_now(state.settings.default_offset),
    };
    // The push is kept as sent, less its transfer compression; a body that
    // does not decompress is kept as received, with the reason.
    let intake = match decompress(std::mem::take(&mut raw.body), encoding, limit) {
        Ok(body) => intake(RawPush { body, ..raw }, state.settings.default_offset),
        Err(DecompressError::TooLarge(limit)) => return Err(WebhookError::TooLarge(limit)),
        Err(corrupt) => {
            raw.body = bytes.to_vec();
            let reason = RejectReason::Malformed(corrupt.into());
            Intake::Rejected {
                http_status: rejection_status(&reason).as_u16(),
                rejection: Rejection { raw, reason },
            }
        }
    };
    // A push not committed in time is answered 503: Udesk retries it, and
    // should the first attempt commit after all, the retry is counted as a
    // redelivery, not stored twice.
    let customer_phone = match &intake {
        Intake::Push(accepted) => accepted.push.scalars.customer_phone.clone(),
        Intake::Rejected { .. } => None,
    };
    let write = state.store.writer().write(intake);
    let outcome = tokio::time::timeout(COMMIT_TIMEOUT, write)
        .await
        .map_err(|_| WebhookError::Unavailable(StoreError::Unavailable("commit timed out".into())))?
        .map_err(WebhookError::Unavailable)?;
    let customer_phone = customer_phone.as_deref().map(MaskedPhone);
    match outcome {
        WriteOutcome::Stored {
            conversation_id,
            event_id,
        } => {
            tracing::debug!(%conversation_id, event_id, customer_phone = customer_phone.map(tracing::field::display), "push stored");
            Ok(answered(
                PushOutcome::Stored,
                json!({
                    "ok": true,
                    "status": "stored",
                    "conversation_id": conversation_id.to_string(),
                    "event_id": event_id,
                }),
            ))
        }
        WriteOutcome::Duplicate {
            conversation_id,
            event_id,
            deliveries,
        } => {
            tracing::debug!(%conversation_id, event_id, deliveries, customer_phone = customer_phone.map(tracing::field::display), "push was a redelivery");
            Ok(answered(
                PushOutcome::Duplicate,
                json!({
                    "ok": true,
                    "status": "duplicate",
                    "conversation_id": conversation_id.to_string(),
                    "event_id": event_id,
                    "deliveries": deliveries,
                }),
            ))
        }
        WriteOutcome::Rejected {
            rejected_id,
            reason,
        } => {
            // The reason's text may quote the body (a token, a URL), so the
            // log names its kind; the text is in `rejected_pushes`.
            let kind = match &reason {
                RejectReason::Malformed(_) => "not a JSON object",
                RejectReason::Unusable(_) => "no usable conversation_id",
                RejectReason::CallFull { .. } => "the call holds the most pushes one may",
            };
            tracing::info!(rejected_id, status = %rejection_status(&reason), reason = kind, "a push was rejected");
            Err(WebhookError::Rejected {
                reason,
                rejected_id,
            })
        }
    }
}

/// A `200` labelled with its outcome for the metrics.
fn answered(outcome: PushOutcome, body: serde_json::Value) -> Response {
    let mut response = Json(body).into_response();
    response.extensions_mut().insert(outcome);
    response
}

/// The status a body that is no push is answered with: `400` for what is
/// not a JSON object, `422` for an object that names no call, or a call
/// that holds the most pushes one may.
pub fn rejection_status(reason: &RejectReason) -> StatusCode {
    match reason {
        RejectReason::Malformed(_) => StatusCode::BAD_REQUEST,
        RejectReason::Unusable(_) | RejectReason::CallFull { .. } => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
    }
}

/// Prepares a body for the writer, as the webhook answers it: a push, or a
/// rejection kept with its status. `import` keeps its lines the same way.
pub fn intake(raw: RawPush, default_offset: chrono::FixedOffset) -> Intake {
    match prepare(raw, default_offset) {
        Ok(push) => Intake::Push(Box::new(push)),
        Err(rejection) => Intake::Rejected {
            http_status: rejection_status(&rejection.reason).as_u16(),
            rejection,
        },
    }
}

/// The `token` query parameter; a malformed query is treated as no token.
fn query_token(query: Option<&str>) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query?).ok()?;
    pairs
        .into_iter()
        .find(|(key, _)| key == "token")
        .map(|(_, value)| value)
}

/// Whether `error` was caused, at any depth, by a `Cause`.
pub(super) fn caused_by<Cause: std::error::Error + 'static>(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if current.is::<Cause>() {
            return true;
        }
        source = current.source();
    }
    false
}
