//! How pushes become calls, seen through the real webhook and database: any
//! arrival order, duplicates and late retries give the call that in-order,
//! exactly-once delivery gives.

use crate::support::TestApp;
use crate::support::db::{count, projection_dump, rows};
use crate::support::payloads::inbound;

/// The inbound call as Udesk means it: every push once, in event order (the
/// stale retry is an `agent_incall` push from before the hang-up).
const IN_ORDER: &[&str] = &[
    "1-enqueue_succ",
    "2-agent_incall",
    "0-stale-retry",
    "3-hangup",
    "4-end",
    "5-end_info",
];

async fn delivered(stems: &[&str]) -> TestApp {
    let app = TestApp::start().await;
    let bodies: Vec<String> = stems.iter().map(|stem| inbound(stem)).collect();
    app.push_all(&bodies).await;
    app
}

#[tokio::test]
async fn out_of_order_arrival_gives_the_in_order_projection() {
    let reference = delivered(IN_ORDER).await;
    let shuffled = delivered(&[
        "4-end",
        "3-hangup",
        "5-end_info",
        "1-enqueue_succ",
        "0-stale-retry",
        "2-agent_incall",
    ])
    .await;
    assert_eq!(
        projection_dump(&shuffled.db()),
        projection_dump(&reference.db())
    );
}

#[tokio::test]
async fn byte_identical_duplicates_are_stored_once_and_counted() {
    let reference = delivered(IN_ORDER).await;
    let app = delivered(&[
        "1-enqueue_succ",
        "2-agent_incall",
        "2-agent_incall",
        "0-stale-retry",
        "3-hangup",
        "4-end",
        "4-end",
        "4-end",
        "5-end_info",
    ])
    .await;
    let (status, answer) = app.push(inbound("4-end")).await;
    assert_eq!(status, 200);
    assert_eq!(answer["status"], "duplicate");
    assert_eq!(answer["deliveries"], 4);

    let db = app.db();
    assert_eq!(count(&db, "SELECT count(*) FROM events"), 6);
    assert_eq!(
        rows(
            &db,
            "SELECT occasion, deliveries FROM events WHERE deliveries > 1 ORDER BY id"
        ),
        vec![
            vec!["agent_incall".to_owned(), "2".into()],
            vec!["end".into(), "4".into()]
        ]
    );
    assert_eq!(projection_dump(&db), projection_dump(&reference.db()));
}

#[tokio::test]
async fn a_retry_of_an_earlier_push_after_end_changes_nothing_end_said() {
    let reference = delivered(IN_ORDER).await;
    let app = delivered(&[
        "1-enqueue_succ",
        "2-agent_incall",
        "3-hangup",
        "4-end",
        "5-end_info",
        "0-stale-retry",
    ])
    .await;
    let db = app.db();
    assert_eq!(
        rows(
            &db,
            "SELECT agent_email, call_result, total_time, level FROM calls"
        ),
        vec![vec![
            "li.na@example.cn".to_owned(),
            "客服接听".into(),
            "261".into(),
            // end carries no level: the retry supplies it, as it did in order.
            "vip".into(),
        ]]
    );
    assert_eq!(
        rows(&db, "SELECT ticket_number FROM tickets"),
        vec![vec!["#3301".to_owned()]]
    );
    assert_eq!(projection_dump(&db), projection_dump(&reference.db()));
}

#[tokio::test]
async fn end_info_after_end_adds_what_end_lacks_but_does_not_override_it() {
    let app = delivered(IN_ORDER).await;
    let db = app.db();
    assert_eq!(
        rows(
            &db,
            "SELECT status, last_occasion, category, call_result, survey, from_agent_id, description FROM calls"
        ),
        vec![vec![
            "ENDED".to_owned(),
            "end_info".into(),
            "normal".into(),
            "客服接听".into(),
            "满意".into(),
            "2001".into(),
            "转接后信息".into(),
        ]]
    );
}

#[tokio::test]
async fn a_call_whose_end_never_comes_stays_in_progress_with_the_latest_values() {
    let app = delivered(&["3-hangup", "1-enqueue_succ", "2-agent_incall"]).await;
    let db = app.db();
    assert_eq!(
        rows(
            &db,
            "SELECT status, last_occasion, call_result, total_time, agent_id, queue_statue, started_at FROM calls"
        ),
        vec![vec![
            "IN_PROGRESS".to_owned(),
            "hangup".into(),
            "客户挂机".into(),
            // hangup's "abc" is no number: left empty and recorded.
            "NULL".into(),
            "1941".into(),
            "已接入".into(),
            "2024-05-06T09:14:50+08:00".into(),
        ]]
    );
    assert_eq!(
        rows(&db, "SELECT field, raw_value FROM parse_warnings"),
        vec![vec!["total_time".to_owned(), "\"abc\"".into()]]
    );
    assert_eq!(count(&db, "SELECT warning_count FROM calls"), 1);
}

#[tokio::test]
async fn both_spellings_of_drifting_fields_fill_the_same_column() {
    let app = delivered(&["2-agent_incall"]).await;
    let db = app.db();
    assert_eq!(
        rows(&db, "SELECT queue_statue FROM calls"),
        vec![vec!["已接入".to_owned()]]
    );
    assert_eq!(
        rows(&db, "SELECT agent FROM relevant_agents"),
        vec![vec!["li.na".to_owned()]]
    );
}

#[tokio::test]
async fn ids_beyond_32_bits_and_numbers_in_strings_are_kept_exactly() {
    let app = delivered(&["1-enqueue_succ"]).await;
    let db = app.db();
    assert_eq!(
        rows(
            &db,
            "SELECT conversation_id, customer_id, queue_time, is_blocked, customer_phone FROM calls"
        ),
        vec![vec![
            "4294967397".to_owned(),
            "9007199254740993".into(),
            "0".into(),
            "0".into(),
            "0211234567".into(),
        ]]
    );
    assert_eq!(
        rows(
            &db,
            "SELECT name, value FROM ivr_variables ORDER BY position"
        ),
        vec![
            vec!["lang".to_owned(), "zh".into()],
            vec!["menu".into(), "2".into()]
        ]
    );
}
