//! What a GraphQL request may cost, tried as an attacker would: fragment
//! fan-outs, thousands of aliases, batches of large pages, answers of many
//! megabytes, requests that run too long. Each is refused with its code,
//! quickly, and the service answers the next request as usual.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use udesk_calls::Settings;

use crate::support::TestApp;
use crate::support::calls::generate_calls;

/// `query { __typename ...G<levels-1> }`, each fragment spreading the
/// previous one `spreads` times beside an aliased `__typename`: the issue's
/// attack (twice, 22 to 30 levels; ten times, 8 and 9 levels).
pub fn fan_out(levels: usize, spreads: usize) -> String {
    let mut query = format!("query {{ __typename ...G{} }}\n", levels - 1);
    query.push_str("fragment G0 on Query { __typename }\n");
    for level in 1..levels {
        let spread = vec![format!("...G{}", level - 1); spreads].join(" ");
        query.push_str(&format!(
            "fragment G{level} on Query {{ a{level}: __typename {spread} }}\n"
        ));
    }
    query
}

/// POSTs `body` (a request or a batch); the JSON answer and how long it took.
async fn timed(app: &TestApp, body: &Value) -> (Value, Duration) {
    let started = Instant::now();
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(body)
        .send()
        .await
        .unwrap();
    let answer = response.json().await.unwrap();
    (answer, started.elapsed())
}

fn code(result: &Value) -> &str {
    result["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

fn message(result: &Value) -> &str {
    result["errors"][0]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn fragment_fan_outs_are_refused_as_too_complex_in_milliseconds() {
    let app = TestApp::start().await;
    for (levels, spreads) in [(22, 2), (30, 2), (8, 10), (9, 10)] {
        let query = fan_out(levels, spreads);
        let mut fastest = Duration::MAX;
        for _ in 0..3 {
            let (answer, took) = timed(&app, &json!({ "query": query })).await;
            assert_eq!(code(&answer), "QUERY_TOO_COMPLEX", "{answer}");
            assert!(
                message(&answer).contains("once fragments are expanded"),
                "{answer}"
            );
            assert!(answer.get("data").is_none(), "{answer}");
            assert!(
                took < Duration::from_secs(1),
                "{levels}×{spreads}: {took:?}"
            );
            fastest = fastest.min(took);
        }
        // The fastest of three, so that a busy machine's hiccup does not count.
        assert!(
            fastest < Duration::from_millis(100),
            "{levels} levels × {spreads}: {fastest:?}"
        );
        eprintln!("fan-out {levels} levels × {spreads}: refused in {fastest:?}");
    }
    assert_eq!(
        app.data("{ calls { totalCount } }", json!({})).await["calls"]["totalCount"],
        0
    );
}

#[tokio::test]
async fn fragments_that_spread_themselves_are_bad_user_input() {
    let app = TestApp::start().await;
    let query = "{ ...A } fragment A on Query { __typename ...B } fragment B on Query { ...A }";
    let answer = app.graphql(query, json!({})).await;
    assert_eq!(code(&answer), "BAD_USER_INPUT", "{answer}");
    assert!(message(&answer).contains("spreads itself"), "{answer}");
}

#[tokio::test]
async fn forty_five_thousand_aliases_are_refused_in_milliseconds_and_a_few_hundred_are_not_needed()
{
    let app = TestApp::start().await;
    let aliases = |count: usize| {
        let fields: Vec<String> = (0..count)
            .map(|i| format!("c{i}: calls(first: 0) {{ totalCount }}"))
            .collect();
        format!("{{ {} }}", fields.join(" "))
    };
    let (answer, took) = timed(&app, &json!({ "query": aliases(45_000) })).await;
    assert_eq!(code(&answer), "QUERY_TOO_COMPLEX", "{answer}");
    assert!(message(&answer).contains("bytes"), "{answer}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    eprintln!("45,000 aliases: refused in {took:?}");

    // Short enough to be read, but more aliases than any dashboard needs.
    let answer = app.graphql(&aliases(300), json!({})).await;
    assert_eq!(code(&answer), "QUERY_TOO_COMPLEX", "{answer}");
    assert!(message(&answer).contains("300 aliased fields"), "{answer}");

    let dashboard = app.data(&aliases(40), json!({})).await;
    assert_eq!(dashboard["c39"]["totalCount"], 0);
}

/// A page costing 500 × (1 + relatedCalls 10 × (events 5 × 2 + 1 +
/// ticketNumbers 5 × 1 + 1) + 1) + 1 = 86,001: page sizes and a call's
/// lists multiply what their elements cost.
const PAGE_OF_86_001: &str =
    "calls(first: 500) { nodes { relatedCalls { events { occasion receivedAt } ticketNumbers } } }";

#[tokio::test]
async fn page_sizes_and_a_call_s_lists_multiply_the_cost_of_their_fields() {
    let app = TestApp::start().await;
    let two = format!("{{ a: {PAGE_OF_86_001} b: {PAGE_OF_86_001} }}");
    app.data(&two, json!({})).await;
    // rejectedPushes(first: 500): 500 × (nodes 1 + 2 + edges 1 + 1 + 2) + 1.
    let three = format!(
        "{{ a: {PAGE_OF_86_001} b: {PAGE_OF_86_001} c: {PAGE_OF_86_001} \
         rejectedPushes(first: 500) {{ nodes {{ id body }} edges {{ cursor node {{ id }} }} }} }}"
    );
    let answer = app.graphql(&three, json!({})).await;
    assert_eq!(code(&answer), "QUERY_TOO_COMPLEX", "{answer}");
    assert!(message(&answer).contains("it may cost 261504,"), "{answer}");
}

#[tokio::test]
async fn a_batch_costs_what_its_requests_cost_together_and_runs_whole_or_not_at_all() {
    let app = TestApp::start().await;
    let page = json!({ "query": format!("{{ {PAGE_OF_86_001} }}") });
    let (answers, _) = timed(&app, &json!([page, page])).await;
    for answer in answers.as_array().unwrap() {
        assert!(answer.get("errors").is_none(), "{answers}");
    }
    let (answers, _) = timed(&app, &json!([page, page, page])).await;
    let answers = answers.as_array().unwrap();
    assert_eq!(answers.len(), 3);
    for answer in answers {
        assert_eq!(code(answer), "QUERY_TOO_COMPLEX", "{answer}");
        assert!(
            message(answer).contains("may cost 258003 together"),
            "{answer}"
        );
        assert!(answer.get("data").is_none(), "{answer}");
    }

    // Fields once fragments are expanded count across the batch too: each
    // of these selects 1,024, five of them over 5,000.
    let mut doubling = String::from("{ __typename ...D9 } fragment D0 on Query { __typename }");
    for level in 1..10 {
        let previous = level - 1;
        doubling.push_str(&format!(
            " fragment D{level} on Query {{ __typename ...D{previous} ...D{previous} }}"
        ));
    }
    let wide = json!({ "query": doubling });
    let (alone, _) = timed(&app, &wide).await;
    assert!(alone.get("errors").is_none(), "{alone}");
    let (answers, took) = timed(&app, &json!(vec![wide; 5])).await;
    assert_eq!(answers.as_array().map(Vec::len), Some(5));
    for answer in answers.as_array().unwrap() {
        assert_eq!(code(answer), "QUERY_TOO_COMPLEX", "{answer}");
        assert!(
            message(answer).contains("the batch's queries together"),
            "{answer}"
        );
    }
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[tokio::test]
async fn an_answer_over_the_response_limit_is_one_error_not_the_body() {
    let app = TestApp::start_with(Settings {
        graphql_max_response_bytes: 32 * 1024,
        ..Settings::open_local()
    })
    .await;
    app.push_calls(&generate_calls(60, 7)).await;
    let payloads = "{ calls(first: 60) { nodes { conversationId events { payload } } } }";
    let small = "{ calls(first: 5) { nodes { conversationId events { payload } } } }";
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": payloads }))
        .send()
        .await
        .unwrap();
    let body = response.bytes().await.unwrap();
    assert!(body.len() < 1024, "{} bytes sent", body.len());
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(code(&answer), "RESPONSE_TOO_LARGE", "{answer}");
    assert!(message(&answer).contains("32768 bytes"), "{answer}");
    assert!(answer.get("data").is_none(), "{answer}");

    // The limit is the batch's: two answers that fit alone exceed it together.
    let (alone, _) = timed(&app, &json!({ "query": small })).await;
    assert!(alone.get("errors").is_none(), "{alone}");
    let alone_bytes = serde_json::to_vec(&alone).unwrap().len();
    let count = 32 * 1024 / alone_bytes + 1;
    assert!(count <= 10, "{alone_bytes} bytes alone");
    let (answers, _) = timed(&app, &json!(vec![json!({ "query": small }); count])).await;
    let answers = answers.as_array().unwrap();
    assert_eq!(answers.len(), count);
    assert!(
        answers
            .iter()
            .all(|answer| code(answer) == "RESPONSE_TOO_LARGE"),
        "{answers:?}"
    );
}

#[tokio::test]
async fn a_request_past_the_time_limit_is_stopped_there_with_query_timeout() {
    let app = TestApp::start_with(Settings {
        graphql_timeout: Duration::from_millis(100),
        ..Settings::open_local()
    })
    .await;
    app.push_calls(&generate_calls(300, 11)).await;
    // Seconds of work (in a debug build), most of it resolving values
    // already read, which never waits: the time limit must interrupt it
    // there too, not only where it waits for a read.
    let pages: Vec<String> = (0..240)
        .map(|i| format!("p{i}: calls(first: 300) {{ nodes {{ conversationId }} }}"))
        .collect();
    let heavy = format!("{{ {} }}", pages.join(" "));
    let (answer, took) = timed(&app, &json!({ "query": heavy })).await;
    assert_eq!(
        code(&answer),
        "QUERY_TIMEOUT",
        "{} bytes answered",
        answer.to_string().len()
    );
    assert!(message(&answer).contains("100ms"), "{answer}");
    assert!(answer.get("data").is_none(), "{answer}");
    assert!(
        took < Duration::from_millis(1500),
        "answered after {took:?}"
    );
    eprintln!("stopped at the 100 ms time limit, answered after {took:?}");
    let light = app
        .data("{ calls(first: 1) { totalCount } }", json!({}))
        .await;
    assert_eq!(light["calls"]["totalCount"], 300);
}
