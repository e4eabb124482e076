//! Upgrading a database written by an earlier version: what it holds is
//! kept, and the service goes on deduplicating and forwarding as before.

use rusqlite::Connection;

use crate::support::TestApp;
use crate::support::calls::synthetic_call;
use crate::support::db::count;
use udesk_calls::Settings;

/// A database as the migrations before `first_new` left it.
fn database_at(path: &std::path::Path, first_new: &str) -> Connection {
    let conn = Connection::open(path).unwrap();
    let mut dirs: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    dirs.sort();
    let mut version = 0;
    for dir in dirs {
        if dir.file_name().unwrap().to_str().unwrap() >= first_new {
            break;
        }
        conn.execute_batch(&std::fs::read_to_string(dir.join("up.sql")).unwrap())
            .unwrap();
        version += 1;
    }
    conn.pragma_update(None, "user_version", version).unwrap();
    conn
}

#[tokio::test]
async fn events_warnings_and_jobs_survive_the_events_rebuild_and_redeliveries_still_count_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calls.db");
    let old = database_at(&path, "06");
    old.execute_batch(
        "INSERT INTO events (id, conversation_id, occasion, received_at, last_received_at,
             body_format, body, body_sha256)
         VALUES (7, 42, 'end', '2024-05-01T10:00:00+08:00', '2024-05-01T10:00:00+08:00',
                 'json', '{\"conversation_id\": 42}', x'00');
         INSERT INTO parse_warnings (event_id, position, conversation_id, field, raw_value, problem)
         VALUES (7, 0, 42, 'total_time', 'abc', 'not a number');
         INSERT INTO jobs (kind, target, event_id, ordering_key, next_attempt_at,
             created_at, updated_at)
         VALUES ('forward', 'http://receiver.example/', 7, 42, '2024-05-01T10:00:00+08:00',
                 '2024-05-01T10:00:00+08:00', '2024-05-01T10:00:00+08:00');",
    )
    .unwrap();
    drop(old);
    let app = TestApp::start_in(dir, Settings::open_local()).await;
    let db = app.db();
    assert_eq!(count(&db, "SELECT count(*) FROM events WHERE id = 7"), 1);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM parse_warnings WHERE event_id = 7"
        ),
        1
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM jobs WHERE event_id = 7"),
        1
    );
    // The same body twice is one event delivered twice, as before.
    let push = synthetic_call(43, 1).remove(0);
    app.push(push.clone()).await;
    app.push(push).await;
    assert_eq!(
        count(
            &db,
            "SELECT deliveries FROM events WHERE conversation_id = 43"
        ),
        2
    );
    let schema: String = db
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE name = 'events'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(
        schema.contains("UNIQUE (conversation_id, body_sha256)"),
        "{schema}"
    );
}
