//! The points of the GraphQL-over-HTTP spec its audit suite checks and the
//! other tests do not (scripts/graphql-http-audit.sh runs the suite itself):
//! a POST must be declared JSON, a request needs a query, and a request that
//! failed before execution has no `data` entry.

use serde_json::{Value, json};

use crate::support::TestApp;

const MODERN: &str = "application/graphql-response+json";

async fn post(app: &TestApp, accept: &str, body: Value) -> (u16, Option<String>, Value) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("accept", accept)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned());
    (status, content_type, response.json().await.unwrap())
}

#[tokio::test]
async fn a_post_not_declared_json_is_refused_with_415_and_says_which_type_to_send() {
    let app = TestApp::start().await;
    let send = |content_type: Option<&'static str>| {
        let mut request = app
            .client
            .post(app.url("/graphql"))
            .body(r#"{"query":"{ __typename }"}"#);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send()
    };
    // No type, and the types a page of another site may send without asking.
    for content_type in [
        None,
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
    ] {
        let response = send(content_type).await.unwrap();
        assert_eq!(response.status(), 415, "{content_type:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.contains("Content-Type: application/json"),
            "{message}"
        );
    }
    for content_type in [
        "application/json",
        "Application/JSON; charset=utf-8",
        "application/graphql-response+json",
    ] {
        let response = send(Some(content_type)).await.unwrap();
        assert_eq!(response.status(), 200, "{content_type}");
    }
}

#[tokio::test]
async fn a_request_that_fails_before_execution_has_no_data_entry_in_either_media_type() {
    let app = TestApp::start().await;
    for query in [
        "{",
        "{ calls { nope } }",
        "query($n: Int!) { calls(first: $n) { totalCount } }",
    ] {
        let (status, content_type, body) = post(&app, MODERN, json!({ "query": query })).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(content_type.as_deref(), Some(MODERN));
        assert!(body.get("data").is_none(), "{query}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");

        let (status, _, body) = post(&app, "application/json", json!({ "query": query })).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert!(body.get("data").is_none(), "{query}: {body}");
        assert!(body["errors"][0]["message"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn a_result_that_ran_keeps_its_data_even_beside_errors() {
    let app = TestApp::start().await;
    let (status, _, body) = post(
        &app,
        MODERN,
        json!({ "query": "{ calls(first: 10000) { totalCount } }" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("data").is_some(), "{body}");
    assert!(body["errors"][0]["path"].is_array(), "{body}");

    let batch = json!([{ "query": "{ calls { totalCount } }" }, { "query": "{ nope }" }]);
    let (status, _, body) = post(&app, "application/json", batch).await;
    assert_eq!(status, 200);
    assert_eq!(body[0]["data"]["calls"]["totalCount"], 0, "{body}");
    assert!(body[1].get("data").is_none(), "{body}");
}

#[tokio::test]
async fn a_request_without_a_query_is_a_400_in_either_media_type() {
    let app = TestApp::start().await;
    for accept in [MODERN, "application/json"] {
        let (status, _, body) = post(&app, accept, json!({ "qeury": "{ __typename }" })).await;
        assert_eq!(status, 400, "{accept}: {body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("no `query`"),
            "{body}"
        );
    }
    let response = app
        .client
        .get(app.url("/graphql?variables=%7B%7D"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}
