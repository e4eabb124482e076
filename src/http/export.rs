//! `GET /export/calls.csv?from=TIME&to=TIME` (and `calls.ndjson`): the calls
//! that started in the span, for a spreadsheet or a data tool, with an API
//! token like GraphQL. Without `from` and `to`, today's calls (midnight to
//! midnight in the service's default offset), so a link opens them.
//!
//! The answer streams a page of calls at a time, each read on a pooled
//! reader that is given back before the page is sent: a year's export holds
//! the memory of a page, and a slow client holds no reader. A few exports
//! run at once; another is answered `429`, to come back later, and a client
//! that stops reading gives its place up after a minute.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::tokens::api_token_refusal;
use crate::Settings;
use crate::export::{Encoder, Format, span_asked};
use crate::storage::Store;
use crate::storage::export::{ExportPage, ExportSpan};

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
    span: Result<Query<Span>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    if let Some(refusal) = api_token_refusal(&state.settings.api_tokens, &headers) {
        return refusal;
    }
    let format = match file.as_str() {
        "calls.csv" => Format::Csv,
        "calls.ndjson" => Format::Ndjson,
        _ => return super::home::nothing_at(&format!("/export/{file}")),
    };
    let span = match span {
        Ok(Query(span)) => span,
        Err(rejection) => {
            let problem = format!(
                "the query string could not be read: {}",
                rejection.body_text()
            );
            return refused(StatusCode::BAD_REQUEST, problem);
        }
    };
    let offset = state.settings.default_offset;
    let from_text = span.from.as_deref().map(plus_restored);
    let to_text = span.to.as_deref().map(plus_restored);
    let (from, to) = match span_asked(
        from_text.as_deref(),
        to_text.as_deref(),
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
    // The first page is read before the status is sent, so a database
    // that cannot be read is a 503, not a 200 cut short.
    let first = match state.store.export_page(span, None).await {
        Ok(page) => page,
        Err(error) => {
            tracing::error!(%error, "an export could not be read");
            return refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "the calls could not be read; try again".into(),
            );
        }
    };
    let body = Body::from_stream(send_pages(state.store.clone(), span, format, first, permit));
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

/// How long a page waits for the client to take the one before: a client
/// that stops reading gives its export's place up after this.
const CLIENT_PATIENCE: Duration = Duration::from_secs(60);

/// The bytes of the export, a page at a time, read by a task of their own
/// that holds the export's place (`permit`) until the last page is taken,
/// the client leaves, or it stops reading for `CLIENT_PATIENCE`. An export
/// that breaks off ends the body with an error, so the client sees it cut
/// short rather than a complete-looking file.
fn send_pages(
    store: Arc<Store>,
    span: ExportSpan,
    format: Format,
    first: ExportPage,
    permit: OwnedSemaphorePermit,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    let (pages, received) = mpsc::channel::<Vec<u8>>(1);
    let gave_up = Arc::new(AtomicBool::new(false));
    let giving_up = gave_up.clone();
    tokio::spawn(async move {
        let _place = permit;
        let mut encoder = Encoder::new(format);
        let mut page = first;
        loop {
            let bytes = encoder.page(&page);
            match tokio::time::timeout(CLIENT_PATIENCE, pages.send(bytes)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return, // the client left
                Err(_) => {
                    giving_up.store(true, Ordering::Release);
                    return;
                }
            }
            let Some(after) = page.next else { return };
            page = match store.export_page(span, Some(after)).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::error!(%error, "an export could not be read to its end");
                    giving_up.store(true, Ordering::Release);
                    return;
                }
            };
        }
    });
    futures_util::stream::unfold(Some(received), move |received| {
        let gave_up = gave_up.clone();
        async move {
            let mut received = received?;
            match received.recv().await {
                Some(bytes) => Some((Ok(bytes), Some(received))),
                None if gave_up.load(Ordering::Acquire) => {
                    Some((Err(std::io::Error::other("the export broke off")), None))
                }
                None => None,
            }
        }
    })
}

/// A time whose `+08:00` came through a query string unescaped, its `+`
/// read as a space (`2024-05-01T00:00:00 08:00`), with its `+` back.
fn plus_restored(time: &str) -> String {
    match time.rsplit_once(' ') {
        Some((before, offset))
            if before.contains('T') && offset.len() == 5 && offset.as_bytes()[2] == b':' =>
        {
            format!("{before}+{offset}")
        }
        _ => time.to_owned(),
    }
}

fn refused(status: StatusCode, error: String) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}
