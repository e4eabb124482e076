//! The database file under the service: a damaged header or another
//! application's file is refused at start, damage inside is found by the
//! background check, and a file deleted under a running
//! service is noticed before the next `200`.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use rusqlite::Connection;

use crate::support::TestApp;
use crate::support::binary::{Server, binary, run};
use crate::support::calls::synthetic_call;
use crate::support::db::count;

/// `udesk-calls import` of one push into `db`: (exit code, stderr).
fn import_into(db: &Path) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("push.ndjson");
    std::fs::write(&file, r#"{"conversation_id": 1, "occasion": "end"}"#).unwrap();
    let (code, _, stderr) = run(binary().arg("import").arg(&file).arg("--db").arg(db));
    (code, stderr)
}

/// A database of 300 three-push calls, stopped: its directory and path.
async fn a_database_of_300_calls() -> (tempfile::TempDir, std::path::PathBuf) {
    let app = TestApp::start().await;
    for id in 1..=300 {
        app.push_all(&synthetic_call(id, 3)).await;
    }
    let path = app.db_path.clone();
    (app.stop_keeping_files().await, path)
}

#[tokio::test]
async fn a_file_with_a_damaged_header_or_cut_short_is_refused_at_start_with_a_clear_message() {
    let (_dir, path) = a_database_of_300_calls().await;
    let sound = std::fs::read(&path).unwrap();
    let mut damaged_header = sound.clone();
    damaged_header[..16].copy_from_slice(b"not a database!!");
    let cut_short = sound[..sound.len() / 2].to_vec();
    for (bytes, expected) in [
        (damaged_header, "is not a SQLite database"),
        (cut_short, "it was cut short"),
    ] {
        std::fs::write(&path, bytes).unwrap();
        let (code, stderr) = import_into(&path);
        assert_ne!(code, 0, "{expected}");
        assert!(stderr.contains(expected), "{stderr}");
    }
}

#[tokio::test]
async fn damage_inside_the_file_is_found_in_the_background_logged_counted_and_made_unready() {
    let (_dir, path) = a_database_of_300_calls().await;
    // Damage where only a whole-file read goes: the last leaf pages of the
    // pushes' table (the planner's statistics made fresh first, so the
    // start does not sample them either).
    let db = Connection::open(&path).unwrap();
    db.execute_batch("ANALYZE").unwrap();
    let leaves: Vec<u32> = db
        .prepare("SELECT pageno FROM dbstat WHERE name = 'events' AND pagetype = 'leaf' ORDER BY path DESC LIMIT 3")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    drop(db);
    assert_eq!(leaves.len(), 3);
    let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    for page in leaves {
        file.seek(SeekFrom::Start(u64::from(page - 1) * 4096))
            .unwrap();
        file.write_all(&[0xA5; 512]).unwrap();
    }
    drop(file);

    // The start reads no more than the header and the schema: the service
    // comes up, then the whole-file check finds the damage.
    let server = Server::start(&path, &[]);
    let status = readiness_once_checked(&server).await;
    assert_eq!(status, (503, "corrupt".to_owned()));
    let log = log_through(&server, "is corrupt");
    assert!(
        log.contains("is corrupt") && log.contains("restore it from a backup"),
        "{log}"
    );
    let metrics = scrape(&server).await;
    let problems = metrics
        .lines()
        .find_map(|line| line.strip_prefix("udesk_calls_integrity_problems "))
        .expect("the metric is exposed");
    assert!(problems.parse::<u32>().unwrap() > 0, "{metrics}");
}

/// What the server logged, up to the first line with `needle` (or 10 s of
/// silence).
fn log_through(server: &Server, needle: &str) -> String {
    let mut log = server.startup_log.join("\n");
    if !log.contains(needle) {
        log += &server.log_until(|log| log.contains(needle));
    }
    log
}

/// `/readyz` (status, body's `status`) once the first integrity check has
/// finished, as its metric tells.
async fn readiness_once_checked(server: &Server) -> (u16, String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while scrape(server)
        .await
        .contains("\nudesk_calls_integrity_checked_timestamp_seconds 0\n")
    {
        assert!(std::time::Instant::now() < deadline, "no check finished");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let ready = reqwest::get(format!("{}/readyz", server.address))
        .await
        .unwrap();
    let status = ready.status().as_u16();
    let body: serde_json::Value = ready.json().await.unwrap();
    (status, body["status"].as_str().unwrap().to_owned())
}

async fn scrape(server: &Server) -> String {
    reqwest::get(format!("{}/metrics", server.address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_sound_file_is_ready_and_its_check_is_reported_sound() {
    let (_dir, path) = a_database_of_300_calls().await;
    let server = Server::start(&path, &[]);
    assert_eq!(
        readiness_once_checked(&server).await,
        (200, "ready".to_owned())
    );
    let log = log_through(&server, "integrity check found the database sound");
    assert!(log.contains("found the database sound"), "{log}");
    let metrics = scrape(&server).await;
    assert!(
        metrics.contains("\nudesk_calls_integrity_problems 0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nudesk_calls_integrity_check_failing 0\n"),
        "{metrics}"
    );
}

#[test]
fn another_applications_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    for (name, setup, expected) in [
        (
            "marked.db",
            "PRAGMA application_id = 1234; CREATE TABLE notes (text TEXT);",
            "belongs to another application",
        ),
        (
            "unmarked.db",
            "CREATE TABLE invoices (id INTEGER PRIMARY KEY);",
            "not udesk-calls'",
        ),
    ] {
        let path = dir.path().join(name);
        Connection::open(&path)
            .unwrap()
            .execute_batch(setup)
            .unwrap();
        let (code, stderr) = import_into(&path);
        assert_ne!(code, 0, "{name}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
        let db = Connection::open(&path).unwrap();
        assert_eq!(
            count(
                &db,
                "SELECT count(*) FROM sqlite_schema WHERE name = 'events'"
            ),
            0,
            "{name} was migrated"
        );
    }
}

#[test]
fn a_new_database_is_marked_as_udesk_calls() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    let (code, stderr) = import_into(&path);
    assert_eq!(code, 0, "{stderr}");
    let id: i64 = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA application_id", [], |row| row.get(0))
        .unwrap();
    assert_eq!(id, 0x5544_4B43);
}

#[tokio::test]
async fn a_database_deleted_under_the_service_gets_503_never_200() {
    let app = TestApp::start().await;
    app.push_all(&synthetic_call(1, 2)).await;
    std::fs::remove_file(&app.db_path).unwrap();
    for id in 2..=4 {
        let (status, answer) = app.push(synthetic_call(id, 1)[0].clone()).await;
        assert_eq!(status, 503, "{answer}");
        assert!(
            answer["error"].as_str().unwrap().contains("retry"),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn a_shared_memory_file_made_immutable_gets_503_not_a_crash() {
    let app = TestApp::start().await;
    app.push_all(&synthetic_call(1, 1)).await;
    let mut shm = app.db_path.as_os_str().to_owned();
    shm.push("-shm");
    let chattr = |flag: &str| {
        std::process::Command::new("chattr")
            .arg(flag)
            .arg(&shm)
            .status()
            .is_ok_and(|status| status.success())
    };
    if !chattr("+i") {
        crate::support::skip::skipped(
            "chattr +i is not possible here (needs root and ext4 or xfs)",
        );
        return;
    }
    let (status, answer) = app.push(synthetic_call(2, 1)[0].clone()).await;
    assert!(chattr("-i"), "the -shm file stays immutable");
    assert_eq!(status, 503, "{answer}");
    let (status, answer) = app.push(synthetic_call(3, 1)[0].clone()).await;
    assert_eq!(status, 200, "{answer}");
}
