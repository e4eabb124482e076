//! The database file under the service: a corrupt file or another
//! application's is refused at start, and a file deleted under a running
//! service is noticed before the next `200`.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use rusqlite::Connection;

use crate::support::TestApp;
use crate::support::binary::{binary, run};
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

#[tokio::test]
async fn a_corrupt_database_is_refused_at_start_with_a_clear_message() {
    let app = TestApp::start().await;
    for id in 1..=300 {
        app.push_all(&synthetic_call(id, 3)).await;
    }
    let path = app.db_path.clone();
    let dir = app.stop_keeping_files().await;
    let pages = std::fs::metadata(&path).unwrap().len() / 4096;
    assert!(pages > 40, "only {pages} pages");
    let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    for page in (pages / 2)..(pages / 2 + 20) {
        file.seek(SeekFrom::Start(page * 4096)).unwrap();
        file.write_all(&[0xA5; 512]).unwrap();
    }
    drop(file);
    let (code, stderr) = import_into(&path);
    assert_ne!(code, 0);
    assert!(stderr.contains("is corrupt"), "{stderr}");
    drop(dir);
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
        eprintln!("skipped: chattr +i is not possible here (needs root and ext4 or xfs)");
        return;
    }
    let (status, answer) = app.push(synthetic_call(2, 1)[0].clone()).await;
    assert!(chattr("-i"), "the -shm file stays immutable");
    assert_eq!(status, 503, "{answer}");
    let (status, answer) = app.push(synthetic_call(3, 1)[0].clone()).await;
    assert_eq!(status, 200, "{answer}");
}
