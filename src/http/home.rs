//! `GET /`: a small page for whoever opens the service's address in a
//! browser first, linking what it serves (GraphiQL, the wallboard, an
//! export, the schema, health and metrics); `GET /schema.graphql`, the
//! schema's SDL; and the answer to a path that names nothing, which points
//! back here instead of being an empty `404`.
//!
//! None of them holds data, so none needs a token.

use axum::http::{StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

/// The page has no script, and its only style is its own.
const PAGE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const PAGE: &str = include_str!("../../assets/home/home.html");

/// `GET /`.
pub async fn page() -> Response {
    let page = PAGE.replace("{{version}}", env!("CARGO_PKG_VERSION"));
    ([(header::CONTENT_SECURITY_POLICY, PAGE_POLICY)], Html(page)).into_response()
}

/// `GET /schema.graphql`: the API's schema, as `udesk-calls schema` prints it.
pub async fn schema() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        crate::graphql::sdl(),
    )
        .into_response()
}

/// Any other path.
pub async fn not_found(uri: Uri) -> Response {
    nothing_at(uri.path())
}

/// The `404` of a path that names nothing.
pub fn nothing_at(path: &str) -> Response {
    let body = json!({ "error": format!("nothing is served at {path}; GET / lists what is") });
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}
