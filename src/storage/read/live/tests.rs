//! A filter's match in memory (`LiveFilter`) against the SQL of
//! `filter_condition`, over the same calls in a real database: the two
//! readings of its conditions must never disagree.

use chrono::{DateTime, FixedOffset};

use super::*;
use crate::domain::{CallStatus, Scalars, UdeskId};
use crate::storage::connection::open_writer;
use crate::storage::read::CallFilter;
use crate::storage::read::filter::filter_condition;

fn time(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(text).unwrap()
}

fn call(id: i64, started: &str, fill: impl FnOnce(&mut Scalars)) -> Call {
    let mut scalars = Scalars::default();
    fill(&mut scalars);
    Call {
        conversation_id: ConversationId(id),
        status: if id % 2 == 0 {
            CallStatus::Ended
        } else {
            CallStatus::InProgress
        },
        last_occasion: if id % 2 == 0 { "end" } else { "hangup" }.into(),
        started_at: time(started),
        first_received_at: time(started),
        last_received_at: time(started),
        last_event_at: None,
        event_count: 1,
        warning_count: 0,
        scalars,
    }
}

fn calls() -> Vec<Call> {
    vec![
        call(1, "2024-05-01T08:00:00+08:00", |s| {
            s.agent_id = Some(UdeskId(7));
            s.user_group_id = Some(UdeskId(70));
            s.agent_email = Some("a@example.com".into());
            s.workflow = Some("in".into());
            s.call_result = Some("客户接听".into());
            s.total_time = Some(30);
            s.record_url = Some("https://r.example/1".into());
        }),
        call(2, "2024-05-01T09:30:00+08:00", |s| {
            s.agent_id = Some(UdeskId(8));
            s.workflow = Some("in".into());
            s.call_result = Some("客户放弃".into());
            s.total_time = Some(0);
            s.customer_phone = Some("13800138000".into());
        }),
        call(3, "2024-05-02T10:00:00Z", |s| {
            s.workflow = Some("out_direct".into());
            s.category = Some("normal".into());
            s.call_id = Some("series-1".into());
            s.defeat_cause = Some("busy".into());
            s.survey = Some("未评价".into());
        }),
        call(4, "2024-05-03T00:00:00Z", |s| {
            s.agent_id = Some(UdeskId(7));
            s.user_group_id = Some(UdeskId(71));
            s.total_time = Some(600);
        }),
    ]
}

fn filters() -> Vec<CallFilter> {
    let none = CallFilter::default;
    let mut filters = vec![
        none(),
        CallFilter {
            agent_ids: Some(vec![UdeskId(7)]),
            ..none()
        },
        CallFilter {
            agent_ids: Some(vec![]),
            ..none()
        },
        CallFilter {
            agent_group_ids: Some(vec![UdeskId(70), UdeskId(99)]),
            ..none()
        },
        CallFilter {
            agent_emails: Some(vec!["a@example.com".into()]),
            ..none()
        },
        CallFilter {
            workflows: Some(vec!["in".into()]),
            call_results: Some(vec!["客户放弃".into()]),
            ..none()
        },
        CallFilter {
            categories: Some(vec!["normal".into()]),
            ..none()
        },
        CallFilter {
            statuses: Some(vec![CallStatus::Ended]),
            ..none()
        },
        CallFilter {
            last_occasions: Some(vec!["hangup".into()]),
            ..none()
        },
        CallFilter {
            customer_phones: Some(vec!["13800138000".into()]),
            ..none()
        },
        CallFilter {
            call_ids: Some(vec!["series-1".into()]),
            defeat_causes: Some(vec!["busy".into()]),
            surveys: Some(vec!["未评价".into()]),
            ..none()
        },
        CallFilter {
            started_from_ms: Some(time("2024-05-01T09:30:00+08:00").timestamp_millis()),
            started_before_ms: Some(time("2024-05-03T00:00:00Z").timestamp_millis()),
            ..none()
        },
        CallFilter {
            talk_time_min: Some(30),
            talk_time_max: Some(600),
            ..none()
        },
        CallFilter {
            talk_time_max: Some(29),
            ..none()
        },
        CallFilter {
            has_tickets: Some(true),
            ..none()
        },
        CallFilter {
            has_tickets: Some(false),
            ..none()
        },
    ];
    for wanted in [true, false] {
        filters.push(CallFilter {
            answered: Some(wanted),
            ..none()
        });
        filters.push(CallFilter {
            has_recording: Some(wanted),
            ..none()
        });
    }
    filters
}

#[test]
fn a_filter_matches_in_memory_exactly_the_calls_its_sql_selects() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_writer(&dir.path().join("calls.db"), 1000).unwrap();
    for call in calls() {
        conn.execute(
            &call_rows::UPSERT,
            rusqlite::params_from_iter(call_rows::values(&call)),
        )
        .unwrap();
    }
    conn.execute(
        "UPDATE calls SET ticket_count = 2 WHERE conversation_id = 4",
        [],
    )
    .unwrap();
    let ids: Vec<ConversationId> = calls().iter().map(|c| c.conversation_id).collect();
    let live = live_calls(&conn, &ids).unwrap();
    assert_eq!(live.len(), ids.len());
    for filter in filters() {
        let condition = filter_condition(&filter);
        let sql = format!(
            "SELECT conversation_id FROM calls WHERE {} ORDER BY conversation_id",
            condition.or_true()
        );
        let mut statement = conn.prepare(&sql).unwrap();
        let selected: Vec<i64> = statement
            .query_map(rusqlite::params_from_iter(&condition.params), |row| {
                row.get(0)
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut matched: Vec<i64> = live
            .iter()
            .filter(|call| filter.for_live_updates().matches(call))
            .map(|call| call.call.conversation_id.0)
            .collect();
        matched.sort_unstable();
        assert_eq!(matched, selected, "{filter:?}");
    }
}
