//! Relay paging over HTTP: forward and backward walks in every order yield
//! every call exactly once, in order; `pageInfo` follows the Relay spec; bad
//! sizes and cursors are errors, never a silently shorter page.

use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::calls::{CallSpec, generate_calls, ids_of};

const PAGE: &str = "query($order: CallOrder, $first: Int, $after: String, $last: Int, $before: String, $filter: CallFilter) {
    calls(filter: $filter, orderBy: $order, first: $first, after: $after, last: $last, before: $before) {
        totalCount
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        edges { cursor node { conversationId } }
        nodes { conversationId }
    }
}";

/// The ids in the order the service must list them, computed here.
fn expected_order(calls: &[CallSpec], order: &str) -> Vec<i64> {
    let mut sorted: Vec<&CallSpec> = calls.iter().collect();
    match order {
        "STARTED_AT_ASC" => {
            sorted.sort_by_key(|c| (c.started_at.timestamp_millis(), c.conversation_id))
        }
        "STARTED_AT_DESC" => sorted.sort_by_key(|c| {
            std::cmp::Reverse((c.started_at.timestamp_millis(), c.conversation_id))
        }),
        "TALK_TIME_ASC" => sorted.sort_by_key(|c| (c.talk_key(), c.conversation_id)),
        "TALK_TIME_DESC" => {
            sorted.sort_by_key(|c| std::cmp::Reverse((c.talk_key(), c.conversation_id)))
        }
        other => panic!("unknown order {other}"),
    }
    sorted.iter().map(|c| c.conversation_id).collect()
}

async fn page(app: &TestApp, variables: Value) -> Value {
    app.data(PAGE, variables).await["calls"].clone()
}

/// Walks forward with `first`/`after`, checking each page's `pageInfo`.
async fn walk_forward(app: &TestApp, order: &str, size: usize) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = page(
            app,
            json!({ "order": order, "first": size, "after": after }),
        )
        .await;
        let ids = ids_of(&page["nodes"]);
        let edge_ids: Vec<i64> = page["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                e["node"]["conversationId"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        assert_eq!(ids, edge_ids, "nodes and edges agree");
        assert_eq!(
            page["pageInfo"]["hasPreviousPage"],
            json!(!after.is_null()),
            "hasPreviousPage at {after}"
        );
        seen.extend(ids);
        if page["pageInfo"]["hasNextPage"] == json!(false) {
            return seen;
        }
        assert_eq!(
            page["nodes"].as_array().unwrap().len(),
            size,
            "a page before the last is full"
        );
        after = page["pageInfo"]["endCursor"].clone();
    }
}

/// Walks backward from the end with `last`/`before`.
async fn walk_backward(app: &TestApp, order: &str, size: usize) -> Vec<i64> {
    let mut pages: Vec<Vec<i64>> = Vec::new();
    let mut before = Value::Null;
    loop {
        let page = page(
            app,
            json!({ "order": order, "last": size, "before": before }),
        )
        .await;
        assert_eq!(
            page["pageInfo"]["hasNextPage"],
            json!(!before.is_null()),
            "hasNextPage at {before}"
        );
        pages.push(ids_of(&page["nodes"]));
        if page["pageInfo"]["hasPreviousPage"] == json!(false) {
            break;
        }
        before = page["pageInfo"]["startCursor"].clone();
    }
    pages.into_iter().rev().flatten().collect()
}

#[tokio::test]
async fn walking_forward_or_backward_in_every_order_yields_every_call_once_in_order() {
    let app = TestApp::start().await;
    let mut calls = generate_calls(61, 11);
    // Ties in both sort keys, broken by conversationId.
    for index in 1..4 {
        calls[index].started_at = calls[0].started_at;
        calls[index].total_time = calls[0].total_time;
    }
    app.push_calls(&calls).await;
    for order in [
        "STARTED_AT_DESC",
        "STARTED_AT_ASC",
        "TALK_TIME_DESC",
        "TALK_TIME_ASC",
    ] {
        let expected = expected_order(&calls, order);
        assert_eq!(
            walk_forward(&app, order, 7).await,
            expected,
            "forward in {order}"
        );
        assert_eq!(
            walk_backward(&app, order, 7).await,
            expected,
            "backward in {order}"
        );
        assert_eq!(
            walk_forward(&app, order, 61).await,
            expected,
            "one exact page in {order}"
        );
    }
}

#[tokio::test]
async fn the_default_order_is_latest_start_first_and_pages_hold_fifty() {
    let app = TestApp::start().await;
    let calls = generate_calls(55, 12);
    app.push_calls(&calls).await;
    let page = page(&app, json!({})).await;
    assert_eq!(page["totalCount"], json!(55));
    assert_eq!(
        ids_of(&page["nodes"]),
        expected_order(&calls, "STARTED_AT_DESC")[..50].to_vec()
    );
    assert_eq!(page["pageInfo"]["hasNextPage"], json!(true));
    assert_eq!(page["pageInfo"]["hasPreviousPage"], json!(false));
}

#[tokio::test]
async fn a_filtered_walk_counts_and_lists_only_matching_calls() {
    let app = TestApp::start().await;
    let calls = generate_calls(50, 13);
    app.push_calls(&calls).await;
    let matching: Vec<CallSpec> = calls
        .iter()
        .filter(|c| c.workflow == "in")
        .cloned()
        .collect();
    let mut after = Value::Null;
    let mut seen = Vec::new();
    loop {
        let page = page(
            &app,
            json!({ "filter": { "workflows": ["in"] }, "first": 4, "after": after }),
        )
        .await;
        assert_eq!(page["totalCount"], json!(matching.len()));
        seen.extend(ids_of(&page["nodes"]));
        if page["pageInfo"]["hasNextPage"] == json!(false) {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, expected_order(&matching, "STARTED_AT_DESC"));
}

#[tokio::test]
async fn an_empty_page_has_no_cursors_and_first_zero_is_allowed() {
    let app = TestApp::start().await;
    app.push_calls(&generate_calls(3, 14)).await;
    let empty = page(&app, json!({ "filter": { "agentIds": [] } })).await;
    assert_eq!(empty["totalCount"], json!(0));
    assert_eq!(empty["pageInfo"]["startCursor"], Value::Null);
    assert_eq!(empty["pageInfo"]["hasNextPage"], json!(false));
    let zero = page(&app, json!({ "first": 0 })).await;
    assert_eq!(zero["nodes"], json!([]));
    assert_eq!(zero["pageInfo"]["hasNextPage"], json!(true));
}

#[tokio::test]
async fn page_sizes_above_the_cap_or_negative_and_bad_cursors_are_bad_user_input() {
    let app = TestApp::start().await;
    app.push_calls(&generate_calls(3, 15)).await;
    let cursor =
        page(&app, json!({ "order": "STARTED_AT_ASC", "first": 1 })).await["pageInfo"]["endCursor"]
            .clone();
    for variables in [
        json!({ "first": 501 }),
        json!({ "last": 501 }),
        json!({ "first": -1 }),
        json!({ "first": 1, "last": 1 }),
        json!({ "after": "not-a-cursor!" }),
        json!({ "after": "bm90IG91cnM" }),
        json!({ "before": "%%%" }),
        json!({ "order": "STARTED_AT_DESC", "after": cursor }),
        json!({ "order": "TALK_TIME_ASC", "before": cursor }),
    ] {
        let response = app.graphql(PAGE, variables.clone()).await;
        assert_eq!(
            response["errors"][0]["extensions"]["code"],
            json!("BAD_USER_INPUT"),
            "{variables}: {response}"
        );
        assert_eq!(
            response["data"],
            Value::Null,
            "no partial page for {variables}"
        );
    }
    let at_cap = page(&app, json!({ "first": 500 })).await;
    assert_eq!(at_cap["nodes"].as_array().unwrap().len(), 3);
}
