//! The vendor's own sample `end` push, ingested over HTTP and checked field
//! by field in the database.

use crate::support::TestApp;
use crate::support::db::{count, rows};
use crate::support::payloads::payload;

fn single_row(db: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut all = rows(db, sql);
    assert_eq!(all.len(), 1, "{sql}");
    all.remove(0)
}

#[tokio::test]
async fn the_vendor_sample_is_stored_whole_and_projected_field_by_field() {
    let app = TestApp::start().await;
    let body = payload("vendor-sample-end.json");
    let (status, answer) = app.push(body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["conversation_id"], "54093");

    let db = app.db();
    let stored: String = db
        .query_row("SELECT body FROM events", [], |row| row.get(0))
        .unwrap();
    assert_eq!(stored, body, "the raw push is kept byte for byte");

    let expected: &[(&str, &str)] = &[
        ("conversation_id", "54093"),
        ("status", "ENDED"),
        ("last_occasion", "end"),
        ("started_at", "2022-03-03T14:27:10+08:00"),
        ("call_id", "8097f59e-0ba7-1111-b6c0-7f70c7a5a962"),
        ("agent_ring_at", "NULL"),
        ("agent_answer_at", "NULL"),
        ("agent_hangup_at", "2019-07-24T15:23:14+08:00"),
        ("customer_ring_at", "2019-07-24T15:21:41+08:00"),
        ("customer_answer_at", "2019-07-24T15:21:56+08:00"),
        ("customer_hangup_at", "2019-07-24T15:23:17+08:00"),
        ("last_event_at", "2019-07-24T15:23:17+08:00"),
        ("nick_name", "测试客户18"),
        ("mobile_area", "北京 北京"),
        ("workflow", "out_direct"),
        ("category", "normal"),
        ("from_agent_id", "NULL"),
        ("call_result", "客户接听"),
        ("is_leave_message", "0"),
        ("total_time", "81"),
        ("survey", "未评价"),
        ("record_url", "http://xxxx"),
        ("outline_phone_number", "NULL"),
        ("agent_id", "1941"),
        ("agent_email", "demo@kirmizilezzet.com"),
        ("agent_nick_name", "测试客服01"),
        ("task_name", "NULL"),
        ("queue_statue", "NULL"),
        ("queue_time", "NULL"),
        ("dtmf", "NULL"),
        ("device_info", "网页电话"),
        ("drop_side", "客服"),
        ("defeat_cause", "NULL"),
        ("multi_ring_count", "0"),
        ("task_id", "NULL"),
        ("queue_overflow", "无溢出"),
        ("ivr_time", "NULL"),
        ("ivr_variables", "NULL"),
        ("lang", "ko"),
        ("is_blocked", "1"),
        ("level", "vip"),
        ("description", "测试客户18描述"),
        ("organization_name", "ACMILAN"),
        ("owner_name", "demo"),
        ("owner_group_name", "一二三"),
        ("note_id", "113973"),
        ("note_content", "主题1"),
        ("customer_id", "1122333211"),
        ("customer_token", "2lakjer32aw34r123l"),
        ("customer_web_token", "la9df234jasdfqw3"),
        ("customer_sdk_token", "lasdf234ala23234"),
        ("note_template_id", "114"),
        ("note_template_name", "默认业务记录"),
        ("questionnaire_id", "13"),
        ("biz_id", "NULL"),
        ("customer_phone", "1388888888"),
        ("display_number", "0211234567"),
        ("call_start_at", "2022-03-03T14:27:10+08:00"),
        ("ring_time", "17"),
        ("created_at", "2022-03-03T17:12:42+08:00"),
        ("event_count", "1"),
        ("warning_count", "0"),
    ];
    let columns: Vec<&str> = expected.iter().map(|(column, _)| *column).collect();
    let actual = single_row(&db, &format!("SELECT {} FROM calls", columns.join(", ")));
    for ((column, want), got) in expected.iter().zip(&actual) {
        assert_eq!(got, want, "calls.{column}");
    }

    assert_eq!(
        rows(&db, "SELECT agent FROM relevant_agents ORDER BY position"),
        vec![vec!["demo2".to_owned()]]
    );
    assert_eq!(
        rows(
            &db,
            "SELECT recording_id, substr(url, 1, 40) FROM ivr_recordings"
        ),
        vec![vec![
            "50107001".to_owned(),
            "http://pro-ccrecords.kefutoutiao.com/lin".into()
        ]]
    );
    assert_eq!(
        rows(&db, "SELECT ticket_number FROM tickets ORDER BY position"),
        vec![vec!["#12".to_owned()], vec!["#13".into()]]
    );
    assert_eq!(
        rows(&db, "SELECT openid FROM weixin_openids ORDER BY position"),
        vec![
            vec!["weixin_openids1".to_owned()],
            vec!["weixin_openids2".into()]
        ]
    );
    assert_eq!(count(&db, "SELECT count(*) FROM custom_fields"), 13);
    assert_eq!(
        single_row(
            &db,
            "SELECT field_id, name, value FROM custom_fields WHERE position = 0"
        ),
        vec!["TextField_286", "zgh-单行文本", "\"zgh-单行文本\""]
    );
    assert_eq!(
        single_row(
            &db,
            "SELECT field_id, name, value FROM custom_fields WHERE position = 12"
        ),
        vec!["SelectField_367", "zgh-复选框", "[\"选项1\",\"选项3\"]"]
    );
    assert_eq!(
        rows(
            &db,
            "SELECT question, answer FROM questionnaire_answers ORDER BY question"
        ),
        vec![
            vec!["你今年几岁了?".to_owned(), "".into()],
            vec!["你喜欢什么动物?".into(), "小青".into()],
            vec!["你喜欢什么城市?".into(), "北京; 上海; 天津; 重庆".into()],
            vec!["过年回家吗?".into(), "不回".into()],
        ]
    );
    assert_eq!(
        rows(&db, "SELECT task_id, name FROM callout_tasks"),
        vec![vec!["1301".to_owned(), "外呼任务1".into()]]
    );
    assert_eq!(
        rows(&db, "SELECT tag FROM agent_tags ORDER BY position"),
        vec![vec!["客服标签".to_owned()], vec!["show case".into()]]
    );
    assert_eq!(count(&db, "SELECT count(*) FROM parse_warnings"), 0);
}

#[tokio::test]
async fn reference_tables_join_codes_to_their_meaning() {
    let app = TestApp::start().await;
    app.push(payload("vendor-sample-end.json")).await;
    let db = app.db();
    assert_eq!(
        single_row(
            &db,
            "SELECT w.name_en, c.name_zh, o.name_en FROM calls
             JOIN workflows w ON w.code = calls.workflow
             JOIN categories c ON c.code = calls.category
             JOIN occasions o ON o.code = calls.last_occasion"
        ),
        vec!["direct outbound", "普通通话", "the call is over"]
    );
    assert_eq!(count(&db, "SELECT count(*) FROM defeat_causes"), 18);
    assert_eq!(
        single_row(&db, "SELECT name, alias FROM defeat_causes WHERE id = 13"),
        vec!["无人接听", "not answer"]
    );
}
