//! GraphiQL, served from the binary itself.
//!
//! The IDE's scripts are embedded (`assets/graphiql/`, see its README), not
//! loaded from a CDN, so the page works on a VM or an intranet without
//! internet access. The page holds no data: queries it sends carry the token
//! a user types into its headers editor.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// The query GraphiQL opens with: the README's first query.
const FIRST_QUERY: &str = include_str!("../../examples/first-query.graphql");

/// The GraphiQL page, for `GET /graphql` from a browser.
pub fn page() -> Html<String> {
    let first_query = serde_json::to_string(FIRST_QUERY).expect("a string serializes");
    Html(format!(
        r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>udesk-calls · GraphiQL</title>
  <link rel="stylesheet" href="graphiql/graphiql.min.css">
  <style>body {{ margin: 0; }} #graphiql {{ height: 100vh; }}</style>
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <script src="graphiql/react.production.min.js"></script>
  <script src="graphiql/react-dom.production.min.js"></script>
  <script src="graphiql/graphiql.min.js"></script>
  <script>
    const fetcher = GraphiQL.createFetcher({{ url: location.pathname }});
    ReactDOM.createRoot(document.getElementById('graphiql')).render(
      React.createElement(GraphiQL, {{
        fetcher,
        defaultQuery: {first_query},
        shouldPersistHeaders: true,
        defaultEditorToolsVisibility: 'headers',
      }}),
    );
  </script>
</body>
</html>
"#
    ))
}

/// `GET /graphiql/{file}`: the IDE's scripts and styles.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, content_type): (&'static [u8], &str) = match file.as_str() {
        "graphiql.min.js" => (
            include_bytes!("../../assets/graphiql/graphiql.min.js"),
            "text/javascript; charset=utf-8",
        ),
        "graphiql.min.css" => (
            include_bytes!("../../assets/graphiql/graphiql.min.css"),
            "text/css; charset=utf-8",
        ),
        "react.production.min.js" => (
            include_bytes!("../../assets/graphiql/react.production.min.js"),
            "text/javascript; charset=utf-8",
        ),
        "react-dom.production.min.js" => (
            include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
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
