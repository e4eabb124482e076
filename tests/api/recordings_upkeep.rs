//! Keeping an archive sound, as an operator does from the shell:
//! `recordings retry` beside a running `serve` brings back the recordings
//! that failed, and `recordings verify` names the copies gone missing or
//! corrupt, by call.

use std::time::{Duration, Instant};

use crate::recordings::{archived_files, end_push, totals_at};
use crate::support::audio_source::AudioSource;
use crate::support::binary::{Server, binary, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_recordings_are_retried_and_verify_names_the_missing_and_corrupt_copies() {
    let source = AudioSource::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let archive = dir.path().join("recordings");
    let archive_flag = archive.to_string_lossy().into_owned();
    let mut server = Server::start(&db, &["--recordings-to", &archive_flag]);
    let client = reqwest::Client::new();
    for n in 1..=3 {
        source.add(&format!("up-{n}.wav"), 1, 40 + n as u64);
    }
    // Call 4's recording is not on the source yet: a 404, failed at once.
    let links = [
        (1, "up-1.wav"),
        (2, "up-2.wav"),
        (3, "up-3.wav"),
        (4, "up-4.wav"),
    ];
    for (id, name) in links {
        let push = end_push(id, Some(&source.link(name, 3600)), &[]);
        let url = format!("{}/webhooks/udesk/calls", server.address);
        assert_eq!(
            client.post(url).json(&push).send().await.unwrap().status(),
            200
        );
    }
    let settled = |want_archived: i64| {
        let client = client.clone();
        let address = server.address.clone();
        async move {
            let began = Instant::now();
            loop {
                let totals = totals_at(&client, &address).await;
                if totals["pending"] == 0 && totals["archived"] == want_archived {
                    return totals;
                }
                assert!(began.elapsed() < Duration::from_secs(30), "{totals}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let totals = settled(3).await;
    assert_eq!(totals["failed"], 1, "{totals}");

    // The file appears at the source; retry, beside the running service.
    source.add("up-4.wav", 1, 44);
    let (code, _, stderr) = run(binary().args(["recordings", "retry", "--db"]).arg(&db));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("re-queued 1 failed recordings"), "{stderr}");
    let totals = settled(4).await;
    assert_eq!(totals["failed"], 0, "{totals}");
    let (_, _, stderr) = run(binary().args(["recordings", "retry", "--db"]).arg(&db));
    assert!(stderr.contains("no recording has failed"), "{stderr}");
    server.signal("TERM");
    assert!(server.wait_for_exit(Duration::from_secs(10)).is_some());

    let verify = || {
        run(binary()
            .args([
                "recordings",
                "verify",
                "--recordings-to",
                &archive_flag,
                "--db",
            ])
            .arg(&db))
    };
    let (code, _, stderr) = verify();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("verified 4 archived recordings"),
        "{stderr}"
    );
    assert!(stderr.contains("all intact"), "{stderr}");

    // One copy lost, one with a byte flipped.
    let files = archived_files(&archive);
    let path_of = |name: &str| archive.join(&name[..2]).join(name);
    std::fs::remove_file(path_of(&files[0])).unwrap();
    let flipped = path_of(&files[1]);
    let mut bytes = std::fs::read(&flipped).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&flipped, bytes).unwrap();
    let (code, _, stderr) = verify();
    assert_eq!(code, 1, "{stderr}");
    let lost = files[0].trim_end_matches(".wav");
    let bad = files[1].trim_end_matches(".wav");
    assert!(
        stderr.lines().any(|line| line.starts_with("missing: ")
            && line.contains(lost)
            && line.contains("(the recording of call ")),
        "{stderr}"
    );
    assert!(
        stderr
            .lines()
            .any(|line| line.starts_with("corrupt (its SHA-256 is ") && line.contains(bad)),
        "{stderr}"
    );
    assert!(
        stderr.contains("2 intact, 2 missing or corrupt"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_stored_before_archiving_began_are_backfilled_once() {
    let source = AudioSource::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let archive = dir.path().join("recordings");
    let archive_flag = archive.to_string_lossy().into_owned();
    let client = reqwest::Client::new();
    // Stored by a service that kept no recordings.
    let mut server = Server::start(&db, &[]);
    for id in [70, 71] {
        source.add(&format!("old-{id}.wav"), 1, id as u64);
        source.add(&format!("old-ivr-{id}.wav"), 1, 100 + id as u64);
        let ivr = source.link(&format!("old-ivr-{id}.wav"), 3600);
        let mut push = end_push(id, Some(&source.link(&format!("old-{id}.wav"), 3600)), &[]);
        // One IVR recording with its id, one without.
        push["ivr_record_urls"] = if id == 70 {
            serde_json::json!([{ "id": 900, "ivr_record_url": ivr }])
        } else {
            serde_json::json!([{ "ivr_record_url": ivr }])
        };
        let url = format!("{}/webhooks/udesk/calls", server.address);
        assert_eq!(
            client.post(url).json(&push).send().await.unwrap().status(),
            200
        );
    }
    server.signal("TERM");
    assert!(server.wait_for_exit(Duration::from_secs(10)).is_some());

    let server = Server::start(&db, &["--recordings-to", &archive_flag]);
    // Spelled otherwise than serve has it: the same archive.
    let spelled_otherwise = format!("{archive_flag}/./");
    let backfill = || {
        run(binary()
            .args([
                "recordings",
                "backfill",
                "--recordings-to",
                &spelled_otherwise,
                "--db",
            ])
            .arg(&db))
    };
    let (code, _, stderr) = backfill();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("queued 4 recordings of stored calls"),
        "{stderr}"
    );
    let began = Instant::now();
    while totals_at(&client, &server.address).await["archived"] != 4 {
        assert!(began.elapsed() < Duration::from_secs(30), "not archived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ivr = client
        .get(format!("{}/recordings/71/ivr/n1", server.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ivr.status(), 200);
    let (_, _, stderr) = backfill();
    assert!(stderr.contains("queued already"), "{stderr}");
    assert_eq!(archived_files(&archive).len(), 4);
}
