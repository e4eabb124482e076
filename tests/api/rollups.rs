//! The rollups against a recount from `calls`: after random pushes (late
//! fields, redeliveries, pushes after `end`, calls moving between hours,
//! agents and results, a purge), every rollup row equals a rebuild from the
//! calls, and every `callStats` answer equals the one counted from `calls`
//! alone. `PROPTEST_CASES` runs more cases than CI's default.

use chrono::{Duration, TimeZone};
use proptest::prelude::*;
use serde_json::{Value, json};
use udesk_calls::domain::RawPush;
use udesk_calls::http::webhook::intake;
use udesk_calls::storage::purge::PurgeTarget;
use udesk_calls::storage::read::filter::CallFilter;
use udesk_calls::storage::read::stats::{
    CallDimension, StatsQuery, call_stats, call_stats_from_calls,
};
use udesk_calls::storage::reprocess::reprocess;
use udesk_calls::storage::rollups::rebuild;
use udesk_calls::{Store, StoreOptions};

use crate::support::calls::beijing;
use crate::support::db::rows;

const OCCASIONS: [&str; 5] = ["agent_ring", "agent_incall", "hangup", "end", "end_info"];
const WORKFLOWS: [&str; 3] = ["in", "out_direct", "out_auto"];
const RESULTS: [&str; 5] = ["客户接听", "放弃排队", "客户挂机", "排队超时", "客户未接"];
const CATEGORIES: [&str; 2] = ["normal", "transfer"];
/// The pushes start within three days and a bit, so cells cut hours and days.
const SPAN_SECONDS: i64 = 3 * 86_400 + 7_200;

/// One push: which call, which occasion, and fields that may be missing.
#[derive(Clone, Debug)]
struct PushSpec {
    call: i64,
    occasion: usize,
    start_seconds: Option<i64>,
    agent: Option<i64>,
    outcome: (Option<usize>, Option<usize>, Option<usize>, Option<bool>),
    times: (Option<i64>, Option<i64>, Option<i64>),
    redelivered: bool,
}

fn push_spec() -> impl Strategy<Value = PushSpec> {
    (
        (
            0..14_i64,
            0..OCCASIONS.len(),
            proptest::option::of(0..SPAN_SECONDS),
        ),
        proptest::option::of(0..4_i64),
        (
            proptest::option::of(0..WORKFLOWS.len()),
            proptest::option::of(0..RESULTS.len()),
            proptest::option::of(0..CATEGORIES.len()),
            proptest::option::of(any::<bool>()),
        ),
        (
            proptest::option::of(0..400_i64),
            proptest::option::of(0..90_i64),
            proptest::option::of(0..40_i64),
        ),
        proptest::bool::weighted(0.15),
    )
        .prop_map(
            |((call, occasion, start_seconds), agent, outcome, times, redelivered)| PushSpec {
                call,
                occasion,
                start_seconds,
                agent,
                outcome,
                times,
                redelivered,
            },
        )
}

fn body(spec: &PushSpec, index: usize) -> Value {
    let origin = beijing().with_ymd_and_hms(2024, 3, 9, 22, 0, 0).unwrap();
    let stamp = origin + Duration::seconds(index as i64 * 7);
    let mut push = json!({
        "conversation_id": 7_000_000 + spec.call,
        "occasion": OCCASIONS[spec.occasion],
        "timestamp": stamp.format("%Y-%m-%d %H:%M:%S %z").to_string(),
    });
    let fields = push.as_object_mut().unwrap();
    let (workflow, result, category, cause) = spec.outcome;
    let (total, queue, ring) = spec.times;
    if let Some(start) = spec.start_seconds {
        let start = origin + Duration::seconds(start);
        fields.insert(
            "call_start_at".into(),
            json!(start.format("%Y-%m-%d %H:%M:%S").to_string()),
        );
    }
    if let Some(agent) = spec.agent {
        fields.insert("agent_id".into(), json!(100 + agent));
        fields.insert("user_group_id".into(), json!(10 + agent % 2));
    }
    let optional = [
        ("workflow", workflow.map(|w| json!(WORKFLOWS[w]))),
        ("call_result", result.map(|r| json!(RESULTS[r]))),
        ("category", category.map(|c| json!(CATEGORIES[c]))),
        (
            "defeat_cause",
            cause.map(|c| json!(if c { "空号" } else { "关机" })),
        ),
        ("total_time", total.map(|t| json!(t))),
        ("queue_time", queue.map(|q| json!(q))),
        ("ring_time", ring.map(|r| json!(r))),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            fields.insert(name.into(), value);
        }
    }
    push
}

fn options(path: std::path::PathBuf) -> StoreOptions {
    StoreOptions {
        path,
        default_offset: beijing(),
        readers: 2,
        wal_autocheckpoint: udesk_calls::storage::DEFAULT_WAL_AUTOCHECKPOINT,
        train_dictionary_after: udesk_calls::storage::bodies::TRAIN_AFTER,
    }
}

/// Stores the pushes: the first half one transaction each, the rest queued
/// together so group commits net several changes of a call.
async fn store_pushes(store: &Store, specs: &[PushSpec]) {
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    for (index, spec) in specs.iter().enumerate() {
        let body = serde_json::to_vec(&body(spec, index)).unwrap();
        if spec.redelivered {
            bodies.push(body.clone());
        }
        bodies.push(body);
    }
    let raw = |body: Vec<u8>| RawPush {
        body,
        content_type: None,
        received_at: chrono::Utc::now().with_timezone(&beijing()),
    };
    let half = bodies.len() / 2;
    let mut rest = bodies.split_off(half);
    for body in bodies {
        store
            .writer()
            .write(intake(raw(body), beijing()))
            .await
            .unwrap();
    }
    let mut pending = Vec::new();
    for body in rest.drain(..) {
        pending.push(
            store
                .writer()
                .enqueue(intake(raw(body), beijing()))
                .await
                .unwrap(),
        );
    }
    for write in pending {
        write.outcome().await.unwrap();
    }
}

/// Every rollup table's rows, sorted.
fn rollup_rows(conn: &rusqlite::Connection) -> Vec<Vec<Vec<String>>> {
    udesk_calls::storage::rollups::tables()
        .map(|(family, grain)| {
            let mut table = rows(conn, &format!("SELECT * FROM {}", family.table(grain)));
            table.sort();
            table
        })
        .collect()
}

fn assert_rollups_equal_a_recount(path: &std::path::Path) {
    let mut conn = rusqlite::Connection::open(path).unwrap();
    let kept = rollup_rows(&conn);
    let tx = conn.transaction().unwrap();
    rebuild::rebuild(&tx, 8 * 3600).unwrap();
    assert_eq!(kept, rollup_rows(&tx), "the rollups differ from a recount");
}

fn queries(cut: i64) -> Vec<StatsQuery> {
    let origin_ms = beijing()
        .with_ymd_and_hms(2024, 3, 9, 22, 0, 0)
        .unwrap()
        .timestamp_millis();
    let ranges = [
        (None, None),
        (
            Some(origin_ms + 2 * 3_600_000),
            Some(origin_ms + 50 * 3_600_000),
        ),
        (
            Some(origin_ms + cut * 1000),
            Some(origin_ms + cut * 1000 + 30 * 3_600_000 + 61_000),
        ),
        (Some(origin_ms + cut * 1000), None),
    ];
    let groupings: [&[CallDimension]; 7] = [
        &[],
        &[CallDimension::Agent],
        &[CallDimension::AgentGroup, CallDimension::Day],
        &[CallDimension::CallResult, CallDimension::Workflow],
        &[CallDimension::Hour],
        &[
            CallDimension::Category,
            CallDimension::DefeatCause,
            CallDimension::Day,
        ],
        &[CallDimension::Agent, CallDimension::CallResult],
    ];
    let mut queries = Vec::new();
    for (from, to) in ranges {
        for group_by in groupings {
            for filter in [
                CallFilter::default(),
                CallFilter {
                    workflows: Some(vec!["in".into()]),
                    ..CallFilter::default()
                },
                CallFilter {
                    agent_ids: Some(vec![udesk_calls::domain::UdeskId(101)]),
                    ..CallFilter::default()
                },
            ] {
                queries.push(StatsQuery {
                    filter: CallFilter {
                        started_from_ms: from,
                        started_before_ms: to,
                        ..filter
                    },
                    group_by: group_by.to_vec(),
                    offset_seconds: 8 * 3600,
                    thresholds: vec![20, 60],
                    measures: None,
                });
            }
        }
    }
    queries
}

fn assert_stats_equal_a_count_from_calls(path: &std::path::Path, cut: i64) {
    let conn = rusqlite::Connection::open(path).unwrap();
    for query in queries(cut) {
        let served = call_stats(&conn, &query).unwrap();
        let counted = call_stats_from_calls(&conn, &query).unwrap();
        assert_eq!(served, counted, "{query:?}");
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn rollups_equal_a_recount_after_any_pushes_and_a_purge(
        specs in proptest::collection::vec(push_spec(), 1..70),
        cut in 0..SPAN_SECONDS,
        purge in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.db");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let store = Store::open(&options(path.clone())).unwrap();
            store_pushes(&store, &specs).await;
            if purge {
                let origin = beijing().with_ymd_and_hms(2024, 3, 9, 22, 0, 0).unwrap();
                let before = origin + Duration::seconds(cut);
                store.writer().purge_chunk(PurgeTarget::StartedBefore(before)).await.unwrap();
            }
            store.close().await;
        });
        assert_rollups_equal_a_recount(&path);
        assert_stats_equal_a_count_from_calls(&path, cut);
    }
}

#[tokio::test]
async fn reprocess_rebuilds_the_rollups_from_the_calls_it_merges_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calls.db");
    let specs: Vec<PushSpec> = (0..120)
        .map(|i| PushSpec {
            call: i % 40,
            occasion: (i % 5) as usize,
            start_seconds: Some(i * 2_113 % SPAN_SECONDS),
            agent: Some(i % 4),
            outcome: (
                Some((i % 3) as usize),
                Some((i % 5) as usize),
                Some(0),
                None,
            ),
            times: (Some(i * 7 % 300), Some(i % 90), None),
            redelivered: false,
        })
        .collect();
    let store = Store::open(&options(path.clone())).unwrap();
    store_pushes(&store, &specs).await;
    store.close().await;
    let before = rollup_rows(&rusqlite::Connection::open(&path).unwrap());
    // Scramble the rollups: reprocess must count them again, not keep them.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("UPDATE rollup_day SET calls = calls + 5; DELETE FROM rollup_agent_hour;")
        .unwrap();
    let report = tokio::task::spawn_blocking(move || reprocess(&options(path), |_| {}).unwrap())
        .await
        .unwrap();
    assert_eq!(report.calls, 40);
    let path = dir.path().join("calls.db");
    assert_eq!(
        rollup_rows(&rusqlite::Connection::open(&path).unwrap()),
        before
    );
    assert_rollups_equal_a_recount(&path);
    assert_stats_equal_a_count_from_calls(&path, 4_000);
}

#[tokio::test]
async fn a_call_before_1970_stays_in_its_hour_when_its_cell_is_counted_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calls.db");
    let store = Store::open(&options(path.clone())).unwrap();
    // Half a second before 1970 is 07:59:59.5 in Beijing; the second push
    // lowers the call's talk time, the cell's maximum, so the cell is
    // counted again from the calls.
    for total_time in [10, 5] {
        let body = json!({
            "conversation_id": 1,
            "occasion": "end",
            "workflow": "in",
            "call_start_at": "1969-12-31T23:59:59.500Z",
            "total_time": total_time,
        });
        let raw = RawPush {
            body: serde_json::to_vec(&body).unwrap(),
            content_type: None,
            received_at: chrono::Utc::now().with_timezone(&beijing()),
        };
        store.writer().write(intake(raw, beijing())).await.unwrap();
    }
    store.close().await;
    assert_rollups_equal_a_recount(&path);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let by_hour = StatsQuery {
        group_by: vec![CallDimension::Hour],
        offset_seconds: 8 * 3600,
        ..StatsQuery::default()
    };
    let served = call_stats(&conn, &by_hour).unwrap();
    assert_eq!(served, call_stats_from_calls(&conn, &by_hour).unwrap());
    assert_eq!(
        (served.len(), served[0].hour, served[0].total_time),
        (1, Some(7), 5)
    );
}
