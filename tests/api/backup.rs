//! `udesk-calls backup` as an operator runs it: taken while `serve` takes a
//! steady stream of pushes, the copy passes `PRAGMA integrity_check`, holds
//! every push acknowledged before the backup started, and a fresh `serve`
//! opened on it serves every call in it. What it refuses, and its progress
//! bar, shown on a terminal only.

use std::collections::HashSet;
use std::path::Path;

use serde_json::json;

use crate::support::binary::{Server, binary, post_graphql, run, run_with_input};
use crate::support::calls::synthetic_call;
use crate::support::db::event_bodies;
use crate::support::db::{count, open_read_only};
use crate::support::steady_pushes::SteadyPushes;
use crate::support::tmpfs::Tmpfs;
use crate::support::tools::on_a_terminal;

fn integrity(db: &Path) -> String {
    open_read_only(db)
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_pushes_stream_in_restores_every_push_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.db");
    let copy = dir.path().join("backup.db");
    let server = Server::start(&live, &[]);
    let pushes = SteadyPushes::start(&server.address, 8);
    pushes.wait_for(1500).await;

    let before = pushes.acked();
    let (db, dest) = (live.clone(), copy.clone());
    let (code, _, stderr) = tokio::task::spawn_blocking(move || {
        run(binary().arg("backup").arg(&dest).env("UDESK_CALLS_DB", &db))
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("backed up"), "{stderr}");
    // The service kept answering 200 through the backup and after it.
    let after_backup = pushes.acked_count();
    pushes.wait_for(after_backup + 200).await;
    let all = pushes.stop().await;
    drop(server);

    assert_eq!(integrity(&copy), "ok");
    let backed_up = event_bodies(&copy);
    let missing = before
        .iter()
        .filter(|body| !backed_up.contains(*body))
        .count();
    assert_eq!(
        missing,
        0,
        "{missing} of {} acknowledged pushes are missing",
        before.len()
    );
    assert!(
        backed_up.len() < all.len(),
        "the copy is of one moment, not of the end"
    );
    let copied = open_read_only(&copy);
    assert_eq!(
        count(
            &copied,
            "SELECT count(*) FROM (SELECT DISTINCT conversation_id FROM events)
             WHERE conversation_id NOT IN (SELECT conversation_id FROM calls)"
        ),
        0,
        "every event in the copy has its call: one consistent snapshot"
    );
    let mode: String = copied
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "delete", "the copy is one self-contained file");
    let calls_in_copy = count(&copied, "SELECT count(*) FROM calls");
    drop(copied);

    // Restore: a fresh service on the copy serves every call in it.
    let restored = dir.path().join("restored.db");
    std::fs::copy(&copy, &restored).unwrap();
    let server = Server::start(&restored, &[]);
    let answer = post_graphql(
        &reqwest::Client::new(),
        &server.address,
        &json!({ "query": "{ calls { totalCount } }" }),
    )
    .await;
    assert_eq!(answer["data"]["calls"]["totalCount"], json!(calls_in_copy));
    let acked_calls: HashSet<i64> = before
        .iter()
        .map(|body| {
            serde_json::from_str::<serde_json::Value>(body).unwrap()["conversation_id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert!(calls_in_copy as usize >= acked_calls.len());
    drop(server);
    assert_eq!(integrity(&restored), "ok");
}

/// A small database made by `import`, and its folder.
fn small_database() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let (code, _, stderr) = run_with_input(
        binary().args(["import", "-", "--db"]).arg(&db),
        synthetic_call(11, 3).join("\n").as_bytes(),
    );
    assert_eq!(code, 0, "{stderr}");
    (dir, db)
}

#[test]
fn backup_never_overwrites_without_force_and_never_copies_onto_the_database() {
    let (dir, db) = small_database();
    let dest = dir.path().join("kept.db");
    std::fs::write(&dest, "an older backup").unwrap();

    let (code, _, stderr) = run(binary().arg("backup").arg(&dest).arg("--db").arg(&db));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("already exists") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "an older backup");

    let (code, _, stderr) = run(binary()
        .args(["backup", "--force"])
        .arg(&dest)
        .arg("--db")
        .arg(&db));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(integrity(&dest), "ok");
    assert_eq!(
        count(&open_read_only(&dest), "SELECT count(*) FROM calls"),
        1
    );

    let (code, _, stderr) = run(binary()
        .args(["backup", "--force"])
        .arg(&db)
        .arg("--db")
        .arg(&db));
    assert_eq!(code, 1);
    assert!(stderr.contains("is the database itself"), "{stderr}");
    assert_eq!(count(&open_read_only(&db), "SELECT count(*) FROM calls"), 1);

    let (code, _, stderr) = run(binary()
        .arg("backup")
        .arg(dir.path().join("no-such-folder/copy.db"))
        .arg("--db")
        .arg(&db));
    assert_eq!(code, 1);
    assert!(stderr.contains("does not exist"), "{stderr}");

    let (code, _, stderr) = run(binary()
        .arg("backup")
        .arg(dir.path().join("copy.db"))
        .arg("--db")
        .arg(dir.path().join("missing.db")));
    assert_eq!(code, 1);
    assert!(stderr.contains("there is no database"), "{stderr}");

    // A failure after the copy began: the partial copy is removed.
    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE notes (text)")
        .unwrap();
    let (code, _, stderr) = run(binary()
        .arg("backup")
        .arg(dir.path().join("copy.db"))
        .arg("--db")
        .arg(&other));
    assert_eq!(code, 1);
    assert!(stderr.contains("not a udesk-calls database"), "{stderr}");
    assert!(stderr.contains("was not written"), "{stderr}");
    assert!(!dir.path().join("copy.db").exists());

    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        left.iter().all(|name| !name.ends_with(".partial")),
        "a partial copy was left behind: {left:?}"
    );
}

#[test]
fn a_backup_that_fills_its_disk_leaves_nothing_beside_dest() {
    let Some(tmpfs) = Tmpfs::mount("1m") else {
        return;
    };
    // About 3 MiB: pushes of 100 KB each.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let pushes: Vec<String> = (0..30)
        .map(|index| {
            json!({
                "conversation_id": 8_000_000 + index,
                "occasion": "end",
                "timestamp": "2024-05-06 10:00:00 +0800",
                "x_padding": format!("{index:08}").repeat(12_500),
            })
            .to_string()
        })
        .collect();
    let (code, _, stderr) = run_with_input(
        binary().args(["import", "-", "--db"]).arg(&db),
        pushes.join("\n").as_bytes(),
    );
    assert_eq!(code, 0, "{stderr}");

    let dest = tmpfs.path().join("copy.db");
    let (code, _, stderr) = run(binary().arg("backup").arg(&dest).arg("--db").arg(&db));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("full"), "{stderr}");
    assert!(stderr.contains("was not written"), "{stderr}");
    let left: Vec<String> = std::fs::read_dir(tmpfs.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "left beside {}: {left:?}", dest.display());
}

#[test]
fn progress_bars_show_on_a_terminal_and_never_in_captured_output() {
    let (dir, db) = small_database();
    let db = db.to_str().unwrap();
    let pushes = dir.path().join("pushes.ndjson");
    std::fs::write(&pushes, synthetic_call(12, 4).join("\n")).unwrap();
    let pushes = pushes.to_str().unwrap();
    let copy = dir.path().join("copy.db");
    let copy = copy.to_str().unwrap();
    // A stage that ends within one frame may never be drawn, so each
    // command is checked for any of its stages.
    let exported = dir.path().join("calls.csv");
    let exported = exported.to_str().unwrap();
    let commands: [(&[&str], &[&str]); 5] = [
        (&["import", pushes, "--db", db], &["reading ["]),
        (
            &[
                "export",
                "--from",
                "2000-01-01",
                "--to",
                "2100-01-01",
                "--output",
                exported,
                "--db",
                db,
            ],
            &["opening the database", "exporting calls"],
        ),
        (
            &["purge", "--before", "2000-01-01", "--db", db],
            &["calls erased"],
        ),
        (
            &["reprocess", "--db", db],
            &[
                "opening the database",
                "parsing events",
                "clearing the calls",
                "merging calls",
            ],
        ),
        (
            &["backup", copy, "--db", db],
            &["copying pages", "checking the copy"],
        ),
    ];
    for (args, stages) in commands {
        let (code, screen) = on_a_terminal(args);
        assert_eq!(code, 0, "{args:?}: {screen}");
        assert!(
            stages.iter().any(|stage| screen.contains(stage)),
            "{args:?} showed no progress: {screen:?}"
        );

        let _ = std::fs::remove_file(copy);
        let (code, _, stderr) = run(binary().args(args));
        assert_eq!(code, 0, "{args:?}: {stderr}");
        assert!(
            stages.iter().all(|stage| !stderr.contains(stage)) && !stderr.contains('\u{1b}'),
            "{args:?}: a bar reached captured output: {stderr:?}"
        );
        let _ = std::fs::remove_file(copy);
    }
}

#[test]
fn backup_help_explains_every_flag() {
    let (code, help, _) = run(binary().args(["backup", "--help"]));
    assert_eq!(code, 0);
    for needle in [
        "DEST",
        "--db",
        "UDESK_CALLS_DB",
        "--force",
        "integrity_check",
    ] {
        assert!(
            help.contains(needle),
            "backup --help lacks {needle}: {help}"
        );
    }
    let (_, help, _) = run(binary().arg("--help"));
    assert!(help.contains("backup"), "{help}");
}
