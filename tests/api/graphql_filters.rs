//! `calls(filter:)` over HTTP: each condition alone, combined, and the
//! boundaries of time ranges, against expectations computed here in Rust.

use chrono::{Duration, FixedOffset, TimeZone};
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::calls::{CallSpec, beijing, generate_calls, ids_of};

const QUERY: &str = "query($filter: CallFilter) {
    calls(filter: $filter, orderBy: STARTED_AT_ASC, first: 500) { totalCount nodes { conversationId } }
}";

/// Asserts the filter selects exactly the calls `expected` accepts, in start
/// order, and that this is some of the calls but not all (so the case can fail).
async fn assert_selects(
    app: &TestApp,
    calls: &[CallSpec],
    filter: Value,
    expected: impl Fn(&CallSpec) -> bool,
) {
    let matching = calls.iter().filter(|call| expected(call)).count();
    assert!(
        0 < matching && matching < calls.len(),
        "{filter} does not discriminate: {matching}"
    );
    assert_selects_any(app, calls, filter, expected).await;
}

/// Like `assert_selects`, also for filters meant to match none or all.
async fn assert_selects_any(
    app: &TestApp,
    calls: &[CallSpec],
    filter: Value,
    expected: impl Fn(&CallSpec) -> bool,
) {
    let mut wanted: Vec<&CallSpec> = calls.iter().filter(|call| expected(call)).collect();
    wanted.sort_by_key(|call| (call.started_at, call.conversation_id));
    let wanted: Vec<i64> = wanted.iter().map(|call| call.conversation_id).collect();
    let data = app.data(QUERY, json!({ "filter": filter })).await;
    assert_eq!(ids_of(&data["calls"]["nodes"]), wanted, "filter {filter}");
    assert_eq!(
        data["calls"]["totalCount"],
        json!(wanted.len()),
        "totalCount of {filter}"
    );
}

async fn app_with_calls(count: usize, seed: u64) -> (TestApp, Vec<CallSpec>) {
    let app = TestApp::start().await;
    let calls = generate_calls(count, seed);
    app.push_calls(&calls).await;
    (app, calls)
}

#[tokio::test]
async fn each_list_filter_alone_returns_exactly_the_calls_with_one_of_its_values() {
    let (app, calls) = app_with_calls(60, 1).await;
    let a = &calls[0];
    let b = &calls[1];
    assert_selects(
        &app,
        &calls,
        json!({ "agentIds": [a.agent_id.to_string()] }),
        |c| c.agent_id == a.agent_id,
    )
    .await;
    assert_selects(
        &app,
        &calls,
        json!({ "agentEmails": [a.agent_email, b.agent_email] }),
        |c| c.agent_email == a.agent_email || c.agent_email == b.agent_email,
    )
    .await;
    assert_selects(&app, &calls, json!({ "agentGroupIds": ["10"] }), |c| {
        c.user_group_id == 10
    })
    .await;
    assert_selects(
        &app,
        &calls,
        json!({ "workflows": ["in", "out_auto"] }),
        |c| ["in", "out_auto"].contains(&c.workflow),
    )
    .await;
    assert_selects(
        &app,
        &calls,
        json!({ "callResults": ["客户接听"] }),
        |c| c.call_result == "客户接听",
    )
    .await;
    assert_selects(&app, &calls, json!({ "categories": ["transfer"] }), |c| {
        c.category == "transfer"
    })
    .await;
    assert_selects(&app, &calls, json!({ "statuses": ["IN_PROGRESS"] }), |c| {
        !c.ended
    })
    .await;
    assert_selects(&app, &calls, json!({ "statuses": ["ENDED"] }), |c| c.ended).await;
    assert_selects(&app, &calls, json!({ "lastOccasions": ["hangup"] }), |c| {
        !c.ended
    })
    .await;
    assert_selects(
        &app,
        &calls,
        json!({ "customerPhones": [a.customer_phone] }),
        |c| c.customer_phone == a.customer_phone,
    )
    .await;
    assert_selects(&app, &calls, json!({ "callIds": [a.call_id] }), |c| {
        c.call_id == a.call_id
    })
    .await;
    assert_selects(
        &app,
        &calls,
        json!({ "defeatCauses": ["关机", "空号"] }),
        |c| matches!(c.defeat_cause, Some("关机" | "空号")),
    )
    .await;
    assert_selects(&app, &calls, json!({ "surveys": ["满意"] }), |c| {
        c.survey == "满意"
    })
    .await;
}

#[tokio::test]
async fn an_empty_list_matches_nothing_and_an_absent_filter_matches_everything() {
    let (app, calls) = app_with_calls(20, 2).await;
    assert_selects_any(&app, &calls, json!({ "agentIds": [] }), |_| false).await;
    assert_selects_any(&app, &calls, json!({ "workflows": [] }), |_| false).await;
    assert_selects_any(&app, &calls, json!({}), |_| true).await;
    assert_selects_any(&app, &calls, Value::Null, |_| true).await;
}

#[tokio::test]
async fn boolean_and_talk_time_filters_select_by_talk_recording_and_tickets() {
    let (app, calls) = app_with_calls(60, 3).await;
    assert_selects(&app, &calls, json!({ "answered": true }), |c| c.answered()).await;
    assert_selects(&app, &calls, json!({ "answered": false }), |c| {
        !c.answered()
    })
    .await;
    assert_selects(
        &app,
        &calls,
        json!({ "talkTime": { "min": 100, "max": 250 } }),
        |c| c.total_time.is_some_and(|t| (100..=250).contains(&t)),
    )
    .await;
    assert_selects(&app, &calls, json!({ "talkTime": { "min": 0 } }), |c| {
        c.total_time.is_some()
    })
    .await;
    assert_selects(&app, &calls, json!({ "talkTime": { "max": 0 } }), |c| {
        c.total_time == Some(0)
    })
    .await;
    assert_selects(&app, &calls, json!({ "hasRecording": true }), |c| {
        c.record_url.is_some()
    })
    .await;
    assert_selects(&app, &calls, json!({ "hasRecording": false }), |c| {
        c.record_url.is_none()
    })
    .await;
    assert_selects(&app, &calls, json!({ "hasTickets": true }), |c| {
        !c.tickets.is_empty()
    })
    .await;
    assert_selects(&app, &calls, json!({ "hasTickets": false }), |c| {
        c.tickets.is_empty()
    })
    .await;
}

#[tokio::test]
async fn combined_conditions_must_all_hold() {
    let (app, calls) = app_with_calls(80, 4).await;
    let agent = calls[0].agent_id;
    let from = beijing().with_ymd_and_hms(2024, 5, 2, 0, 0, 0).unwrap();
    let to = beijing().with_ymd_and_hms(2024, 5, 4, 0, 0, 0).unwrap();
    let filter = json!({
        "agentIds": [agent.to_string()],
        "workflows": ["in", "out_direct", "out_callback"],
        "startedAt": { "from": from.to_rfc3339(), "to": to.to_rfc3339() },
        "answered": true,
    });
    assert_selects(&app, &calls, filter, |c| {
        c.agent_id == agent
            && ["in", "out_direct", "out_callback"].contains(&c.workflow)
            && c.started_at >= from
            && c.started_at < to
            && c.answered()
    })
    .await;
    let filter = json!({
        "statuses": ["ENDED"],
        "hasRecording": true,
        "hasTickets": true,
        "categories": ["normal", "consult"],
        "talkTime": { "min": 1 },
    });
    assert_selects(&app, &calls, filter, |c| {
        c.ended
            && c.record_url.is_some()
            && !c.tickets.is_empty()
            && ["normal", "consult"].contains(&c.category)
            && c.total_time.is_some_and(|t| t >= 1)
    })
    .await;
}

/// Calls exactly on, just before and just after the boundaries.
fn boundary_calls() -> Vec<CallSpec> {
    let template = generate_calls(1, 5).remove(0);
    let from = beijing().with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap();
    let to = beijing().with_ymd_and_hms(2024, 6, 2, 0, 0, 0).unwrap();
    [
        from - Duration::seconds(1),
        from,
        from + Duration::hours(12),
        to - Duration::seconds(1),
        to,
    ]
    .into_iter()
    .enumerate()
    .map(|(index, started_at)| CallSpec {
        conversation_id: 9_000 + index as i64,
        call_id: format!("boundary-{index}"),
        started_at,
        ..template.clone()
    })
    .collect()
}

#[tokio::test]
async fn time_ranges_include_from_and_exclude_to_in_any_offset() {
    let app = TestApp::start().await;
    let calls = boundary_calls();
    app.push_calls(&calls).await;
    let inside = |c: &CallSpec| (9_001..=9_003).contains(&c.conversation_id);
    // The same instants written in Beijing time, in UTC with Z, and at -05:00.
    for (from, to) in [
        ("2024-06-01T00:00:00+08:00", "2024-06-02T00:00:00+08:00"),
        ("2024-05-31T16:00:00Z", "2024-06-01T16:00:00Z"),
        ("2024-05-31T11:00:00-05:00", "2024-06-01T11:00:00-05:00"),
    ] {
        assert_selects(
            &app,
            &calls,
            json!({ "startedAt": { "from": from, "to": to } }),
            inside,
        )
        .await;
    }
    assert_selects(
        &app,
        &calls,
        json!({ "startedAt": { "from": "2024-06-01T00:00:00+08:00" } }),
        |c| c.conversation_id >= 9_001,
    )
    .await;
    assert_selects(
        &app,
        &calls,
        json!({ "startedAt": { "to": "2024-06-01T00:00:00+08:00" } }),
        |c| c.conversation_id == 9_000,
    )
    .await;
    let utc = FixedOffset::east_opt(0).unwrap();
    let data = app
        .data(
            "{ call(conversationId: \"9001\") { startedAt } }",
            json!({}),
        )
        .await;
    let started: chrono::DateTime<FixedOffset> =
        data["call"]["startedAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        started.with_timezone(&utc).to_rfc3339(),
        "2024-05-31T16:00:00+00:00"
    );
}

#[tokio::test]
async fn a_time_without_an_offset_or_an_id_that_is_not_a_number_is_bad_user_input() {
    let app = TestApp::start().await;
    for filter in [
        json!({ "startedAt": { "from": "2024-06-01 00:00:00" } }),
        json!({ "startedAt": { "from": "yesterday" } }),
        json!({ "agentIds": ["agent-7"] }),
        json!({ "agentGroupIds": ["x"] }),
    ] {
        assert_eq!(
            app.error_code(QUERY, json!({ "filter": filter })).await,
            "BAD_USER_INPUT",
            "{filter}"
        );
    }
    let inline = "{ calls(filter: { startedAt: { to: \"not a time\" } }) { totalCount } }";
    assert_eq!(app.error_code(inline, json!({})).await, "BAD_USER_INPUT");
}

#[tokio::test]
async fn a_filter_with_more_than_a_thousand_values_is_refused_as_bad_input() {
    let app = TestApp::start().await;
    let phones: Vec<String> = (0..1001).map(|i| format!("0{i:010}")).collect();
    let query = "query($filter: CallFilter) { calls(filter: $filter) { totalCount } }";
    let code = app
        .error_code(query, json!({ "filter": { "customerPhones": phones } }))
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
    let within: Vec<String> = phones.into_iter().take(1000).collect();
    let data = app
        .data(query, json!({ "filter": { "customerPhones": within } }))
        .await;
    assert_eq!(data["calls"]["totalCount"], 0);
}
