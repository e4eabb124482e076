//! Bodies nested far deeper than any push: refused at the door (webhook and
//! `import`) without exhausting the stack, and, when an earlier version
//! stored one, served as its text and merged without reading it again.

use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::binary::{binary, run};
use crate::support::db::{count, open_read_only};

/// A push whose `x` nests `depth` levels of arrays inside the object.
fn nested(conversation_id: i64, depth: usize) -> String {
    format!(
        r#"{{"conversation_id":{conversation_id},"occasion":"hangup","x":{}{}}}"#,
        "[".repeat(depth - 1),
        "]".repeat(depth - 1)
    )
}

#[tokio::test]
async fn a_push_nested_thousands_of_levels_deep_is_refused_and_kept_and_the_service_lives_on() {
    let app = TestApp::start().await;
    for depth in [3_000, 20_000, 200_000] {
        let (status, answer) = app.push(nested(7, depth)).await;
        assert_eq!(status, 400, "{answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(&format!("{depth} levels")), "{error}");
    }
    // The unclosed form is refused the same way.
    let (status, _) = app.push(format!(r#"{{"x":{}"#, "[".repeat(50_000))).await;
    assert_eq!(status, 400);
    let (status, _) = app.push(r#"{"conversation_id":7,"occasion":"end"}"#).await;
    assert_eq!(status, 200, "the service still takes pushes");
    let db = app.db();
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM rejected_pushes WHERE http_status = 400"
        ),
        4
    );
    assert_eq!(count(&db, "SELECT count(*) FROM events"), 1);
}

#[tokio::test]
async fn import_refuses_a_deeply_nested_line_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pushes.ndjson");
    let lines = [
        nested(1, 200_000),
        r#"{"conversation_id":2,"occasion":"end"}"#.to_owned(),
        nested(3, 3_000),
    ];
    std::fs::write(&file, lines.join("\n")).unwrap();
    let db_path = dir.path().join("calls.db");
    let (code, _, stderr) = run(binary().arg("import").arg(&file).arg("--db").arg(&db_path));
    assert!(!stderr.contains("overflow"), "{stderr}");
    assert_ne!(code, 101, "no panic: {stderr}");
    let db = open_read_only(&db_path);
    assert_eq!(count(&db, "SELECT count(*) FROM calls"), 1, "{stderr}");
    assert_eq!(count(&db, "SELECT count(*) FROM rejected_pushes"), 2);
}

const EVENTS: &str = r#"query($id: ID!) {
    call(conversationId: $id) { eventCount events { occasion payload body } }
}"#;

#[tokio::test]
async fn a_deep_push_stored_by_an_earlier_version_is_served_as_text_merged_and_reprocessed() {
    let app = TestApp::start().await;
    let depths = [2_000, 2_500, 2_900];
    for (conversation_id, _) in (1..).zip(depths) {
        let (status, _) = app
            .push(format!(
                r#"{{"conversation_id":{conversation_id},"occasion":"hangup"}}"#
            ))
            .await;
        assert_eq!(status, 200);
    }
    let db_path = app.db_path.clone();
    let dir = app.stop_keeping_files().await;
    // An earlier version read these bodies recursively and stored them.
    let old = rusqlite::Connection::open(&db_path).unwrap();
    for (conversation_id, depth) in (1..).zip(depths) {
        old.execute(
            "UPDATE events SET body = ?1 WHERE conversation_id = ?2",
            rusqlite::params![nested(conversation_id, depth), conversation_id],
        )
        .unwrap();
    }
    drop(old);

    let app = TestApp::start_in(dir, udesk_calls::config::Settings::open_local()).await;
    for (conversation_id, depth) in (1..).zip(depths) {
        let data = app
            .data(EVENTS, json!({ "id": conversation_id.to_string() }))
            .await;
        let event = &data["call"]["events"][0];
        assert_eq!(event["body"], Value::String(nested(conversation_id, depth)));
        assert_eq!(event["payload"], event["body"], "served as its text");
        // Its call still merges the next push.
        let (status, answer) = app
            .push(format!(
                r#"{{"conversation_id":{conversation_id},"occasion":"end"}}"#
            ))
            .await;
        assert_eq!(status, 200, "{answer}");
        let data = app
            .data(EVENTS, json!({ "id": conversation_id.to_string() }))
            .await;
        assert_eq!(data["call"]["eventCount"], 2);
    }
    let _dir = app.stop_keeping_files().await;
    let (code, _, stderr) = run(binary().arg("reprocess").arg("--db").arg(&db_path));
    assert_eq!(code, 0, "{stderr}");
    let db = open_read_only(&db_path);
    assert_eq!(
        count(&db, "SELECT count(*) FROM calls WHERE status = 'ENDED'"),
        3
    );
}
