//! `/graphql` as an HTTP endpoint: bearer tokens, GET and POST, media types,
//! GraphiQL, limits and error codes.

use serde_json::{Value, json};
use udesk_calls::Settings;

use crate::support::TestApp;

const SMALL: &str = "{ calls { totalCount } }";

async fn app_with_tokens(tokens: &[&str]) -> TestApp {
    TestApp::start_with(Settings {
        api_tokens: tokens.iter().map(|t| t.to_string()).collect(),
        ..Settings::open_local()
    })
    .await
}

async fn post(app: &TestApp, authorization: Option<&str>, body: Value) -> reqwest::Response {
    let mut request = app.client.post(app.url("/graphql")).json(&body);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn with_api_tokens_a_request_without_the_right_bearer_token_is_401_unauthenticated() {
    let app = app_with_tokens(&["s3cret"]).await;
    for authorization in [
        None,
        Some("Bearer wrong"),
        Some("s3cret"),
        Some("Basic s3cret"),
        Some("Bearer "),
    ] {
        let response = post(&app, authorization, json!({ "query": SMALL })).await;
        assert_eq!(response.status(), 401, "{authorization:?}");
        assert!(response.headers().contains_key("www-authenticate"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            json!("UNAUTHENTICATED")
        );
    }
    let get = app
        .client
        .get(app.url("/graphql?query=%7B__typename%7D"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 401);
    let response = post(&app, Some("Bearer s3cret"), json!({ "query": SMALL })).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["calls"]["totalCount"], json!(0));
}

#[tokio::test]
async fn during_a_rotation_both_tokens_are_accepted() {
    let app = app_with_tokens(&["old-token", "new-token"]).await;
    for token in ["old-token", "new-token"] {
        let response = post(
            &app,
            Some(&format!("Bearer {token}")),
            json!({ "query": SMALL }),
        )
        .await;
        assert_eq!(response.status(), 200, "{token}");
    }
    let response = post(&app, Some("Bearer older-token"), json!({ "query": SMALL })).await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn without_api_tokens_the_api_is_open() {
    let app = TestApp::start().await;
    assert_eq!(
        post(&app, None, json!({ "query": SMALL })).await.status(),
        200
    );
}

#[tokio::test]
async fn a_browser_gets_graphiql_and_the_page_needs_no_token() {
    let app = app_with_tokens(&["s3cret"]).await;
    let response = app
        .client
        .get(app.url("/graphql"))
        .header("accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        response
            .text()
            .await
            .unwrap()
            .to_lowercase()
            .contains("graphiql")
    );
}

#[tokio::test]
async fn a_query_over_get_runs_and_a_mutation_over_get_is_refused() {
    let app = TestApp::start().await;
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[
            (
                "query",
                "query($id: ID!) { call(conversationId: $id) { status } }",
            ),
            ("variables", "{\"id\":\"1\"}"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "data": { "call": null } }));
    let mutation = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "mutation { anything }")])
        .send()
        .await
        .unwrap();
    assert_eq!(mutation.status(), 405);
    assert_eq!(mutation.headers()["allow"], "POST");
}

#[tokio::test]
async fn the_graphql_response_media_type_is_used_when_accepted_and_json_otherwise() {
    let app = TestApp::start().await;
    let ask = |accept: &'static str, query: &'static str| {
        app.client
            .post(app.url("/graphql"))
            .header("accept", accept)
            .json(&json!({ "query": query }))
            .send()
    };
    let modern = ask(
        "application/graphql-response+json, application/json;q=0.9",
        SMALL,
    )
    .await
    .unwrap();
    assert_eq!(modern.status(), 200);
    assert_eq!(
        modern.headers()["content-type"],
        "application/graphql-response+json"
    );
    let legacy = ask("application/json", SMALL).await.unwrap();
    assert_eq!(legacy.headers()["content-type"], "application/json");
    // A query that cannot run: 400 in the new media type, 200 in the old.
    let invalid = ask("application/graphql-response+json", "{ calls { nope } }")
        .await
        .unwrap();
    assert_eq!(invalid.status(), 400);
    let body: Value = invalid.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        json!("BAD_USER_INPUT")
    );
    let legacy_invalid = ask("application/json", "{ calls { nope } }").await.unwrap();
    assert_eq!(legacy_invalid.status(), 200);
    let not_json = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body("{ not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
}

#[tokio::test]
async fn queries_over_the_depth_or_complexity_limit_are_refused_with_a_code() {
    let app = TestApp::start().await;
    // Deep but cheap: only nesting is over the limit.
    let deep = format!(
        "{{ __schema {{ types {{ fields {{ type {{ {} name {} }} }} }} }} }}",
        "ofType { ".repeat(13),
        "} ".repeat(13)
    );
    let response = app.graphql(&deep, json!({})).await;
    assert_eq!(
        response["errors"][0]["extensions"]["code"],
        json!("QUERY_TOO_COMPLEX"),
        "{response}"
    );
    assert!(
        response["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep"),
        "{response}"
    );
    let costly = "{ calls(first: 500) { nodes { relatedCalls { relatedCalls { relatedCalls { events { payload } } } } } } }";
    let response = app.graphql(costly, json!({})).await;
    assert_eq!(
        response["errors"][0]["extensions"]["code"],
        json!("QUERY_TOO_COMPLEX"),
        "{response}"
    );
}

#[tokio::test]
async fn a_batch_of_more_than_ten_requests_is_refused() {
    let app = TestApp::start().await;
    let batch: Vec<Value> = (0..11).map(|_| json!({ "query": SMALL })).collect();
    let response = post(&app, None, json!(batch)).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    let ten: Vec<Value> = (0..10).map(|_| json!({ "query": SMALL })).collect();
    let response = post(&app, None, json!(ten)).await;
    assert_eq!(response.status(), 200);
    let answers: Value = response.json().await.unwrap();
    assert_eq!(answers.as_array().map(Vec::len), Some(10));
}

#[tokio::test]
async fn the_introspection_query_graphiql_opens_with_is_within_the_limits() {
    let app = TestApp::start().await;
    let introspection = include_str!("../payloads/graphiql-introspection.graphql");
    let response = app.graphql(introspection, json!({})).await;
    assert!(response.get("errors").is_none(), "{response}");
    assert_eq!(response["data"]["__schema"]["queryType"]["name"], "Query");
}

#[tokio::test]
async fn a_dashboard_page_of_500_calls_with_all_their_details_is_within_the_limits() {
    let app = TestApp::start().await;
    let query = format!(
        "{{ calls(first: 500) {{ totalCount pageInfo {{ endCursor hasNextPage }} edges {{ cursor node {{ ...CallDetails }} }} }} }}\n{}",
        include_str!("../../examples/call-fields.graphql")
    );
    let response = app.graphql(&query, json!({})).await;
    assert!(response.get("errors").is_none(), "{response}");
}

#[tokio::test]
async fn syntax_errors_and_unknown_fields_carry_bad_user_input() {
    let app = TestApp::start().await;
    for query in ["{ calls {", "{ nothing }", "{ call { status } }"] {
        assert_eq!(
            app.error_code(query, json!({})).await,
            "BAD_USER_INPUT",
            "{query}"
        );
    }
    assert_eq!(
        app.error_code("{ call(conversationId: \"abc\") { status } }", json!({}))
            .await,
        "BAD_USER_INPUT"
    );
}
