//! The queries in `examples/` run as written against the vendor's sample
//! push, so what a frontend developer copies works.

use serde_json::{Value, json};

use crate::support::TestApp;

fn example(name: &str) -> (String, Value) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let query = std::fs::read_to_string(dir.join(format!("{name}.graphql"))).unwrap();
    let variables = std::fs::read_to_string(dir.join(format!("{name}.json")))
        .map(|text| serde_json::from_str(&text).unwrap())
        .unwrap_or(json!({}));
    (query, variables)
}

async fn app_with_sample() -> TestApp {
    let app = TestApp::start().await;
    app.push_json(&serde_json::from_str(include_str!("../../examples/seed-end.json")).unwrap())
        .await;
    app.push_json(
        &json!({ "conversation_id": 2, "occasion": "end", "workflow": "in", "total_time": 0,
        "customer_phone": "13900000000", "call_start_at": "2022-03-03 09:00:00" }),
    )
    .await;
    app
}

#[tokio::test]
async fn the_first_query_lists_the_latest_calls() {
    let app = app_with_sample().await;
    let (query, variables) = example("first-query");
    let data = app.data(&query, variables).await;
    assert_eq!(data["calls"]["totalCount"], json!(2));
    assert_eq!(data["calls"]["nodes"][0]["conversationId"], json!("54093"));
}

#[tokio::test]
async fn todays_calls_of_one_agent_finds_the_samples_call() {
    let app = app_with_sample().await;
    let (query, variables) = example("todays-calls-of-one-agent");
    let data = app.data(&query, variables).await;
    assert_eq!(data["calls"]["totalCount"], json!(1));
    assert_eq!(
        data["calls"]["nodes"][0]["ticketNumbers"],
        json!(["#12", "#13"])
    );
}

#[tokio::test]
async fn missed_inbound_calls_finds_the_unanswered_inbound_call() {
    let app = app_with_sample().await;
    let (query, variables) = example("missed-inbound-calls");
    let data = app.data(&query, variables).await;
    assert_eq!(
        data["calls"]["nodes"][0]["customerPhone"],
        json!("13900000000")
    );
    assert_eq!(data["calls"]["totalCount"], json!(1));
}

#[tokio::test]
async fn agent_stats_for_a_week_counts_the_samples_agent() {
    let app = app_with_sample().await;
    let (query, variables) = example("agent-stats-for-a-week");
    let data = app.data(&query, variables).await;
    let agent = data["callStats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["agentId"] == json!("1941"))
        .expect("a row for agent 1941");
    assert_eq!(agent["count"], json!(1));
    assert_eq!(agent["totalTime"], json!(81));
    assert_eq!(data["agents"][0]["nickName"], json!("测试客服01"));
}
