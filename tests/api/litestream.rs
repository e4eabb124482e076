//! Replication with Litestream as `examples/litestream.yml` and the README
//! set it up: `serve --wal-autocheckpoint 0` so Litestream alone makes the
//! checkpoints, `litestream replicate` copying the live database to a file
//! replica while pushes stream in, then `litestream restore` into a new file
//! that holds every acknowledged push.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::binary::{Server, binary, run};
use crate::support::db::event_bodies;
use crate::support::db::{count, open_read_only};
use crate::support::steady_pushes::SteadyPushes;
use crate::support::tools::{LITESTREAM, Running, python_tool};

/// The example configuration with its two paths pointed into `dir`.
fn configuration(dir: &Path, live: &Path) -> std::path::PathBuf {
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/litestream.yml"),
    )
    .unwrap();
    let replica = dir.join("replica");
    let text = example
        .replace(
            "path: /var/lib/udesk-calls/udesk-calls.db",
            &format!("path: {}", live.display()),
        )
        .replace(
            "path: /var/backups/udesk-calls/litestream",
            &format!("path: {}", replica.display()),
        );
    assert!(
        !text.contains("path: /var/"),
        "the example's paths moved; update this test: {text}"
    );
    let config = dir.join("litestream.yml");
    std::fs::write(&config, text).unwrap();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn litestream_replicates_the_live_database_and_restores_every_acknowledged_push() {
    let litestream = tokio::task::spawn_blocking(|| python_tool(LITESTREAM, "litestream"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("udesk-calls.db");
    let config = configuration(dir.path(), &live);
    let server = Server::start(&live, &["--wal-autocheckpoint", "0"]);
    let log = std::fs::File::create(dir.path().join("litestream.log")).unwrap();
    let replicating = Running::spawn(
        Command::new(&litestream)
            .args(["replicate", "-config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log),
    );

    let pushes = SteadyPushes::start(&server.address, 4);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let acked = pushes.stop().await;
    assert!(acked.len() >= 100, "only {} pushes in 3 s", acked.len());
    // kill -9: what Litestream replicates does not depend on a clean stop.
    server.kill_hard();

    // Litestream ships the WAL every second: the last pushes reach the
    // replica within a few seconds of their commit.
    let began = Instant::now();
    let mut attempt = 0;
    let (restored, missing) = loop {
        attempt += 1;
        let restored = dir.path().join(format!("restored-{attempt}.db"));
        let output = Command::new(&litestream)
            .args(["restore", "-config"])
            .arg(&config)
            .arg("-o")
            .arg(&restored)
            .arg(&live)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let missing = if output.status.success() {
            let stored = event_bodies(&restored);
            acked.iter().filter(|body| !stored.contains(*body)).count()
        } else {
            acked.len()
        };
        if missing == 0 || began.elapsed() > Duration::from_secs(30) {
            break (restored, missing);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    eprintln!(
        "{} pushes acknowledged, all restored at attempt {attempt} after {:.1?}",
        acked.len(),
        began.elapsed()
    );
    let litestream_log = std::fs::read_to_string(dir.path().join("litestream.log")).unwrap();
    assert_eq!(
        missing,
        0,
        "{missing} of {} acknowledged pushes are not in the restored database; Litestream said:\n{litestream_log}",
        acked.len()
    );
    assert!(
        replicating.terminate(),
        "Litestream stops on SIGTERM:\n{litestream_log}"
    );

    let restored_db = open_read_only(&restored);
    let integrity: String = restored_db
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    assert_eq!(
        count(
            &restored_db,
            "SELECT count(*) FROM (SELECT DISTINCT conversation_id FROM events)
             WHERE conversation_id NOT IN (SELECT conversation_id FROM calls)"
        ),
        0,
        "every restored push is merged into its call"
    );
    drop(restored_db);
    // The restored file is a working database for the service.
    let server = Server::start(&restored, &[]);
    server.kill_hard();
}

/// The size of the database file itself, without its WAL.
fn main_file_size(db: &Path) -> u64 {
    std::fs::metadata(db).unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_checkpoints_only_as_often_as_wal_autocheckpoint_says_and_never_with_zero() {
    let mut grown = Vec::new();
    for pages in ["0", "50"] {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("calls.db");
        let server = Server::start(&live, &["--wal-autocheckpoint", pages]);
        let at_start = main_file_size(&live);
        let pushes = SteadyPushes::start(&server.address, 4);
        pushes.wait_for(300).await;
        pushes.stop().await;
        // kill -9: no checkpoint on the way out either.
        server.kill_hard();
        grown.push((pages, at_start, main_file_size(&live)));
    }
    let [(_, zero_start, zero_end), (_, fifty_start, fifty_end)] = grown[..] else {
        unreachable!()
    };
    assert_eq!(
        zero_end, zero_start,
        "with 0 every write stays in the WAL: {grown:?}"
    );
    assert!(
        fifty_end > fifty_start,
        "with 50 the WAL is checkpointed: {grown:?}"
    );
}

#[test]
fn every_command_that_writes_explains_the_checkpoint_flag() {
    for command in ["serve", "import", "reprocess"] {
        let (_, help, _) = run(binary().args([command, "--help"]));
        for needle in [
            "--wal-autocheckpoint",
            "UDESK_CALLS_WAL_AUTOCHECKPOINT",
            "Litestream",
        ] {
            assert!(
                help.contains(needle),
                "{command} --help lacks {needle}: {help}"
            );
        }
    }
}
