//! `GET /recordings/{conversationId}` (and `…/ivr/{recordingId}` for an IVR
//! recording): the archived copy of a call's recording, with its
//! Content-Type, an `ETag` of its SHA-256, and `Range` answered with `206`
//! so a player can seek. An API token is needed as for GraphQL; `404` when
//! no copy is kept (not archived yet, failed, or no `--recordings-to`).
//!
//! The copy streams from the archive a chunk at a time: a long recording
//! holds no more memory than a short one.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio_util::io::ReaderStream;

use super::AppState;
use super::tokens::api_token_refusal;
use crate::recordings::archive::Archive;
use crate::storage::recordings::ArchivedRecording;

pub fn routes(state: &AppState) -> Router {
    Router::new()
        .route("/recordings/{conversation_id}", get(call_recording))
        .route(
            "/recordings/{conversation_id}/ivr/{recording_id}",
            get(ivr_recording),
        )
        .with_state(state.clone())
}

async fn call_recording(
    State(state): State<AppState>,
    Path(conversation_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    serve(state, &conversation_id, String::new(), headers).await
}

async fn ivr_recording(
    State(state): State<AppState>,
    Path((conversation_id, recording_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    serve(state, &conversation_id, recording_id, headers).await
}

async fn serve(
    state: AppState,
    conversation_id: &str,
    ivr_id: String,
    headers: HeaderMap,
) -> Response {
    if let Some(refusal) = api_token_refusal(&state.settings.api_tokens, &headers) {
        return refusal;
    }
    let Some(archive) = state.archive.clone() else {
        return not_found("recordings are not archived here (serve --recordings-to)");
    };
    let Ok(id) = conversation_id.parse::<i64>() else {
        return not_found("no call has that id");
    };
    let copy = match state.store.archived_copy(id, ivr_id).await {
        Ok(Some(copy)) => copy,
        Ok(None) => return not_found("no copy of this recording is kept (yet)"),
        Err(error) => {
            tracing::error!(%error, "a recording could not be looked up");
            return unavailable();
        }
    };
    let etag = format!("\"{}\"", copy.sha256);
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            // If-None-Match compares weakly: `W/"…"` names the same copy.
            tags.split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
        });
    if not_modified {
        return with_headers(StatusCode::NOT_MODIFIED, Body::empty(), &copy, &etag);
    }
    // A range of another version than the client holds is no use to it:
    // an `If-Range` that does not name this copy gets it whole.
    let same_copy = headers
        .get(header::IF_RANGE)
        .is_none_or(|value| value.to_str().is_ok_and(|tag| tag.trim() == etag));
    let range = headers
        .get(header::RANGE)
        .filter(|_| same_copy)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            http_range_header::parse_range_header(value).and_then(|r| r.validate(copy.bytes))
        });
    let (status, start, length) = match range {
        Some(Ok(ranges)) if ranges.len() == 1 => {
            let (first, last) = (*ranges[0].start(), *ranges[0].end());
            (StatusCode::PARTIAL_CONTENT, first, last - first + 1)
        }
        Some(Err(http_range_header::RangeUnsatisfiableError::Unsatisfiable)) => {
            let mut response = with_headers(
                StatusCode::RANGE_NOT_SATISFIABLE,
                Body::empty(),
                &copy,
                &etag,
            );
            insert(
                &mut response,
                header::CONTENT_RANGE,
                format!("bytes */{}", copy.bytes),
            );
            return response;
        }
        // No range, several, or one that cannot be read: the whole copy.
        _ => (StatusCode::OK, 0, copy.bytes),
    };
    let body = match stream(&archive, &copy, start, length).await {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, key = %copy.key, "an archived recording could not be read");
            return unavailable();
        }
    };
    let mut response = with_headers(status, body, &copy, &etag);
    insert(&mut response, header::CONTENT_LENGTH, length.to_string());
    if status == StatusCode::PARTIAL_CONTENT {
        let range = format!("bytes {start}-{}/{}", start + length - 1, copy.bytes);
        insert(&mut response, header::CONTENT_RANGE, range);
    }
    response
}

async fn stream(
    archive: &Arc<Archive>,
    copy: &ArchivedRecording,
    start: u64,
    length: u64,
) -> std::io::Result<Body> {
    let reader = archive.read(&copy.key, start, length).await?;
    Ok(Body::from_stream(ReaderStream::new(reader)))
}

fn with_headers(status: StatusCode, body: Body, copy: &ArchivedRecording, etag: &str) -> Response {
    let mut response = (status, body).into_response();
    insert(
        &mut response,
        header::CONTENT_TYPE,
        copy.content_type.clone(),
    );
    insert(&mut response, header::ETAG, etag.to_owned());
    insert(&mut response, header::ACCEPT_RANGES, "bytes".to_owned());
    // The same bytes forever: a copy is named by its hash.
    insert(
        &mut response,
        header::CACHE_CONTROL,
        "private, max-age=31536000, immutable".to_owned(),
    );
    response
}

fn insert(response: &mut Response, name: header::HeaderName, value: String) {
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(name, value);
    }
}

fn not_found(why: &str) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "error": why }))).into_response()
}

fn unavailable() -> Response {
    let body = json!({ "error": "the recording cannot be read now; retry shortly" });
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}
