//! `callStats` over HTTP against figures computed here from the generated
//! calls, for every dimension, combinations, filters and the day boundary.

use std::collections::BTreeMap;

use chrono::{Duration, FixedOffset, TimeZone, Timelike};
use serde_json::{Value, json};
use udesk_calls::Settings;

use crate::support::TestApp;
use crate::support::calls::{CallSpec, beijing, generate_calls};

const STATS: &str = "query($filter: CallFilter, $groupBy: [CallDimension!]) {
    callStats(filter: $filter, groupBy: $groupBy) {
        agentId agentGroupId workflow callResult category defeatCause day hour
        count answeredCount totalTime avgTotalTime avgQueueTime avgRingTime maxTotalTime answerRate
        inboundCount abandonedCount abandonRate serviceLevel sl30: serviceLevel(thresholdSeconds: 30)
        sl25: serviceLevel(thresholdSeconds: 25) avgSpeedOfAnswer avgHandleTime longestWait
    }
}";

/// The response field of each dimension and the value a call has for it.
fn key_of(call: &CallSpec, dimension: &str, offset: FixedOffset) -> (&'static str, Value) {
    let local = call.started_at.with_timezone(&offset);
    match dimension {
        "AGENT" => ("agentId", json!(call.agent_id.to_string())),
        "AGENT_GROUP" => ("agentGroupId", json!(call.user_group_id.to_string())),
        "WORKFLOW" => ("workflow", json!(call.workflow)),
        "CALL_RESULT" => ("callResult", json!(call.call_result)),
        "CATEGORY" => ("category", json!(call.category)),
        "DEFEAT_CAUSE" => ("defeatCause", json!(call.defeat_cause)),
        "DAY" => ("day", json!(local.format("%Y-%m-%d").to_string())),
        "HOUR" => ("hour", json!(local.hour())),
        other => panic!("unknown dimension {other}"),
    }
}

/// A caller's wait: queueing then ringing, a missing value counting as 0.
fn wait(call: &CallSpec) -> i64 {
    call.queue_time.unwrap_or(0) + call.ring_time.unwrap_or(0)
}

/// The call-center measures of a group, computed from their definitions.
fn call_center_figures(group: &[&CallSpec]) -> Value {
    let inbound: Vec<&&CallSpec> = group.iter().filter(|c| c.workflow == "in").collect();
    let answered_inbound: Vec<&&CallSpec> =
        inbound.iter().copied().filter(|c| c.answered()).collect();
    let abandoned = inbound
        .iter()
        .filter(|c| !c.answered() && ["放弃排队", "客户速挂", "客户挂机"].contains(&c.call_result))
        .count();
    let share = |count: usize| {
        if inbound.is_empty() {
            Value::Null
        } else {
            json!(count as f64 / inbound.len() as f64)
        }
    };
    let served = |threshold: i64| {
        share(
            answered_inbound
                .iter()
                .filter(|c| wait(c) <= threshold)
                .count(),
        )
    };
    let answered: Vec<&&CallSpec> = group.iter().filter(|c| c.answered()).collect();
    json!({
        "inboundCount": inbound.len(),
        "abandonedCount": abandoned,
        "abandonRate": share(abandoned),
        "serviceLevel": served(20),
        "sl30": served(30),
        "sl25": served(25),
        "avgSpeedOfAnswer": mean(answered_inbound.iter().map(|c| wait(c))),
        "avgHandleTime": mean(answered.iter().map(|c| c.talk_key())),
        "longestWait": inbound.iter().map(|c| wait(c)).max(),
    })
}

fn mean(values: impl Iterator<Item = i64>) -> Value {
    let values: Vec<i64> = values.collect();
    if values.is_empty() {
        Value::Null
    } else {
        json!(values.iter().sum::<i64>() as f64 / values.len() as f64)
    }
}

/// The rows the service must answer, keyed by their grouping values.
fn expected(
    calls: &[&CallSpec],
    dimensions: &[&str],
    offset: FixedOffset,
) -> BTreeMap<String, Value> {
    let mut groups: BTreeMap<String, Vec<&CallSpec>> = BTreeMap::new();
    for call in calls {
        let key: Vec<Value> = dimensions
            .iter()
            .map(|d| key_of(call, d, offset).1)
            .collect();
        groups.entry(json!(key).to_string()).or_default().push(call);
    }
    groups
        .into_iter()
        .map(|(key, group)| {
            let answered = group.iter().filter(|c| c.answered()).count();
            let mut row = json!({
                "count": group.len(),
                "answeredCount": answered,
                "totalTime": group.iter().filter_map(|c| c.total_time).sum::<i64>(),
                "avgTotalTime": mean(group.iter().filter_map(|c| c.total_time)),
                "avgQueueTime": mean(group.iter().filter_map(|c| c.queue_time)),
                "avgRingTime": mean(group.iter().filter_map(|c| c.ring_time)),
                "maxTotalTime": group.iter().filter_map(|c| c.total_time).max(),
                "answerRate": answered as f64 / group.len() as f64,
            });
            let measures = call_center_figures(&group);
            row.as_object_mut()
                .unwrap()
                .extend(measures.as_object().unwrap().clone());
            (key, row)
        })
        .collect()
}

fn close(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-9,
        _ => a == b,
    }
}

async fn assert_stats(
    app: &TestApp,
    calls: &[&CallSpec],
    filter: Value,
    dimensions: &[&str],
    offset: FixedOffset,
) {
    let data = app
        .data(STATS, json!({ "filter": filter, "groupBy": dimensions }))
        .await;
    let rows = data["callStats"].as_array().unwrap();
    let wanted = expected(calls, dimensions, offset);
    assert_eq!(rows.len(), wanted.len(), "groups of {dimensions:?}");
    let all_keys = [
        "agentId",
        "agentGroupId",
        "workflow",
        "callResult",
        "category",
        "defeatCause",
        "day",
        "hour",
    ];
    for row in rows {
        let grouped: Vec<&str> = dimensions
            .iter()
            .map(|d| key_of(calls[0], d, offset).0)
            .collect();
        for key in all_keys.iter().filter(|k| !grouped.contains(k)) {
            assert_eq!(row[key], Value::Null, "{key} is null when not grouped by");
        }
        let key: Vec<Value> = grouped.iter().map(|field| row[field].clone()).collect();
        let want = wanted
            .get(&json!(key).to_string())
            .unwrap_or_else(|| panic!("unexpected group {key:?}"));
        for (measure, value) in want.as_object().unwrap() {
            assert!(
                close(&row[measure], value),
                "{measure} of {key:?}: got {}, want {value}",
                row[measure]
            );
        }
    }
}

/// Generated calls, some of them given the results an abandoned call has,
/// and some inbound calls without talk time.
fn calls_with_abandonment(count: usize, seed: u64) -> Vec<CallSpec> {
    let mut calls = generate_calls(count, seed);
    let results = ["放弃排队", "客户速挂", "客户挂机", "未选择队列", "排队超时"];
    for (index, call) in calls.iter_mut().enumerate() {
        if index % 3 == 0 {
            call.call_result = results[index / 3 % results.len()];
            if index % 2 == 0 {
                call.total_time = Some(0);
            }
        }
    }
    calls
}

#[tokio::test]
async fn every_dimension_alone_and_in_pairs_gives_the_independently_computed_figures() {
    let app = TestApp::start().await;
    let calls = calls_with_abandonment(120, 21);
    app.push_calls(&calls).await;
    let all: Vec<&CallSpec> = calls.iter().collect();
    let beijing = beijing();
    let dimensions = [
        "AGENT",
        "AGENT_GROUP",
        "WORKFLOW",
        "CALL_RESULT",
        "CATEGORY",
        "DEFEAT_CAUSE",
        "DAY",
        "HOUR",
    ];
    assert_stats(&app, &all, Value::Null, &[], beijing).await;
    for dimension in dimensions {
        assert_stats(&app, &all, Value::Null, &[dimension], beijing).await;
    }
    assert_stats(&app, &all, Value::Null, &["AGENT", "DAY"], beijing).await;
    assert_stats(
        &app,
        &all,
        Value::Null,
        &["WORKFLOW", "CALL_RESULT", "HOUR"],
        beijing,
    )
    .await;
}

#[tokio::test]
async fn stats_count_only_the_filtered_calls() {
    let app = TestApp::start().await;
    let calls = generate_calls(70, 22);
    app.push_calls(&calls).await;
    let inbound: Vec<&CallSpec> = calls.iter().filter(|c| c.workflow == "in").collect();
    assert_stats(
        &app,
        &inbound,
        json!({ "workflows": ["in"] }),
        &["AGENT"],
        beijing(),
    )
    .await;
    let none = app
        .data(STATS, json!({ "filter": { "agentIds": [] } }))
        .await;
    // Without grouping, nothing matching is one row of zeros, as a
    // dashboard's "0 calls today" needs.
    let rows = none["callStats"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{none}");
    assert_eq!(rows[0]["count"], 0);
    assert_eq!(rows[0]["totalTime"], 0);
    let grouped = app
        .data(
            "query($filter: CallFilter) { callStats(filter: $filter, groupBy: [AGENT]) { count } }",
            json!({ "filter": { "agentIds": [] } }),
        )
        .await;
    assert_eq!(grouped["callStats"], json!([]));
}

#[tokio::test]
async fn days_and_hours_follow_the_default_utc_offset() {
    let utc = FixedOffset::east_opt(0).unwrap();
    let app = TestApp::start_with(Settings {
        default_offset: utc,
        ..Settings::open_local()
    })
    .await;
    let calls = generate_calls(40, 23);
    app.push_calls(&calls).await;
    let all: Vec<&CallSpec> = calls.iter().collect();
    assert_stats(&app, &all, Value::Null, &["DAY"], utc).await;
    assert_stats(&app, &all, Value::Null, &["HOUR"], utc).await;
    // The same calls split differently into Beijing days, so the offset matters.
    assert_ne!(
        expected(&all, &["DAY"], utc),
        expected(&all, &["DAY"], beijing())
    );
}

#[tokio::test]
async fn day_rows_come_in_calendar_order() {
    let app = TestApp::start().await;
    app.push_calls(&generate_calls(30, 24)).await;
    let data = app.data(STATS, json!({ "groupBy": ["DAY"] })).await;
    let days: Vec<&str> = data["callStats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["day"].as_str().unwrap())
        .collect();
    let mut sorted = days.clone();
    sorted.sort();
    assert_eq!(days, sorted);
    assert!(days.len() >= 5);
}

#[tokio::test]
async fn ranges_cutting_hours_and_days_count_exactly_the_calls_inside() {
    let app = TestApp::start().await;
    let calls = calls_with_abandonment(150, 25);
    app.push_calls(&calls).await;
    let origin = beijing().with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    // Whole days; whole hours across a midnight; minutes inside an hour;
    // an open end; seconds off every boundary.
    let ranges = [
        (origin + Duration::days(1), Some(origin + Duration::days(3))),
        (
            origin + Duration::hours(20),
            Some(origin + Duration::hours(29)),
        ),
        (
            origin + Duration::minutes(61),
            Some(origin + Duration::minutes(95)),
        ),
        (origin + Duration::hours(50), None),
        (
            origin + Duration::seconds(3 * 3600 + 17),
            Some(origin + Duration::seconds(4 * 86_400 + 5 * 3600 - 41)),
        ),
    ];
    for (from, to) in ranges {
        let inside: Vec<&CallSpec> = calls
            .iter()
            .filter(|c| c.started_at >= from && to.is_none_or(|to| c.started_at < to))
            .collect();
        if inside.is_empty() {
            continue;
        }
        let range = json!({ "from": from.to_rfc3339(), "to": to.map(|t| t.to_rfc3339()) });
        let filter = json!({ "startedAt": range });
        assert_stats(&app, &inside, filter.clone(), &[], beijing()).await;
        for dimensions in [&["DAY"][..], &["HOUR"], &["AGENT"], &["CALL_RESULT", "DAY"]] {
            assert_stats(&app, &inside, filter.clone(), dimensions, beijing()).await;
        }
        let inbound: Vec<&CallSpec> = inside
            .iter()
            .copied()
            .filter(|c| c.workflow == "in")
            .collect();
        if !inbound.is_empty() {
            let filter = json!({ "startedAt": range, "workflows": ["in"] });
            assert_stats(&app, &inbound, filter, &["AGENT_GROUP"], beijing()).await;
        }
    }
}

#[tokio::test]
async fn a_service_level_threshold_out_of_range_is_refused() {
    let app = TestApp::start().await;
    for threshold in [-1, 86_401] {
        let query = format!("{{ callStats {{ serviceLevel(thresholdSeconds: {threshold}) }} }}");
        assert_eq!(app.error_code(&query, Value::Null).await, "BAD_USER_INPUT");
    }
}

#[tokio::test]
async fn each_figure_asked_alone_equals_the_figure_asked_with_all_others() {
    let app = TestApp::start().await;
    app.push_calls(&calls_with_abandonment(80, 26)).await;
    let figures = [
        "count",
        "answeredCount",
        "totalTime",
        "avgTotalTime",
        "avgQueueTime",
        "avgRingTime",
        "maxTotalTime",
        "answerRate",
        "inboundCount",
        "abandonedCount",
        "abandonRate",
        "serviceLevel",
        "sl30: serviceLevel(thresholdSeconds: 30)",
        "sl25: serviceLevel(thresholdSeconds: 25)",
        "avgSpeedOfAnswer",
        "avgHandleTime",
        "longestWait",
    ];
    for grouping in ["[]", "[AGENT_GROUP]", "[CALL_RESULT, DAY]"] {
        let all = app
            .data(
                &format!(
                    "{{ callStats(groupBy: {grouping}) {{ {} }} }}",
                    figures.join(" ")
                ),
                Value::Null,
            )
            .await;
        for figure in figures {
            let alone = app
                .data(
                    &format!("{{ callStats(groupBy: {grouping}) {{ {figure} }} }}"),
                    Value::Null,
                )
                .await;
            let name = figure.split(':').next().unwrap();
            let from_all: Vec<&Value> = all["callStats"]
                .as_array()
                .unwrap()
                .iter()
                .map(|row| &row[name])
                .collect();
            let by_itself: Vec<&Value> = alone["callStats"]
                .as_array()
                .unwrap()
                .iter()
                .map(|row| &row[name])
                .collect();
            assert_eq!(from_all, by_itself, "{figure} grouped by {grouping}");
        }
    }
}
