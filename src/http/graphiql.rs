//! GraphiQL, served from the binary itself.
//!
//! The IDE's scripts are embedded (`assets/graphiql/`, see its README), not
//! loaded from a CDN, so the page works on a VM or an intranet without
//! internet access. The page holds no data: queries it sends carry the token
//! a user types into its headers editor, and that token is kept in the tab
//! only, never in `localStorage`, where any script of the origin, and anyone
//! at the keyboard later, could read it.
//!
//! The page has no inline script or style: everything it runs is a file of
//! `/graphiql/`, so its Content-Security-Policy allows scripts of this
//! origin alone, and an injected `<script>` would not run.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// The query GraphiQL opens with: the README's first query.
const FIRST_QUERY: &str = include_str!("../../examples/first-query.graphql");

/// What the page may load: its own files, and its queries to this origin.
/// GraphiQL's icons are inline SVG (`data:`). Inline styles are refused too:
/// the only ones GraphiQL writes are two cosmetic ones in CodeMirror's
/// jump-to-line dialog.
pub const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>udesk-calls · GraphiQL</title>
  <link rel="stylesheet" href="graphiql/graphiql.min.css">
  <link rel="stylesheet" href="graphiql/page.css">
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <script src="graphiql/react.production.min.js"></script>
  <script src="graphiql/react-dom.production.min.js"></script>
  <script src="graphiql/graphiql.min.js"></script>
  <script src="graphiql/start.js"></script>
</body>
</html>
"#;

const PAGE_CSS: &str = "body { margin: 0; }\n#graphiql { height: 100vh; }\n";

/// Starts GraphiQL. Headers (the token) are never persisted; those an older
/// version of this page persisted are removed.
fn start_script() -> String {
    let first_query = serde_json::to_string(FIRST_QUERY).expect("a string serializes");
    format!(
        r#"'use strict';
(function () {{
  try {{
    localStorage.removeItem('graphiql:headers');
    localStorage.removeItem('graphiql:shouldPersistHeaders');
    const tabs = localStorage.getItem('graphiql:tabState');
    if (tabs) {{
      localStorage.setItem('graphiql:tabState', JSON.stringify(JSON.parse(tabs),
        (key, value) => (key === 'headers' ? null : value)));
    }}
  }} catch (ignored) {{}}
  const fetcher = GraphiQL.createFetcher({{ url: location.pathname }});
  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    React.createElement(GraphiQL, {{
      fetcher,
      defaultQuery: {first_query},
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: 'headers',
    }}),
  );
}})();
"#
    )
}

/// The GraphiQL page, for `GET /graphql` from a browser.
pub fn page() -> Response {
    ([(header::CONTENT_SECURITY_POLICY, PAGE_POLICY)], Html(PAGE)).into_response()
}

/// `GET /graphiql/{file}`: the IDE's scripts and styles.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, content_type): (std::borrow::Cow<'static, [u8]>, &str) = match file.as_str() {
        "start.js" => (
            start_script().into_bytes().into(),
            "text/javascript; charset=utf-8",
        ),
        "page.css" => (PAGE_CSS.as_bytes().into(), "text/css; charset=utf-8"),
        "graphiql.min.js" => (
            include_bytes!("../../assets/graphiql/graphiql.min.js").into(),
            "text/javascript; charset=utf-8",
        ),
        "graphiql.min.css" => (
            include_bytes!("../../assets/graphiql/graphiql.min.css").into(),
            "text/css; charset=utf-8",
        ),
        "react.production.min.js" => (
            include_bytes!("../../assets/graphiql/react.production.min.js").into(),
            "text/javascript; charset=utf-8",
        ),
        "react-dom.production.min.js" => (
            include_bytes!("../../assets/graphiql/react-dom.production.min.js").into(),
            "text/javascript; charset=utf-8",
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            // The files change only with a new release of the binary.
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}
