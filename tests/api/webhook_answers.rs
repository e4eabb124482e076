//! Every answer of the webhook, as a sender sees it, and what each leaves in
//! the database.

use rusqlite::Connection;
use udesk_calls::Settings;

use crate::support::db::{count, rows};
use crate::support::payloads::inbound;
use crate::support::{TestApp, WEBHOOK};

fn with_webhook_tokens(tokens: &[&str]) -> Settings {
    let mut settings = Settings::open_local();
    settings.webhook_tokens = tokens.iter().map(|t| t.to_string()).collect();
    settings
}

fn nothing_accepted(db: &Connection) {
    assert_eq!(count(db, "SELECT count(*) FROM events"), 0);
    assert_eq!(count(db, "SELECT count(*) FROM calls"), 0);
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_401_and_stores_nothing() {
    let app = TestApp::start_with(with_webhook_tokens(&["s3cret"])).await;
    for path in [
        WEBHOOK.to_owned(),
        format!("{WEBHOOK}?token=wrong"),
        format!("{WEBHOOK}?token="),
    ] {
        let (status, answer) = app
            .push_to(&path, inbound("4-end"), Some("application/json"))
            .await;
        assert_eq!(status, 401, "{path}");
        assert!(answer["error"].as_str().unwrap().contains("token"));
    }
    // Not even a malformed body is kept when the token is wrong.
    let (status, _) = app
        .push_to(&format!("{WEBHOOK}?token=nope"), "garbage", None)
        .await;
    assert_eq!(status, 401);
    let db = app.db();
    nothing_accepted(&db);
    assert_eq!(count(&db, "SELECT count(*) FROM rejected_pushes"), 0);
}

#[tokio::test]
async fn any_of_several_tokens_is_accepted_so_a_token_can_be_rotated() {
    let app = TestApp::start_with(with_webhook_tokens(&["old-token", "new-token"])).await;
    let (status, _) = app
        .push_to(
            &format!("{WEBHOOK}?token=old-token"),
            inbound("1-enqueue_succ"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .push_to(
            &format!("{WEBHOOK}?token=new-token&x=1"),
            inbound("4-end"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(count(&app.db(), "SELECT count(*) FROM events"), 2);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_400_and_kept_as_rejected() {
    let app = TestApp::start().await;
    let (status, answer) = app
        .push_to(
            WEBHOOK,
            "{\"conversation_id\": 1,",
            Some("application/json"),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().unwrap().contains("not valid JSON"),
        "{answer}"
    );
    let db = app.db();
    nothing_accepted(&db);
    assert_eq!(
        rows(
            &db,
            "SELECT http_status, body, content_type FROM rejected_pushes"
        ),
        vec![vec![
            "400".to_owned(),
            "{\"conversation_id\": 1,".into(),
            "application/json".into()
        ]]
    );
}

#[tokio::test]
async fn json_that_is_not_an_object_is_400() {
    let app = TestApp::start().await;
    for body in ["[{\"conversation_id\": 1}]", "42", "\"end\"", "null"] {
        let (status, answer) = app.push(body).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            answer["error"].as_str().unwrap().contains("not an object"),
            "{answer}"
        );
    }
    let db = app.db();
    nothing_accepted(&db);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM rejected_pushes WHERE http_status = 400"
        ),
        4
    );
}

#[tokio::test]
async fn an_object_without_a_usable_conversation_id_is_422_and_kept_as_rejected() {
    let app = TestApp::start().await;
    for body in [
        r#"{"occasion":"end"}"#,
        r#"{"conversation_id":null,"occasion":"end"}"#,
        r#"{"conversation_id":"abc"}"#,
        r#"{"conversation_id":-5}"#,
        r#"{"conversation_id":1.5}"#,
        r#"{"conversation_id":18446744073709551616}"#,
    ] {
        let (status, answer) = app.push(body).await;
        assert_eq!(status, 422, "{body}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap()
                .contains("conversation_id"),
            "{answer}"
        );
        let id = answer["rejected_id"].as_i64().unwrap();
        let kept: String = app
            .db()
            .query_row(
                "SELECT body FROM rejected_pushes WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(kept, body);
    }
    nothing_accepted(&app.db());
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_stores_nothing() {
    let mut settings = Settings::open_local();
    settings.max_body_bytes = 1024;
    let app = TestApp::start_with(settings).await;
    let padded = format!(
        r#"{{"conversation_id":1,"description":"{}"}}"#,
        "x".repeat(2000)
    );
    let (status, answer) = app.push(padded).await;
    assert_eq!(status, 413);
    assert!(answer["error"].as_str().unwrap().contains("1024"));
    // A body streamed without a Content-Length is cut off the same way.
    let stream = futures_stream(vec![vec![b' '; 800], vec![b' '; 800]]);
    let (status, _) = app.push(reqwest::Body::wrap_stream(stream)).await;
    assert_eq!(status, 413);
    let db = app.db();
    nothing_accepted(&db);
    assert_eq!(count(&db, "SELECT count(*) FROM rejected_pushes"), 0);
    let (status, _) = app.push(inbound("5-end_info")).await;
    assert_eq!(status, 200, "a body under the limit still goes through");
}

fn futures_stream(
    chunks: Vec<Vec<u8>>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    tokio_stream::iter(chunks.into_iter().map(Ok))
}

#[tokio::test]
async fn json_is_accepted_whatever_the_content_type() {
    let app = TestApp::start().await;
    for (stem, content_type) in [
        ("1-enqueue_succ", None),
        ("2-agent_incall", Some("text/plain")),
        ("3-hangup", Some("application/x-www-form-urlencoded")),
    ] {
        let (status, answer) = app.push_to(WEBHOOK, inbound(stem), content_type).await;
        assert_eq!(status, 200, "{stem}: {answer}");
    }
    assert_eq!(
        count(
            &app.db(),
            "SELECT count(*) FROM events WHERE body_format = 'json'"
        ),
        3
    );
}

#[tokio::test]
async fn a_form_encoded_push_is_accepted_and_read_like_json() {
    let app = TestApp::start().await;
    let form = "conversation_id=88&occasion=end&timestamp=2024-05-06+09%3A19%3A43+%2B0800\
                &total_time=61&is_blocked=true&ticket_numbers=%5B%22%2377%22%5D&agent_tags=a&agent_tags=b";
    let (status, answer) = app
        .push_to(WEBHOOK, form, Some("application/x-www-form-urlencoded"))
        .await;
    assert_eq!(status, 200, "{answer}");
    let db = app.db();
    assert_eq!(
        rows(
            &db,
            "SELECT status, total_time, is_blocked, last_event_at FROM calls"
        ),
        vec![vec![
            "ENDED".to_owned(),
            "61".into(),
            "1".into(),
            "2024-05-06T09:19:43+08:00".into()
        ]]
    );
    assert_eq!(
        rows(&db, "SELECT ticket_number FROM tickets"),
        vec![vec!["#77".to_owned()]]
    );
    assert_eq!(count(&db, "SELECT count(*) FROM agent_tags"), 2);
    assert_eq!(
        rows(&db, "SELECT body_format, body FROM events"),
        vec![vec!["form".to_owned(), form.into()]]
    );
}

#[tokio::test]
async fn an_odd_value_never_fails_a_push_and_is_recorded() {
    let app = TestApp::start().await;
    let body = r#"{"conversation_id":5,"occasion":"hangup","timestamp":"yesterday","total_time":"abc",
        "agent_id":"x1","is_blocked":"maybe","callout_tasks":"nonsense","customer_phone":1388888888,
        "future_field":{"udesk":"may add fields"}}"#;
    let (status, answer) = app.push(body).await;
    assert_eq!(status, 200, "{answer}");
    let db = app.db();
    assert_eq!(
        rows(&db, "SELECT field FROM parse_warnings ORDER BY position"),
        vec![
            vec!["timestamp".to_owned()],
            vec!["total_time".into()],
            vec!["agent_id".into()],
            vec!["is_blocked".into()],
            vec!["callout_tasks".into()],
        ]
    );
    assert_eq!(
        rows(
            &db,
            "SELECT total_time, agent_id, is_blocked, customer_phone, warning_count FROM calls"
        ),
        vec![vec![
            "NULL".to_owned(),
            "NULL".into(),
            "NULL".into(),
            "1388888888".into(),
            "5".into()
        ]]
    );
    let stored: String = db
        .query_row("SELECT body FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        stored, body,
        "unknown keys and odd values are kept in the raw push"
    );
}

#[tokio::test]
async fn a_push_the_store_cannot_take_is_503_and_a_retry_succeeds() {
    let app = TestApp::start().await;
    // Another process holds the write lock longer than the writer waits.
    let blocker = Connection::open(&app.db_path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (status, answer) = app.push(inbound("4-end")).await;
    assert_eq!(status, 503, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("retry"));
    blocker.execute_batch("ROLLBACK").unwrap();
    nothing_accepted(&app.db());

    let (status, answer) = app.push(inbound("4-end")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "stored");
}

#[tokio::test]
async fn only_post_is_answered_on_the_webhook() {
    let app = TestApp::start().await;
    let response = app.client.get(app.url(WEBHOOK)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
}
