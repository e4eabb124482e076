//! `calls_readable`, the view for people: local wall-clock times in the
//! offset the call's times carry, readable durations and the labels of the
//! reference tables, read with plain SQLite and through Datasette.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::db::rows;
use crate::support::tools::{DATASETTE, Running, free_port, python_tool};

/// A call in New York's offset (its times carry -05:00), ended, answered.
fn call_in_new_york() -> Value {
    json!({
        "conversation_id": 880001,
        "occasion": "end",
        "timestamp": "2024-05-06 09:05:10 -0500",
        "call_start_at": "2024-05-06 09:00:00 -0500",
        "agent_ring_at": "2024-05-06T09:00:02.000-05:00",
        "workflow": "out_direct",
        "category": "transfer",
        "call_result": "客户接听",
        "total_time": 125,
        "queue_time": 3725,
        "defeat_cause": "关机",
        "ticket_numbers": ["#7", "#8"],
    })
}

/// A call whose times carry no offset (read in the default +08:00), still
/// in progress, with no talk time.
fn call_without_offsets() -> Value {
    json!({
        "conversation_id": 880002,
        "occasion": "agent_incall",
        "timestamp": "2022-03-03 14:27:10",
        "call_start_at": "2022-03-03 14:27:10",
        "workflow": "in",
        "category": "normal",
    })
}

async fn app_with_two_calls() -> TestApp {
    let app = TestApp::start().await;
    app.push_json(&call_in_new_york()).await;
    app.push_json(&call_without_offsets()).await;
    app
}

const COLUMNS: &str = "conversation_id, started_at, started_on, utc_offset, workflow_zh, \
    workflow_en, category_zh, category_en, last_occasion_en, answered, total_time, \
    total_seconds, queue_time, defeat_cause_en, ticket_numbers, agent_ring_at, status";

#[tokio::test]
async fn the_view_shows_local_times_readable_durations_and_labels() {
    let app = app_with_two_calls().await;
    let found = rows(&app.db(), &format!("SELECT {COLUMNS} FROM calls_readable"));
    assert_eq!(
        found,
        [
            [
                "880001",
                "2024-05-06 09:00:00",
                "2024-05-06",
                "-05:00",
                "外呼直拨",
                "direct outbound",
                "转接",
                "transfer",
                "the call is over",
                "yes",
                "0:02:05",
                "125",
                "1:02:05",
                "phone switched off",
                "#7, #8",
                "2024-05-06 09:00:02",
                "ENDED",
            ],
            [
                "880002",
                "2022-03-03 14:27:10",
                "2022-03-03",
                "+08:00",
                "呼入",
                "inbound",
                "普通通话",
                "ordinary call",
                "agent starts talking",
                "no",
                "NULL",
                "NULL",
                "NULL",
                "NULL",
                "NULL",
                "NULL",
                "IN_PROGRESS",
            ],
        ],
        "newest call first"
    );
}

/// `datasette serve` on the live database, on a free loopback port; returns
/// once it answers.
async fn datasette(db: &std::path::Path) -> (Running, String) {
    let program = tokio::task::spawn_blocking(|| python_tool(DATASETTE, "datasette"))
        .await
        .unwrap();
    let port = free_port();
    let server = Running::spawn(
        Command::new(program)
            .arg("serve")
            .arg(db)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let began = Instant::now();
    loop {
        match client.get(format!("{base}/-/versions.json")).send().await {
            Ok(response) if response.status() == 200 => break,
            _ if began.elapsed() > Duration::from_secs(60) => {
                panic!("Datasette did not answer on {base} within 60 s")
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    (server, base)
}

#[tokio::test]
async fn datasette_opens_the_view_with_its_local_times_and_labels() {
    let app = app_with_two_calls().await;
    let (_datasette, base) = datasette(&app.db_path).await;
    // The database is named after its file, calls.db.
    let response = reqwest::get(format!("{base}/calls/calls_readable.json?_shape=array"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let listed: Vec<Value> = response.json().await.unwrap();
    let ids: Vec<&Value> = listed.iter().map(|row| &row["conversation_id"]).collect();
    assert_eq!(ids, [&json!(880001), &json!(880002)]);
    let call = &listed[0];
    for (column, value) in [
        ("started_at", json!("2024-05-06 09:00:00")),
        ("utc_offset", json!("-05:00")),
        ("workflow_en", json!("direct outbound")),
        ("workflow_zh", json!("外呼直拨")),
        ("category_en", json!("transfer")),
        ("last_occasion_zh", json!("通话结束")),
        ("defeat_cause_en", json!("phone switched off")),
        ("total_time", json!("0:02:05")),
        ("ticket_numbers", json!("#7, #8")),
    ] {
        assert_eq!(call[column], value, "{column} in {call:#}");
    }

    // A push that arrives while Datasette is open shows on the next read.
    app.push_json(&json!({ "conversation_id": 880003, "occasion": "end",
        "call_start_at": "2024-06-01 08:00:00 +0800", "workflow": "out_auto" }))
        .await;
    let listed: Vec<Value> = reqwest::get(format!(
        "{base}/calls/calls_readable.json?_shape=array&conversation_id=880003"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["workflow_en"], json!("automatic outbound"));
}
