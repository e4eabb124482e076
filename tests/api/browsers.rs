//! What a web page can make a visitor's browser do to the service: a page
//! of another site is refused on the webhook and on GraphQL (unless
//! `--cors-origin` allows it), cannot send GraphQL in a type that skips the
//! CORS preflight, and cannot reach an open service through a rebound DNS
//! name; every answer forbids framing and carries a Content-Security-Policy.

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::json;
use udesk_calls::Settings;

use crate::support::calls::synthetic_call;
use crate::support::db::count;
use crate::support::{TestApp, WEBHOOK};

const EVIL: &str = "https://evil.example";
const TOKEN: &str = "api-token-0123456789";

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(name, value)| {
            (
                reqwest::header::HeaderName::from_static(name),
                HeaderValue::from_str(value).unwrap(),
            )
        })
        .collect()
}

async fn push_with(app: &TestApp, extra: HeaderMap) -> reqwest::Response {
    app.client
        .post(app.url(WEBHOOK))
        .headers(extra)
        .header("content-type", "text/plain")
        .body(synthetic_call(1, 1).remove(0))
        .send()
        .await
        .unwrap()
}

async fn query_with(app: &TestApp, extra: HeaderMap) -> reqwest::Response {
    app.client
        .post(app.url("/graphql"))
        .headers(extra)
        .json(&json!({ "query": "{ calls { totalCount } }" }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_push_from_a_page_of_another_site_is_refused_and_not_stored() {
    let app = TestApp::start().await;
    let refused = push_with(&app, headers(&[("origin", EVIL)])).await;
    assert_eq!(refused.status(), 403);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("another site"),
        "{body}"
    );
    assert_eq!(count(&app.db(), "SELECT count(*) FROM events"), 0);
    assert_eq!(count(&app.db(), "SELECT count(*) FROM rejected_pushes"), 0);

    // Even a CORS-allowed dashboard may not push: only Udesk pushes.
    let dashboard = TestApp::start_with(Settings {
        cors_origins: vec![EVIL.into()],
        ..Settings::open_local()
    })
    .await;
    assert_eq!(
        push_with(&dashboard, headers(&[("origin", EVIL)]))
            .await
            .status(),
        403
    );
    // Udesk sends no Origin.
    assert_eq!(push_with(&app, HeaderMap::new()).await.status(), 200);
}

#[tokio::test]
async fn graphql_refuses_other_sites_but_serves_its_own_page_and_allowed_origins() {
    let app = TestApp::start().await;
    let refused = query_with(&app, headers(&[("origin", EVIL)])).await;
    assert_eq!(refused.status(), 403);
    let own = format!("http://{}", app.address);
    assert_eq!(
        query_with(&app, headers(&[("origin", &own)]))
            .await
            .status(),
        200
    );
    let other_port = format!("http://127.0.0.1:{}", app.address.port() + 1);
    assert_eq!(
        query_with(&app, headers(&[("origin", &other_port)]))
            .await
            .status(),
        403
    );
    // A preflight of another site is refused before CORS is considered.
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/graphql"))
        .header("origin", EVIL)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 403);

    let allowing = TestApp::start_with(Settings {
        cors_origins: vec![EVIL.into()],
        ..Settings::open_local()
    })
    .await;
    let allowed = query_with(&allowing, headers(&[("origin", EVIL)])).await;
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.headers()["access-control-allow-origin"], EVIL);
}

#[tokio::test]
async fn a_cross_site_request_without_origin_is_refused_but_a_followed_link_is_not() {
    let app = TestApp::start().await;
    let url = app.url("/graphql?query=%7B__typename%7D");
    let image = app
        .client
        .get(&url)
        .headers(headers(&[
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "no-cors"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(image.status(), 403);
    let link = app
        .client
        .get(&url)
        .headers(headers(&[
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "navigate"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(link.status(), 200);
}

#[tokio::test]
async fn graphql_refuses_every_type_a_page_can_post_without_a_preflight() {
    let app = TestApp::start().await;
    let query = r#"{"query":"{ calls { totalCount } }"}"#;
    for content_type in [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let response = app
            .client
            .post(app.url("/graphql"))
            .header("content-type", content_type)
            .body(query)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 415, "{content_type}");
    }
}

#[tokio::test]
async fn an_open_service_answers_only_requests_addressed_to_a_loopback_name() {
    let app = TestApp::start().await;
    let port = app.address.port();
    for host in [
        format!("evil.example:{port}"),
        "evil.example".to_owned(),
        format!("127.0.0.1.nip.io:{port}"),
    ] {
        let push = push_with(&app, headers(&[("host", &host)])).await;
        assert_eq!(push.status(), 403, "{host}");
        let query = query_with(&app, headers(&[("host", &host)])).await;
        assert_eq!(query.status(), 403, "{host}");
        let metrics = app
            .client
            .get(app.url("/metrics"))
            .header("host", &host)
            .send()
            .await
            .unwrap();
        assert_eq!(metrics.status(), 403, "{host}");
    }
    assert_eq!(count(&app.db(), "SELECT count(*) FROM events"), 0);
    for host in [
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "localhost".to_owned(),
    ] {
        assert_eq!(
            query_with(&app, headers(&[("host", &host)])).await.status(),
            200,
            "{host}"
        );
    }
    // Probes answer whatever the name: a supervisor may use any.
    let probe = app
        .client
        .get(app.url("/livez"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 200);
}

#[tokio::test]
async fn with_tokens_any_host_name_is_served() {
    let app = TestApp::start_with(Settings {
        api_tokens: vec![TOKEN.into()],
        ..Settings::open_local()
    })
    .await;
    let query = query_with(
        &app,
        headers(&[
            ("host", "calls.example.com"),
            ("authorization", &format!("Bearer {TOKEN}")),
        ]),
    )
    .await;
    assert_eq!(query.status(), 200);
    // The webhook has no token here: it is still open, so still guarded.
    let push = push_with(&app, headers(&[("host", "calls.example.com")])).await;
    assert_eq!(push.status(), 403);
}

#[tokio::test]
async fn graphiql_runs_only_its_own_files_cannot_be_framed_and_keeps_no_token() {
    let app = TestApp::start().await;
    let page = app
        .client
        .get(app.url("/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let script_src = policy
        .split(';')
        .map(str::trim)
        .find(|directive| directive.starts_with("script-src"))
        .unwrap_or_else(|| panic!("no script-src: {policy}"));
    assert_eq!(script_src, "script-src 'self'");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    let html = page.text().await.unwrap();
    let scripts: Vec<&str> = html.split("<script").skip(1).collect();
    assert!(scripts.len() >= 4, "{html}");
    assert!(
        scripts
            .iter()
            .all(|tag| tag.trim_start().starts_with("src=") && tag.contains("></script>")),
        "an inline script: {html}"
    );
    assert!(!html.contains("<style"), "an inline style: {html}");

    let start = app
        .client
        .get(app.url("/graphiql/start.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 200);
    let start = start.text().await.unwrap();
    assert!(start.contains("shouldPersistHeaders: false"), "{start}");
    assert!(start.contains("removeItem('graphiql:headers')"), "{start}");
}

#[tokio::test]
async fn answers_that_are_no_page_allow_nothing_and_cannot_be_framed() {
    let app = TestApp::start().await;
    for response in [
        push_with(&app, HeaderMap::new()).await,
        query_with(&app, HeaderMap::new()).await,
        app.client.get(app.url("/livez")).send().await.unwrap(),
        app.client
            .get(app.url("/no-such-page"))
            .send()
            .await
            .unwrap(),
    ] {
        let headers = response.headers();
        assert_eq!(headers["x-frame-options"], "DENY", "{}", response.url());
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(
            headers["content-security-policy"],
            "default-src 'none'; frame-ancestors 'none'"
        );
    }
}
