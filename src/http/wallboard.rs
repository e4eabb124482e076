//! `GET /wallboard`: a page for a wall-mounted screen, served by the binary.
//!
//! Today's figures per agent group, calls per hour and the latest calls,
//! kept current by the `callUpdated` subscription. Its script and style are
//! files of `assets/wallboard/` (hand-written, nothing from a CDN, no
//! library), embedded at compile time, so the page works without internet
//! access, and its Content-Security-Policy allows scripts of this origin
//! alone. The page holds no data: it asks for the API token when a query
//! is answered `401`, and keeps it in the tab's `sessionStorage` only.
//!
//! "Today" starts at midnight in the service's default UTC offset, given
//! to the script in a `<meta>` tag.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::FixedOffset;

/// What the page may load: its own files, and its queries (HTTP and
/// WebSocket) to this origin.
pub const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const PAGE: &str = include_str!("../../assets/wallboard/wallboard.html");

/// `GET /wallboard`, with the service's default offset filled in.
pub async fn page(State(offset): State<FixedOffset>) -> Response {
    let page = PAGE.replace("{{offset}}", &offset.to_string());
    (
        [
            (header::CONTENT_SECURITY_POLICY, PAGE_POLICY),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Html(page),
    )
        .into_response()
}

/// `GET /wallboard/{file}`: the page's script and style.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, content_type): (&'static [u8], &str) = match file.as_str() {
        "wallboard.js" => (
            include_bytes!("../../assets/wallboard/wallboard.js"),
            "text/javascript; charset=utf-8",
        ),
        "wallboard.css" => (
            include_bytes!("../../assets/wallboard/wallboard.css"),
            "text/css; charset=utf-8",
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
