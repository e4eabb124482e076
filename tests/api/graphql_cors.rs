//! CORS: a dashboard served from another origin may call `/graphql` from the
//! browser when its origin is configured, and only then.

use udesk_calls::Settings;

use crate::support::TestApp;

const DASHBOARD: &str = "https://wallboard.example.com";

async fn app_allowing(origins: &[&str]) -> TestApp {
    TestApp::start_with(Settings {
        api_tokens: vec!["api-token".into()],
        cors_origins: origins.iter().map(|o| o.to_string()).collect(),
        ..Settings::open_local()
    })
    .await
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, app.url("/graphql"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_configured_origin_passes_the_preflight_without_a_token_and_then_queries_with_one() {
    let app = app_allowing(&[DASHBOARD]).await;
    let answer = preflight(&app, DASHBOARD).await;
    assert!(answer.status().is_success(), "{}", answer.status());
    let headers = answer.headers();
    assert_eq!(headers["access-control-allow-origin"], DASHBOARD);
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );

    let response = app
        .client
        .post(app.url("/graphql"))
        .header("origin", DASHBOARD)
        .bearer_auth("api-token")
        .json(&serde_json::json!({ "query": "{ calls { totalCount } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], DASHBOARD);
}

#[tokio::test]
async fn another_origin_gets_no_cors_permission() {
    let app = app_allowing(&[DASHBOARD]).await;
    let answer = preflight(&app, "https://evil.example.net").await;
    assert!(!answer.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn without_configured_origins_no_page_of_another_origin_is_allowed() {
    let app = app_allowing(&[]).await;
    let answer = preflight(&app, DASHBOARD).await;
    assert!(!answer.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn a_star_allows_every_origin() {
    let app = app_allowing(&["*"]).await;
    let answer = preflight(&app, "http://localhost:5173").await;
    assert_eq!(answer.headers()["access-control-allow-origin"], "*");
}
