//! Every filter and every grouping runs on an index: on a realistic data set,
//! with ANALYZE's statistics and without them (the service never runs
//! ANALYZE itself), `EXPLAIN QUERY PLAN` of the exact SQL the service builds
//! never shows a scan of the whole `calls` table.

use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;
use udesk_calls::domain::{CallStatus, ConversationId, UdeskId};
use udesk_calls::storage::read::calls::{count_sql, page_sql};
use udesk_calls::storage::read::stats::stats_sql;
use udesk_calls::storage::read::{CallDimension, CallFilter, CallOrder, PageQuery, Position};
use udesk_calls::{Store, StoreOptions};

const CALLS: i64 = 20_000;
const DAY_MS: i64 = 86_400_000;
const ORIGIN_MS: i64 = 1_714_492_800_000; // 2024-05-01T00:00:00+08:00

/// A database of calls spread like production: 90 days, 200 agents in 20
/// groups, 4 workflows, 12 results, some failures, recordings and tickets.
fn realistic_database(dir: &tempfile::TempDir, analyzed: bool) -> Connection {
    let path = dir.path().join("plans.db");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = Store::open(&StoreOptions {
            path: path.clone(),
            default_offset: chrono::FixedOffset::east_opt(8 * 3600).unwrap(),
            readers: 1,
            wal_autocheckpoint: udesk_calls::storage::DEFAULT_WAL_AUTOCHECKPOINT,
            train_dictionary_after: udesk_calls::storage::bodies::TRAIN_AFTER,
        })
        .unwrap();
        store.close().await;
    });
    let mut conn = Connection::open(&path).unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO calls (conversation_id, status, last_occasion, started_at, started_at_ms,
                    first_received_at, last_received_at, event_count, warning_count, call_id, agent_id,
                    agent_email, user_group_id, workflow, call_result, category, customer_phone,
                    total_time, queue_time, ring_time, defeat_cause, survey, record_url)
                 VALUES (?1, ?2, ?3, '2024-05-01T00:00:00+08:00', ?4, '2024-05-01T00:00:00+08:00',
                    '2024-05-01T00:00:00+08:00', 2, 0, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
            )
            .unwrap();
        let mut ticket = tx
            .prepare(
                "INSERT INTO tickets (conversation_id, position, ticket_number) VALUES (?1, 0, ?2)",
            )
            .unwrap();
        let workflows = ["in", "out_callback", "out_direct", "out_auto"];
        let categories = ["normal", "transfer", "consult"];
        let surveys = ["未评价", "满意", "不满意", "一般"];
        let causes = ["关机", "空号", "停机", "无人接听", "用户拒接"];
        for id in 0..CALLS {
            let agent = id * 7 % 200;
            let ended = id % 10 != 0;
            let talk = if id % 5 == 0 {
                None
            } else {
                Some(id * 13 % 600)
            };
            insert
                .execute(rusqlite::params![
                    id + 1_000_000,
                    if ended { "ENDED" } else { "IN_PROGRESS" },
                    if ended { "end" } else { "hangup" },
                    ORIGIN_MS + (id * 90 * DAY_MS / CALLS) + id % 3600 * 1000,
                    format!("series-{}", id / 2),
                    agent + 1000,
                    format!("agent{agent}@example.com"),
                    agent % 20,
                    workflows[(id % 4) as usize],
                    format!("result-{}", id % 12),
                    categories[(id % 3) as usize],
                    format!("1380000{:04}", id % 5000),
                    talk,
                    id % 60,
                    id % 30,
                    (id % 7 == 0).then(|| causes[(id % 5) as usize]),
                    surveys[(id % 4) as usize],
                    (id % 2 == 0).then(|| format!("http://records.example/{id}.wav")),
                ])
                .unwrap();
            if id % 9 == 0 {
                ticket
                    .execute(rusqlite::params![id + 1_000_000, format!("#{id}")])
                    .unwrap();
            }
        }
    }
    tx.commit().unwrap();
    if analyzed {
        conn.execute_batch("ANALYZE").unwrap();
    }
    conn
}

fn plan(conn: &Connection, sql: &str, params: &[SqlValue]) -> Vec<String> {
    let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    statement
        .query_map(rusqlite::params_from_iter(params), |row| {
            row.get::<_, String>(3)
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A full scan of the table: `SCAN calls` reading rows rather than an index.
fn scans_the_table(plan: &[String]) -> bool {
    plan.iter()
        .any(|step| step.starts_with("SCAN calls") && !step.contains("INDEX"))
}

/// A filter with one condition set.
fn only(set: impl FnOnce(&mut CallFilter)) -> CallFilter {
    let mut filter = CallFilter::default();
    set(&mut filter);
    filter
}

fn texts(values: &[&str]) -> Option<Vec<String>> {
    Some(values.iter().map(|v| v.to_string()).collect())
}

/// Each filter condition alone, as the API builds it.
fn every_filter() -> Vec<(&'static str, CallFilter)> {
    let day = ORIGIN_MS + 10 * DAY_MS;
    vec![
        (
            "agentIds",
            only(|f| f.agent_ids = Some(vec![UdeskId(1003), UdeskId(1010)])),
        ),
        (
            "agentEmails",
            only(|f| f.agent_emails = texts(&["agent3@example.com"])),
        ),
        (
            "agentGroupIds",
            only(|f| f.agent_group_ids = Some(vec![UdeskId(3)])),
        ),
        ("workflows", only(|f| f.workflows = texts(&["in"]))),
        (
            "callResults",
            only(|f| f.call_results = texts(&["result-3", "result-4"])),
        ),
        ("categories", only(|f| f.categories = texts(&["transfer"]))),
        (
            "statuses",
            only(|f| f.statuses = Some(vec![CallStatus::InProgress])),
        ),
        (
            "lastOccasions",
            only(|f| f.last_occasions = texts(&["hangup"])),
        ),
        (
            "customerPhones",
            only(|f| f.customer_phones = texts(&["13800000042"])),
        ),
        ("callIds", only(|f| f.call_ids = texts(&["series-42"]))),
        ("defeatCauses", only(|f| f.defeat_causes = texts(&["关机"]))),
        ("surveys", only(|f| f.surveys = texts(&["不满意"]))),
        ("startedAt from", only(|f| f.started_from_ms = Some(day))),
        ("startedAt to", only(|f| f.started_before_ms = Some(day))),
        (
            "startedAt",
            only(|f| (f.started_from_ms, f.started_before_ms) = (Some(day), Some(day + DAY_MS))),
        ),
        ("answered true", only(|f| f.answered = Some(true))),
        ("answered false", only(|f| f.answered = Some(false))),
        (
            "talkTime",
            only(|f| (f.talk_time_min, f.talk_time_max) = (Some(500), Some(560))),
        ),
        ("hasRecording true", only(|f| f.has_recording = Some(true))),
        (
            "hasRecording false",
            only(|f| f.has_recording = Some(false)),
        ),
        ("hasTickets true", only(|f| f.has_tickets = Some(true))),
        ("hasTickets false", only(|f| f.has_tickets = Some(false))),
    ]
}

fn first_page(order: CallOrder) -> PageQuery {
    PageQuery {
        order,
        after: None,
        before: None,
        limit: 50,
        from_end: false,
    }
}

#[test]
fn every_filter_alone_reads_calls_through_an_index_with_statistics() {
    every_filter_reads_an_index(true);
}

#[test]
fn every_filter_alone_reads_calls_through_an_index_before_any_analyze() {
    every_filter_reads_an_index(false);
}

fn every_filter_reads_an_index(analyzed: bool) {
    let dir = tempfile::tempdir().unwrap();
    let conn = realistic_database(&dir, analyzed);
    // The check itself sees a scan: nothing indexes `dtmf`.
    let unindexed = plan(
        &conn,
        "SELECT * FROM calls WHERE dtmf = ?",
        &["1".to_owned().into()],
    );
    assert!(scans_the_table(&unindexed), "{unindexed:?}");
    let mut failures = Vec::new();
    for (name, filter) in every_filter() {
        let (count, count_params) = count_sql(&filter);
        let (page, page_params) = page_sql(&filter, &first_page(CallOrder::StartedAtDesc));
        let later = PageQuery {
            after: Some(Position {
                key: ORIGIN_MS + 40 * DAY_MS,
                conversation_id: ConversationId(1_000_500),
            }),
            ..first_page(CallOrder::StartedAtDesc)
        };
        let (next, next_params) = page_sql(&filter, &later);
        for (what, sql, params) in [
            ("count", count, count_params),
            ("page", page, page_params),
            ("next page", next, next_params),
        ] {
            let steps = plan(&conn, &sql, &params);
            if scans_the_table(&steps) {
                failures.push(format!("{name} ({what}): {steps:?}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "full scans of calls:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_grouping_over_thirty_days_or_one_agent_reads_an_index_with_statistics() {
    every_grouping_reads_an_index(true);
}

#[test]
fn every_grouping_over_thirty_days_or_one_agent_reads_an_index_before_any_analyze() {
    every_grouping_reads_an_index(false);
}

fn every_grouping_reads_an_index(analyzed: bool) {
    let dir = tempfile::tempdir().unwrap();
    let conn = realistic_database(&dir, analyzed);
    let month = CallFilter {
        started_from_ms: Some(ORIGIN_MS + 30 * DAY_MS),
        started_before_ms: Some(ORIGIN_MS + 60 * DAY_MS),
        ..CallFilter::default()
    };
    let agent = CallFilter {
        agent_ids: Some(vec![UdeskId(1003)]),
        ..month.clone()
    };
    let dimensions = [
        CallDimension::Agent,
        CallDimension::AgentGroup,
        CallDimension::Workflow,
        CallDimension::CallResult,
        CallDimension::Category,
        CallDimension::DefeatCause,
        CallDimension::Day,
        CallDimension::Hour,
    ];
    let mut failures = Vec::new();
    for filter in [&month, &agent] {
        for dimension in dimensions {
            let (sql, params) = stats_sql(filter, &[dimension], 8 * 3600);
            let steps = plan(&conn, &sql, &params);
            if scans_the_table(&steps) {
                failures.push(format!("{dimension:?}: {steps:?}"));
            }
        }
    }
    // Over a time range alone, every grouping reads one covering index: no
    // row of the table is looked up.
    for dimension in dimensions {
        let (sql, params) = stats_sql(&month, &[dimension], 8 * 3600);
        let steps = plan(&conn, &sql, &params);
        if !steps.iter().any(|s| s.contains("COVERING INDEX")) {
            failures.push(format!("{dimension:?} over a month reads rows: {steps:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "full scans of calls:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_order_pages_through_an_index_without_sorting_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let conn = realistic_database(&dir, true);
    for order in [
        CallOrder::StartedAtDesc,
        CallOrder::StartedAtAsc,
        CallOrder::TalkTimeDesc,
        CallOrder::TalkTimeAsc,
    ] {
        for page in [
            first_page(order),
            PageQuery {
                after: Some(Position {
                    key: 300,
                    conversation_id: ConversationId(1_000_500),
                }),
                ..first_page(order)
            },
            PageQuery {
                before: Some(Position {
                    key: 300,
                    conversation_id: ConversationId(1_000_500),
                }),
                from_end: true,
                ..first_page(order)
            },
        ] {
            let (sql, params) = page_sql(&CallFilter::default(), &page);
            let steps = plan(&conn, &sql, &params);
            assert!(!scans_the_table(&steps), "{order:?}: {steps:?}");
            assert!(
                !steps.iter().any(|s| s.contains("TEMP B-TREE")),
                "{order:?} sorts: {steps:?}"
            );
        }
    }
}
