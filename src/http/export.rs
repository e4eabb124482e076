//! `GET /export/calls.csv?from=TIME&to=TIME` (and `calls.ndjson`): the calls
//! that started in the span, for a spreadsheet or a data tool, with an API
//! token like GraphQL. Without `from` and `to`, today's calls (midnight to
//! midnight in the service's default offset), so a link opens them.
//!
//! The answer streams a page of calls at a time, each read on a pooled
//! reader that is given back before the page is sent: a year's export holds
//! the memory of a page, and a slow client holds no reader. A few exports
//! run at once; another is answered `429`, to come back later.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::tokens::{bearer_token, token_allowed};
use crate::Settings;
use crate::export::{Encoder, Format, span_asked};
use crate::storage::Store;
use crate::storage::export::{ExportCursor, ExportSpan};

/// Exports served at once; each keeps a reader busy while it reads a page.
const EXPORTS_AT_ONCE: usize = 2;

/// What the export routes need.
#[derive(Clone)]
pub struct ExportState {
    pub store: Arc<Store>,
    pub settings: Arc<Settings>,
    running: Arc<Semaphore>,
}

impl ExportState {
    pub fn new(store: Arc<Store>, settings: Arc<Settings>) -> ExportState {
        ExportState {
            store,
            settings,
            running: Arc::new(Semaphore::new(EXPORTS_AT_ONCE)),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct Span {
    from: Option<String>,
    to: Option<String>,
}

/// `GET /export/{file}`.
pub async fn calls(
    State(state): State<ExportState>,
    Path(file): Path<String>,
    Query(span): Query<Span>,
    headers: HeaderMap,
) -> Response {
    if !token_allowed(&state.settings.api_tokens, bearer_token(&headers)) {
        let mut response = refused(
            StatusCode::UNAUTHORIZED,
            "a valid `Authorization: Bearer TOKEN` header is required".into(),
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"udesk-calls\""),
        );
        return response;
    }
    let format = match file.as_str() {
        "calls.csv" => Format::Csv,
        "calls.ndjson" => Format::Ndjson,
        _ => return super::home::nothing_at(&format!("/export/{file}")),
    };
    let offset = state.settings.default_offset;
    let (from, to) = match span_asked(
        span.from.as_deref(),
        span.to.as_deref(),
        ("from", "to"),
        offset,
        Utc::now(),
    ) {
        Ok(span) => span,
        Err(problem) => return refused(StatusCode::BAD_REQUEST, problem),
    };
    let Ok(permit) = state.running.clone().try_acquire_owned() else {
        let mut response = refused(
            StatusCode::TOO_MANY_REQUESTS,
            format!("{EXPORTS_AT_ONCE} exports are running; try again when one is done"),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return response;
    };
    let span = ExportSpan {
        from_ms: from.timestamp_millis(),
        to_ms: to.timestamp_millis(),
    };
    let name = format!(
        "attachment; filename=\"calls-{}-{}.{}\"",
        from.format("%Y%m%dT%H%M"),
        to.format("%Y%m%dT%H%M"),
        format.extension()
    );
    let body = Body::from_stream(pages(state.store.clone(), span, format, permit));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&name).unwrap_or(HeaderValue::from_static("attachment")),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

/// The bytes of the export, a page at a time; the permit is held until the
/// last page is read or the client leaves.
fn pages(
    store: Arc<Store>,
    span: ExportSpan,
    format: Format,
    permit: OwnedSemaphorePermit,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    struct Reading {
        store: Arc<Store>,
        encoder: Encoder,
        after: Option<ExportCursor>,
        _permit: OwnedSemaphorePermit,
    }
    let reading = Reading {
        store,
        encoder: Encoder::new(format),
        after: None,
        _permit: permit,
    };
    futures_util::stream::unfold(Some(reading), move |reading| async move {
        let mut reading = reading?;
        match reading.store.export_page(span, reading.after).await {
            Ok(page) => {
                let bytes = reading.encoder.page(&page);
                reading.after = page.next;
                let more = page.next.is_some();
                Some((Ok(bytes), more.then_some(reading)))
            }
            Err(error) => {
                // The status is sent: the client sees the answer break off.
                tracing::error!(%error, "an export could not be read");
                Some((
                    Err(std::io::Error::other("the export could not be read")),
                    None,
                ))
            }
        }
    })
}

fn refused(status: StatusCode, error: String) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}
