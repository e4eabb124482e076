//! `GET /` for whoever opens the service's address first: a page that
//! links what the service serves, every link answered; and a path that
//! names nothing says where to look instead of an empty `404`.

use udesk_calls::Settings;

use crate::support::TestApp;

const API_TOKEN: &str = "home-token-3d9a";

#[tokio::test]
async fn the_home_page_links_what_the_service_serves_and_every_link_answers() {
    let mut settings = Settings::open_local();
    settings.api_tokens = vec![API_TOKEN.into()];
    let app = TestApp::start_with(settings).await;
    let response = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 200, "the page needs no token");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("default-src 'none'"), "{policy}");
    let page = response.text().await.unwrap();
    assert!(page.contains(env!("CARGO_PKG_VERSION")));
    let links: Vec<&str> = page
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    for wanted in [
        "/graphql",
        "/wallboard",
        "/export/calls.csv",
        "/schema.graphql",
        "/readyz",
    ] {
        assert!(links.contains(&wanted), "{wanted} in {links:?}");
    }
    for link in links {
        let answer = app
            .client
            .get(app.url(link))
            .header("accept", "text/html")
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{link}");
    }
    let schema = app
        .client
        .get(app.url("/schema.graphql"))
        .send()
        .await
        .unwrap();
    assert_eq!(schema.text().await.unwrap(), udesk_calls::graphql::sdl());
}

#[tokio::test]
async fn a_path_that_names_nothing_says_where_to_look() {
    let app = TestApp::start().await;
    let response = app.client.get(app.url("/calls")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("/calls") && error.contains("GET /"),
        "{error}"
    );
}
