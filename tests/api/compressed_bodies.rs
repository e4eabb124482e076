//! Pushes kept compressed: once enough are stored a dictionary is trained
//! from them, what came before is compressed in the background, and every
//! push still comes back byte for byte (GraphQL's `body`, `reprocess`),
//! also from a database of the previous version converted in place.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use udesk_calls::config::Settings;

use crate::support::TestApp;
use crate::support::binary::{binary, run};
use crate::support::calls::synthetic_call;
use crate::support::db::{
    count, event_bodies, events_as_received, open_read_only, projection_dump, wait_until_compressed,
};
use crate::support::payloads::payload;

/// Enough calls for a dictionary to be trained (1,200 pushes of the size
/// of the vendor's sample, each call's own).
fn bodies() -> Vec<String> {
    let sample: serde_json::Value =
        serde_json::from_str(&payload("vendor-sample-end.json")).unwrap();
    let occasions = ["enqueue_succ", "agent_incall", "hangup", "end"];
    (1..=300)
        .flat_map(|id: i64| {
            let sample = sample.clone();
            occasions.iter().enumerate().map(move |(i, occasion)| {
                let mut push = sample.clone();
                push["conversation_id"] = json!(id);
                push["occasion"] = json!(occasion);
                push["timestamp"] = json!(format!("2024-05-06 09:{:02}:{:02} +0800", id % 60, i));
                push["customer_phone"] = json!(format!("139{:08}", id * 7919));
                push.to_string()
            })
        })
        .collect()
}

/// Waits until the upkeep has rewritten the file once (incremental vacuum on).
fn wait_until_rewritten(db: &Path) {
    let started = Instant::now();
    while count(&open_read_only(db), "PRAGMA auto_vacuum") != 2 {
        assert!(started.elapsed() < Duration::from_secs(60), "not rewritten");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every stored push, as GraphQL serves them.
async fn bodies_through_graphql(app: &TestApp) -> Vec<String> {
    let data = app
        .data(
            "{ calls(first: 500) { nodes { events { body } } } }",
            json!({}),
        )
        .await;
    data["calls"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|call| call["events"].as_array().unwrap().clone())
        .map(|event| event["body"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn pushes_are_compressed_once_enough_are_stored_and_come_back_byte_for_byte() {
    let app = TestApp::start().await;
    let sent = bodies();
    app.push_all(&sent).await;
    wait_until_compressed(&app.db_path);
    let db = app.db();
    assert_eq!(count(&db, "SELECT count(*) FROM body_dictionaries"), 1);
    let stored: i64 = count(&db, "SELECT sum(length(body)) FROM events");
    let received: usize = sent.iter().map(String::len).sum();
    assert!(
        (stored as usize) * 3 < received,
        "{stored} bytes kept of {received}"
    );
    // New pushes are compressed as they arrive.
    let later = synthetic_call(5_000, 4);
    app.push_all(&later).await;
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM events WHERE conversation_id = 5000 AND body_dictionary IS NULL"
        ),
        0
    );
    let mut expected: Vec<String> = sent.iter().chain(&later).cloned().collect();
    let mut served = bodies_through_graphql(&app).await;
    expected.sort();
    served.sort();
    assert_eq!(served, expected);
    assert_eq!(
        event_bodies(&app.db_path),
        expected.iter().cloned().collect()
    );

    let live = projection_dump(&db);
    let db_path = app.db_path.clone();
    let _dir = app.stop_keeping_files().await;
    let (code, _, stderr) = run(binary().arg("reprocess").arg("--db").arg(&db_path));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(projection_dump(&open_read_only(&db_path)), live);

    // A person reads a call's pushes as sent.
    let (code, stdout, stderr) = run(binary().args(["pushes", "7", "--db"]).arg(&db_path));
    assert_eq!(code, 0, "{stderr}");
    let call_7: String = sent[24..28]
        .iter()
        .map(|body| format!("{body}\n"))
        .collect();
    assert_eq!(stdout, call_7);
    let (code, _, stderr) = run(binary().args(["pushes", "99999", "--db"]).arg(&db_path));
    assert_eq!(
        (code, stderr.trim()),
        (1, "no push of call 99999 is stored")
    );
}

/// Rewrites every row of `db` as an earlier version kept it: its body as
/// `keep` makes it (with its dictionary, or `None` as received), no base,
/// the whole SHA-256.
fn rewrite_bodies(
    db: &Path,
    conn: &rusqlite::Connection,
    keep: impl Fn(&[u8]) -> (Vec<u8>, Option<i64>),
) {
    use sha2::Digest;
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM events ORDER BY id")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let bodies = events_as_received(db).into_iter().map(|event| event.body);
    for (id, body) in ids.into_iter().zip(bodies) {
        let (stored, dictionary) = keep(&body);
        let stored = match (dictionary, String::from_utf8(stored.clone())) {
            (None, Ok(text)) => rusqlite::types::Value::Text(text),
            _ => rusqlite::types::Value::Blob(stored),
        };
        conn.execute(
            "UPDATE events SET body = ?1, body_dictionary = ?2, body_base = NULL,
                 body_sha256 = ?3 WHERE id = ?4",
            rusqlite::params![stored, dictionary, sha2::Sha256::digest(&body).to_vec(), id],
        )
        .unwrap();
    }
}

/// Makes `db` what the version before deltas left: bodies compressed
/// against the dictionary alone, the whole hash, numbers indexed by call,
/// no recordings (migration 09).
fn as_the_version_before_deltas_left_it(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let bodies = udesk_calls::storage::bodies::Bodies::load(&conn).unwrap();
    rewrite_bodies(db, &conn, |body| match bodies.encode(body) {
        Some(encoded) => (encoded.bytes, Some(encoded.dictionary)),
        None => (body.to_vec(), None),
    });
    conn.execute_batch(
        "ALTER TABLE events DROP COLUMN body_base;
         CREATE INDEX call_numbers_by_call ON call_numbers (conversation_id);
         DROP TABLE recordings; DROP INDEX jobs_by_subject; ALTER TABLE jobs DROP COLUMN subject;
         PRAGMA user_version = 7;",
    )
    .unwrap();
}

/// Makes `db` what the version before compression left: its schema before
/// migration 07 (and so without 08 and 09), every body as received, no
/// incremental vacuum.
fn as_the_previous_version_left_it(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    rewrite_bodies(db, &conn, |body| (body.to_vec(), None));
    conn.execute_batch(
        "DROP INDEX events_stored_as_received;
         ALTER TABLE events DROP COLUMN body_base;
         ALTER TABLE events DROP COLUMN body_dictionary;
         DROP TABLE body_dictionaries; DROP TABLE call_numbers; DROP TABLE store_state;
         DROP TABLE recordings; DROP INDEX jobs_by_subject; ALTER TABLE jobs DROP COLUMN subject;
         PRAGMA user_version = 6;
         PRAGMA auto_vacuum = NONE; VACUUM;",
    )
    .unwrap();
}

#[tokio::test]
async fn a_database_of_the_previous_version_is_converted_in_place_and_gives_its_space_back() {
    let app = TestApp::start().await;
    let sent = bodies();
    app.push_all(&sent).await;
    let db_path = app.db_path.clone();
    let before = projection_dump(&app.db());
    let dir = app.stop_keeping_files().await;
    as_the_previous_version_left_it(&db_path);
    let old_size = std::fs::metadata(&db_path).unwrap().len();

    let app = TestApp::start_in(dir, Settings::open_local()).await;
    wait_until_compressed(&db_path);
    wait_until_rewritten(&db_path);
    let mut served = bodies_through_graphql(&app).await;
    let mut expected = sent.clone();
    served.sort();
    expected.sort();
    assert_eq!(served, expected);
    assert_eq!(projection_dump(&app.db()), before);
    let _dir = app.stop_keeping_files().await;
    let new_size = std::fs::metadata(&db_path).unwrap().len();
    assert!(
        new_size * 2 < old_size,
        "{new_size} bytes after, {old_size} before"
    );
}

#[tokio::test]
async fn a_database_from_before_deltas_still_serves_counts_and_purges_its_pushes() {
    let app = TestApp::start().await;
    let sent = bodies();
    app.push_all(&sent).await;
    wait_until_compressed(&app.db_path);
    let db_path = app.db_path.clone();
    let before = projection_dump(&app.db());
    let dir = app.stop_keeping_files().await;
    as_the_version_before_deltas_left_it(&db_path);

    let app = TestApp::start_in(dir, Settings::open_local()).await;
    let mut served = bodies_through_graphql(&app).await;
    let mut expected = sent.clone();
    served.sort();
    expected.sort();
    assert_eq!(served, expected);
    assert_eq!(projection_dump(&app.db()), before);

    // A redelivery of a push kept with its whole hash is counted once.
    assert_eq!(app.push(sent[0].clone()).await.0, 200);
    let db = app.db();
    assert_eq!(count(&db, "SELECT count(*) FROM events"), sent.len() as i64);
    assert_eq!(count(&db, "SELECT max(deliveries) FROM events"), 2);
    // New pushes of that old call: deltas, of the redelivered push (the
    // same bytes as its old row) and of each other.
    let mut later: serde_json::Value = serde_json::from_str(&sent[3]).unwrap();
    for minute in [30, 31] {
        later["timestamp"] = json!(format!("2024-05-06 10:{minute}:00 +0800"));
        assert_eq!(app.push(later.to_string()).await.0, 200);
    }
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM events WHERE conversation_id = 1 AND body_base IS NOT NULL"
        ),
        2
    );
    let db_path = app.db_path.clone();
    let _dir = app.stop_keeping_files().await;

    // A purge finds and erases the customer's numbers, old rows and new.
    let phone = format!("139{:08}", 7919);
    let (code, _, stderr) = run(binary()
        .args(["purge", "--customer-phone", &phone, "--db"])
        .arg(&db_path));
    assert_eq!(code, 0, "{stderr}");
    let db = open_read_only(&db_path);
    assert_eq!(
        count(&db, "SELECT count(*) FROM events WHERE conversation_id = 1"),
        0
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM call_numbers WHERE conversation_id = 1"
        ),
        0
    );
    assert!(count(&db, "SELECT count(*) FROM call_numbers") > 0);
}

/// `count` pushes like the vendor's sample, one line each, for `import`.
fn history_file(dir: &Path, calls: i64) -> std::path::PathBuf {
    let sample: serde_json::Value =
        serde_json::from_str(&payload("vendor-sample-end.json")).unwrap();
    let occasions = ["enqueue_succ", "agent_incall", "hangup", "end"];
    let mut lines = String::new();
    for id in 1..=calls {
        for (i, occasion) in occasions.iter().enumerate() {
            let mut push = sample.clone();
            push["conversation_id"] = json!(id);
            push["occasion"] = json!(occasion);
            push["timestamp"] = json!(format!("2024-05-06 09:{:02}:{:02} +0800", id % 60, i));
            push["customer_phone"] = json!(format!("139{:08}", id * 7919));
            lines.push_str(&push.to_string());
            lines.push('\n');
        }
    }
    let file = dir.join("history.ndjson");
    std::fs::write(&file, lines).unwrap();
    file
}

#[tokio::test]
async fn a_conversion_killed_halfway_resumes_and_finishes_with_every_push_intact() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("calls.db");
    let history = history_file(dir.path(), 3_000);
    let (code, _, stderr) = run(binary()
        .arg("import")
        .arg(&history)
        .arg("--db")
        .arg(&db_path));
    assert_eq!(code, 0, "{stderr}");
    let before = projection_dump(&open_read_only(&db_path));
    let pushes = event_bodies(&db_path);
    as_the_previous_version_left_it(&db_path);
    let total = count(&open_read_only(&db_path), "SELECT count(*) FROM events");

    let started = Instant::now();
    let server = crate::support::binary::Server::start(&db_path, &[]);
    let conn = open_read_only(&db_path);
    let compressed = loop {
        let done = conn
            .query_row(
                "SELECT count(*) FROM events WHERE body_dictionary IS NOT NULL",
                [],
                |row| row.get::<_, i64>(0),
            )
            .unwrap_or(0);
        if done > 0 {
            break done;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nothing compressed"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    // Converting, the service is alive and says so.
    let alive = reqwest::get(format!("{}/livez", server.address))
        .await
        .unwrap()
        .status();
    assert_eq!(alive, 200);
    // Stopped first, so the state seen is the state it dies in.
    server.signal("STOP");
    let seen = count(
        &conn,
        "SELECT count(*) FROM events WHERE body_dictionary IS NOT NULL",
    );
    let through = count(
        &conn,
        "SELECT coalesce(max(value), 0) FROM store_state WHERE key = 'bodies_compressed_through'",
    );
    let newest = count(&conn, "SELECT max(id) FROM events");
    server.kill_hard();
    drop(conn);
    eprintln!(
        "killed with {seen} of {total} compressed (first seen {compressed}), through event {through} of {newest}, after {:?}",
        started.elapsed()
    );
    assert!(
        through < newest,
        "the conversion finished before it could be killed"
    );
    assert_eq!(event_bodies(&db_path), pushes);

    let old_size = std::fs::metadata(&db_path).unwrap().len();
    let app = TestApp::start_in(dir, Settings::open_local()).await;
    wait_until_compressed(&db_path);
    assert_eq!(event_bodies(&db_path), pushes);
    assert_eq!(projection_dump(&app.db()), before);
    let integrity: String = app
        .db()
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    // Finished, the space is given back (the file rewritten once).
    wait_until_rewritten(&db_path);
    let dir = app.stop_keeping_files().await;
    let new_size = std::fs::metadata(&db_path).unwrap().len();
    assert!(
        new_size * 2 < old_size,
        "{new_size} bytes after, {old_size} before"
    );
    // Every call rebuilt from the converted pushes is the call it was.
    let (code, _, stderr) = run(binary().arg("reprocess").arg("--db").arg(&db_path));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(projection_dump(&open_read_only(&db_path)), before);
    assert_eq!(event_bodies(&db_path), pushes);
    drop(dir);
}

/// The longest chain of deltas in `db`.
fn longest_chain(db: &rusqlite::Connection) -> i64 {
    count(
        db,
        "WITH RECURSIVE chain(id, depth) AS (
             SELECT id, 0 FROM events WHERE body_base IS NULL
             UNION ALL
             SELECT events.id, chain.depth + 1 FROM events JOIN chain ON events.body_base = chain.id
         )
         SELECT max(depth) FROM chain",
    )
}

#[tokio::test]
async fn chains_of_deltas_stay_short_through_redeliveries_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start_training_after(dir, Settings::open_local(), 100).await;
    app.push_all(&bodies()[..400]).await;
    wait_until_compressed(&app.db_path);
    let mut sent = Vec::new();
    let first = bodies().swap_remove(0);
    let push = |minute: usize| {
        let mut body: serde_json::Value = serde_json::from_str(&first).unwrap();
        body["conversation_id"] = json!(77_777);
        body["timestamp"] = json!(format!("2024-05-07 10:{minute:02}:00 +0800"));
        body.to_string()
    };
    for minute in 0..12 {
        sent.push(push(minute));
        assert_eq!(app.push(sent[minute].clone()).await.0, 200);
    }
    // Udesk retries the newest and an older push, then sends more.
    for again in [11, 3] {
        assert_eq!(app.push(sent[again].clone()).await.0, 200);
    }
    for minute in 12..30 {
        sent.push(push(minute));
        assert_eq!(app.push(sent[minute].clone()).await.0, 200);
    }
    let db = app.db();
    assert!(longest_chain(&db) <= 8, "a chain of {}", longest_chain(&db));
    assert!(
        count(
            &db,
            "SELECT count(*) FROM events WHERE conversation_id = 77777 AND body_base IS NOT NULL"
        ) > 20
    );
    let dir = app.stop_keeping_files().await;
    // After a restart nothing is remembered: the newest row's own chain counts.
    let app = TestApp::start_in(dir, Settings::open_local()).await;
    assert_eq!(app.push(sent[29].clone()).await.0, 200);
    for minute in 30..40 {
        sent.push(push(minute));
        assert_eq!(app.push(sent[minute].clone()).await.0, 200);
    }
    let db = app.db();
    assert!(longest_chain(&db) <= 8, "a chain of {}", longest_chain(&db));
    let served: Vec<String> = app
        .data(
            "{ call(conversationId: \"77777\") { events { body } } }",
            json!({}),
        )
        .await["call"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(served, sent);
}

#[tokio::test]
async fn chains_stay_short_when_the_first_dictionary_is_trained_while_a_call_grows() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start_training_after(dir, Settings::open_local(), 100).await;
    // Eight senders push 400 pushes of one call: the upkeep compresses the
    // first ones (stored as received) while the writer makes deltas of them.
    let samples = bodies();
    let bodies: Vec<String> = (0..400)
        .map(|n| {
            let mut body: serde_json::Value = serde_json::from_str(&samples[n % 4]).unwrap();
            body["conversation_id"] = json!(88_888);
            body["timestamp"] = json!(format!(
                "2024-05-07 1{}:{:02}:{:02} +0800",
                n / 3600,
                n / 60 % 60,
                n % 60
            ));
            body.to_string()
        })
        .collect();
    let app = std::sync::Arc::new(app);
    let senders: Vec<_> = (0..8)
        .map(|k| {
            let (app, bodies) = (app.clone(), bodies.clone());
            tokio::spawn(async move {
                for body in bodies.into_iter().skip(k).step_by(8) {
                    assert_eq!(app.push(body).await.0, 200);
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.unwrap();
    }
    wait_until_compressed(&app.db_path);
    let db = app.db();
    assert!(longest_chain(&db) <= 8, "a chain of {}", longest_chain(&db));
    let mut expected = bodies.clone();
    expected.sort();
    let mut stored: Vec<String> = event_bodies(&app.db_path).into_iter().collect();
    stored.retain(|body| body.contains("88888"));
    stored.sort();
    assert_eq!(stored, expected);
}

#[tokio::test]
async fn a_rewrite_the_disk_cannot_hold_waits_and_pushes_flow_on_meanwhile() {
    // Declared first, so it is dropped (unmounted) after the server.
    let Some(tmpfs) = crate::support::tmpfs::Tmpfs::mount("32m") else {
        return;
    };
    let app = TestApp::start().await;
    app.push_all(&bodies()).await;
    let built = app.db_path.clone();
    wait_until_compressed(&built);
    let _dir = app.stop_keeping_files().await;
    // Compressed but not yet rewritten, as a conversion leaves the file
    // just before its `VACUUM`.
    let db = tmpfs.path().join("calls.db");
    rusqlite::Connection::open(&built)
        .unwrap()
        .execute_batch("PRAGMA auto_vacuum = NONE; VACUUM; PRAGMA journal_mode = DELETE;")
        .unwrap();
    std::fs::copy(&built, &db).unwrap();
    let size = std::fs::metadata(&db).unwrap().len();
    // Room for the service's own writes, not for a copy and its WAL.
    let ballast = tmpfs.fill("ballast");
    let filled = std::fs::metadata(&ballast).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&ballast)
        .unwrap()
        .set_len(filled.saturating_sub(size / 2 + (64 << 10)))
        .unwrap();

    let server = crate::support::binary::Server::start(&db, &[]);
    // The upkeep looks at once: its line may come before the one saying ready.
    let mut log = server.startup_log.join("\n");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log.contains("not rewritten yet") && Instant::now() < deadline {
        if let Ok(line) = server.log.recv_timeout(Duration::from_secs(1)) {
            log = log + "\n" + &line;
        }
    }
    assert!(log.contains("needed_mib"), "{log}");
    let client = reqwest::Client::new();
    for (id, body) in bodies().iter().take(3).enumerate() {
        let mut push: serde_json::Value = serde_json::from_str(body).unwrap();
        push["conversation_id"] = json!(900_000 + id as i64);
        let started = Instant::now();
        let answer = client
            .post(format!("{}/webhooks/udesk/calls", server.address))
            .body(push.to_string())
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    let conn = open_read_only(&db);
    let vacuum: i64 = conn
        .query_row("PRAGMA auto_vacuum", [], |row| row.get(0))
        .unwrap();
    assert_eq!(vacuum, 0, "rewritten although the disk could not hold it");
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM calls WHERE conversation_id >= 900000"
        ),
        3
    );
    drop(server);
}
