//! Bodies a strict reader would refuse: numbers beyond 64-bit range, lone
//! surrogates, repeated keys, compressed bodies. None refuses a push; each
//! oddity is recorded where an operator finds it.

use std::io::Write;

use flate2::Compression;
use flate2::write::{GzEncoder, ZlibEncoder};
use serde_json::Value;

use crate::support::db::count;
use crate::support::{TestApp, WEBHOOK};

/// Posts `body` with these headers; returns the status and the answer.
async fn post(app: &TestApp, body: Vec<u8>, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = app.client.post(app.url(WEBHOOK)).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn warnings(app: &TestApp) -> Vec<(String, String)> {
    let db = app.db();
    let mut statement = db
        .prepare("SELECT field, problem FROM parse_warnings ORDER BY event_id, position")
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test]
async fn numbers_beyond_64_bits_are_accepted_kept_whole_and_warned() {
    let app = TestApp::start().await;
    let huge = "1".repeat(400);
    let body = format!(
        r#"{{"conversation_id": 41, "occasion": "end", "total_time": 1e400, "vendor_extra": {huge}}}"#
    );
    let (status, answer) = app.push(body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    let db = app.db();
    let stored: String = db
        .query_row("SELECT body FROM events", [], |row| row.get(0))
        .unwrap();
    assert_eq!(stored, body);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM calls WHERE conversation_id = 41 AND total_time IS NULL"
        ),
        1
    );
    let fields: Vec<String> = warnings(&app).into_iter().map(|(field, _)| field).collect();
    assert!(fields.contains(&"total_time".to_owned()), "{fields:?}");
    assert!(fields.contains(&"vendor_extra".to_owned()), "{fields:?}");
}

#[tokio::test]
async fn a_lone_surrogate_is_accepted_as_a_replacement_character_and_warned() {
    let app = TestApp::start().await;
    let body = r#"{"conversation_id": 42, "nick_name": "张\ud83d"}"#;
    let (status, answer) = app.push(body).await;
    assert_eq!(status, 200, "{answer}");
    let name: String = app
        .db()
        .query_row("SELECT nick_name FROM calls", [], |row| row.get(0))
        .unwrap();
    assert_eq!(name, "张\u{FFFD}");
    assert!(
        warnings(&app)
            .iter()
            .any(|(field, problem)| field == "(body)" && problem.contains("surrogate"))
    );
}

#[tokio::test]
async fn a_repeated_key_is_read_as_its_last_value_and_warned() {
    let app = TestApp::start().await;
    let body = r#"{"conversation_id": 43, "conversation_id": 44, "occasion": "end"}"#;
    let (status, answer) = app.push(body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["conversation_id"], "44");
    assert_eq!(
        warnings(&app),
        [(
            "conversation_id".to_owned(),
            "the key is given more than once; the last value was read".to_owned()
        )]
    );
}

#[tokio::test]
async fn gzip_and_deflate_bodies_are_decompressed_and_stored_as_sent() {
    let app = TestApp::start().await;
    let body = br#"{"conversation_id": 45, "occasion": "end"}"#;
    let mut gzip = GzEncoder::new(Vec::new(), Compression::default());
    gzip.write_all(body).unwrap();
    let (status, answer) = post(
        &app,
        gzip.finish().unwrap(),
        &[("content-encoding", "gzip")],
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let other = br#"{"conversation_id": 46, "occasion": "end"}"#;
    let mut zlib = ZlibEncoder::new(Vec::new(), Compression::default());
    zlib.write_all(other).unwrap();
    let (status, answer) = post(
        &app,
        zlib.finish().unwrap(),
        &[("content-encoding", "deflate")],
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let db = app.db();
    let stored: String = db
        .query_row(
            "SELECT body FROM events WHERE conversation_id = 45",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(stored.as_bytes(), body);
    assert_eq!(count(&db, "SELECT count(*) FROM calls"), 2);
}

#[tokio::test]
async fn an_unknown_encoding_is_415_a_bomb_413_and_corrupt_gzip_400_kept() {
    let app = TestApp::start().await;
    let (status, answer) = post(&app, b"{}".to_vec(), &[("content-encoding", "br")]).await;
    assert_eq!(status, 415, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("br"));

    let mut bomb = GzEncoder::new(Vec::new(), Compression::best());
    bomb.write_all(&vec![b' '; 20 * 1024 * 1024]).unwrap();
    let bomb = bomb.finish().unwrap();
    assert!(bomb.len() < 1024 * 1024);
    let (status, _) = post(&app, bomb, &[("content-encoding", "gzip")]).await;
    assert_eq!(status, 413);

    let (status, answer) = post(&app, b"not gzip".to_vec(), &[("content-encoding", "gzip")]).await;
    assert_eq!(status, 400, "{answer}");
    let db = app.db();
    assert_eq!(count(&db, "SELECT count(*) FROM events"), 0);
    assert_eq!(count(&db, "SELECT count(*) FROM rejected_pushes"), 1);
}
