//! Erasing personal data: `purge --customer-phone`, `purge --before`,
//! `--dry-run`, and `serve --retain-days`, on a database the service is
//! using. Afterwards the erased number's bytes are in neither the database
//! file nor its WAL.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde_json::{Value, json};

use udesk_calls::config::Settings;

use crate::support::TestApp;
use crate::support::binary::{Server, binary, run, run_with_input};
use crate::support::db::{count, open_read_only, wait_until_compressed};
use crate::support::tmpfs::Tmpfs;

const PHONE: &str = "13987654321";

/// Two pushes of a call of `phone`, started at `started`.
fn call(id: i64, phone: &str, started: &str) -> Vec<Value> {
    vec![
        json!({"conversation_id": id, "occasion": "agent_incall", "timestamp": started,
               "customer_phone": phone, "call_start_at": started,
               "ticket_numbers": [format!("#{id}")], "record_url": format!("http://rec.example/{id}.wav")}),
        json!({"conversation_id": id, "occasion": "end", "timestamp": started,
               "customer_phone": phone, "total_time": format!("{phone}x"),
               "note_custom_fields": [{"id": "TextField_1", "name": "tel", "value": phone}]}),
    ]
}

async fn app_with_customers() -> TestApp {
    let app = TestApp::start().await;
    for (id, phone) in [
        (1, PHONE),
        (2, "13800000002"),
        (3, PHONE),
        (4, "13800000004"),
    ] {
        for push in call(id, phone, "2024-05-01 10:00:00 +0800") {
            app.push_json(&push).await;
        }
    }
    // Someone else's call that mentions the number in a field of its own.
    app.push_json(&json!({"conversation_id": 5, "occasion": "end",
                          "customer_phone": "13800000005", "dtmf": PHONE}))
        .await;
    let (status, _) = app.push(format!("{{\"broken\": \"{PHONE}\"")).await;
    assert_eq!(status, 400);
    app
}

fn file_holds(path: &Path, needle: &str) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    [path.to_path_buf(), wal.into()].iter().any(|file| {
        std::fs::read(file).is_ok_and(|bytes| {
            bytes
                .windows(needle.len())
                .any(|window| window == needle.as_bytes())
        })
    })
}

fn purge(db: &Path, args: &[&str]) -> (i32, String) {
    let (code, _, stderr) = run(binary().arg("purge").arg("--db").arg(db).args(args));
    (code, stderr)
}

#[tokio::test]
async fn a_dry_run_counts_and_erases_nothing() {
    let app = app_with_customers().await;
    let (code, stderr) = purge(&app.db_path, &["--customer-phone", PHONE, "--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("would erase 3 calls (5 events"), "{stderr}");
    assert!(stderr.contains("and 1 rejected pushes"), "{stderr}");
    assert!(!stderr.contains(PHONE), "{stderr}");
    assert_eq!(count(&app.db(), "SELECT count(*) FROM calls"), 5);
}

#[test]
fn a_dry_run_plans_a_purge_on_a_full_disk_with_the_service_stopped_or_running() {
    // Declared first, so it is dropped (unmounted) after the server.
    let Some(tmpfs) = Tmpfs::mount("4m") else {
        return;
    };
    let db = tmpfs.path().join("calls.db");
    let pushes: Vec<String> = [(1, PHONE), (2, "13800000002"), (3, PHONE)]
        .into_iter()
        .flat_map(|(id, phone)| call(id, phone, "2024-05-01 10:00:00 +0800"))
        .map(|push| push.to_string())
        .collect();
    let (code, _, stderr) = run_with_input(
        binary().args(["import", "-", "--db"]).arg(&db),
        pushes.join("\n").as_bytes(),
    );
    assert_eq!(code, 0, "{stderr}");
    let dry_run = || {
        let (code, stderr) = purge(&db, &["--customer-phone", PHONE, "--dry-run"]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stderr.contains("would erase 2 calls (4 events"), "{stderr}");
    };

    // Stopped, the service left no `-shm` for the dry run to map.
    let ballast = tmpfs.fill("ballast");
    dry_run();
    std::fs::remove_file(&ballast).unwrap();

    let server = Server::start(&db, &[]);
    let ballast = tmpfs.fill("ballast");
    dry_run();
    // Room made, the purge itself runs as ever, beside the service.
    std::fs::remove_file(&ballast).unwrap();
    let (code, stderr) = purge(&db, &["--customer-phone", PHONE]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("erased 2 calls"), "{stderr}");
    assert_eq!(count(&open_read_only(&db), "SELECT count(*) FROM calls"), 1);
    drop(server);
}

#[tokio::test]
async fn purging_a_customer_while_serving_erases_every_byte_of_the_number() {
    let app = app_with_customers().await;
    assert!(file_holds(&app.db_path, PHONE));
    let (code, stderr) = purge(&app.db_path, &["--customer-phone", PHONE]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("erased 3 calls (5 events"), "{stderr}");
    assert!(!stderr.contains(PHONE), "{stderr}");

    let db = app.db();
    let left: Vec<i64> = db
        .prepare("SELECT conversation_id FROM calls ORDER BY 1")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(left, [2, 4]);
    for table in ["events", "parse_warnings", "tickets", "custom_fields"] {
        assert_eq!(
            count(
                &db,
                &format!("SELECT count(*) FROM {table} WHERE conversation_id IN (1, 3, 5)")
            ),
            0,
            "{table}"
        );
    }
    assert_eq!(count(&db, "SELECT count(*) FROM rejected_pushes"), 0);
    drop(db);
    assert!(
        !file_holds(&app.db_path, PHONE),
        "the number's bytes are still in the files"
    );

    // The service goes on: new pushes are stored, erased calls are gone.
    app.push_json(&call(6, "13800000006", "2024-05-02 10:00:00 +0800")[0])
        .await;
    let data = app
        .data("{ a: call(conversationId: \"1\") { status } b: call(conversationId: \"6\") { status } }", json!({}))
        .await;
    assert_eq!(data, json!({"a": null, "b": {"status": "IN_PROGRESS"}}));
}

#[tokio::test]
async fn purging_a_customer_erases_the_number_from_compressed_pushes_and_its_index_too() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start_training_after(dir, Settings::open_local(), 100).await;
    for id in 100..160 {
        for push in call(id, &format!("1380000{id:04}"), "2024-05-01 09:00:00 +0800") {
            app.push_json(&push).await;
        }
    }
    for id in [1, 3] {
        for push in call(id, PHONE, "2024-05-01 10:00:00 +0800") {
            app.push_json(&push).await;
        }
    }
    // Every push compressed, the customer's too: the number is then found
    // through the digits kept of it, reversed, in `call_numbers`.
    wait_until_compressed(&app.db_path);
    let reversed: String = PHONE.chars().rev().collect();
    assert!(file_holds(&app.db_path, &reversed));

    let (code, stderr) = purge(&app.db_path, &["--customer-phone", PHONE]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("erased 2 calls (4 events"), "{stderr}");
    assert_eq!(count(&app.db(), "SELECT count(*) FROM calls"), 60);
    for needle in [PHONE, reversed.as_str()] {
        assert!(
            !file_holds(&app.db_path, needle),
            "{needle} is still in the files"
        );
    }
}

#[tokio::test]
async fn fragments_left_by_older_writes_are_erased_by_rewriting_the_file() {
    let app = app_with_customers().await;
    let path = app.db_path.clone();
    let dir = app.stop_keeping_files().await;
    {
        // As a database written before secure_delete: the old value stays
        // in the page's free space.
        let db = Connection::open(&path).unwrap();
        db.execute_batch(
            "PRAGMA secure_delete = OFF;
             UPDATE calls SET customer_phone = 'moved' WHERE conversation_id = 1;
             PRAGMA wal_checkpoint(TRUNCATE);",
        )
        .unwrap();
    }
    let (code, stderr) = purge(&path, &["--customer-phone", PHONE]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!file_holds(&path, PHONE), "{stderr}");
    drop(dir);
}

#[tokio::test]
async fn purging_before_a_date_erases_older_calls_and_keeps_newer_ones() {
    let app = TestApp::start().await;
    for push in call(10, "13800000010", "2023-12-31 23:59:59 +0800") {
        app.push_json(&push).await;
    }
    for push in call(11, "13800000011", "2024-01-01 00:00:00 +0800") {
        app.push_json(&push).await;
    }
    let (code, stderr) = purge(&app.db_path, &["--before", "2024-01-01"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("erased 1 calls (2 events"), "{stderr}");
    let db = app.db();
    assert_eq!(
        count(&db, "SELECT count(*) FROM calls WHERE conversation_id = 10"),
        0
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM calls WHERE conversation_id = 11"),
        1
    );
}

#[tokio::test]
async fn a_dry_run_counts_more_calls_than_one_statement_can_name() {
    let app = TestApp::start().await;
    for push in call(1, "13800000001", "2023-06-01 10:00:00 +0800") {
        app.push_json(&push).await;
    }
    // 40,000 copies of that call, more than the 32,766 parameters a
    // statement holds: a year of a busy center is far more.
    const COPIES: i64 = 40_000;
    let mut db = Connection::open(&app.db_path).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    let tx = db.transaction().unwrap();
    tx.execute_batch(
        "CREATE TEMP TABLE one_calls AS SELECT * FROM calls WHERE conversation_id = 1;
         CREATE TEMP TABLE one_events AS SELECT * FROM events WHERE conversation_id = 1;
         UPDATE one_events SET id = NULL;",
    )
    .unwrap();
    for table in ["calls", "events"] {
        let mut next = tx
            .prepare(&format!(
                "UPDATE one_{table} SET conversation_id = conversation_id + 1"
            ))
            .unwrap();
        let mut copy = tx
            .prepare(&format!("INSERT INTO {table} SELECT * FROM one_{table}"))
            .unwrap();
        for _ in 0..COPIES {
            next.execute([]).unwrap();
            copy.execute([]).unwrap();
        }
    }
    tx.commit().unwrap();
    drop(db);

    let (code, stderr) = purge(&app.db_path, &["--before", "2024-01-01", "--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "would erase {} calls ({} events",
            COPIES + 1,
            2 * (COPIES + 1)
        )),
        "{stderr}"
    );
    assert_eq!(count(&app.db(), "SELECT count(*) FROM calls"), COPIES + 1);
}

#[test]
fn a_purge_needs_one_clear_target() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    for (args, expected) in [
        (vec!["--customer-phone", "138"], "at least 5 digits"),
        (vec!["--before", "last tuesday"], "is not a time"),
    ] {
        let (code, stderr) = purge(&db, &args);
        assert_ne!(code, 0, "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    // Without a selector, or with two, the error names every selector.
    for args in [
        vec![],
        vec!["--customer-phone", "13800001111", "--before", "2024-05-01"],
    ] {
        let (code, stderr) = purge(&db, &args);
        assert_ne!(code, 0, "{args:?}");
        assert!(
            stderr.contains("--customer-phone") && stderr.contains("--before"),
            "{args:?}: {stderr}"
        );
    }
}

#[tokio::test]
async fn serve_with_retain_days_erases_calls_older_than_the_limit() {
    let app = TestApp::start().await;
    for push in call(20, "13800000020", "2020-01-01 10:00:00 +0800") {
        app.push_json(&push).await;
    }
    let recent = chrono::Utc::now()
        .format("%Y-%m-%d %H:%M:%S +0000")
        .to_string();
    for push in call(21, "13800000021", &recent) {
        app.push_json(&push).await;
    }
    let path = app.db_path.clone();
    let dir = app.stop_keeping_files().await;
    assert!(file_holds(&path, "13800000020"));
    let server = Server::start(&path, &["--retain-days", "30"]);
    let began = Instant::now();
    loop {
        let db = open_read_only(&path);
        if count(&db, "SELECT count(*) FROM calls WHERE conversation_id = 20") == 0 {
            assert_eq!(
                count(&db, "SELECT count(*) FROM calls WHERE conversation_id = 21"),
                1
            );
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "old calls were not erased"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Erased from the files too, the service still running.
    while file_holds(&path, "13800000020") {
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "the old call's number is still in the files"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(server);
    drop(dir);
}
