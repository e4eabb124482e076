//! Recordings archived (`serve --recordings-to`): real downloads from a
//! real HTTP server that signs its links and lets them expire, copies kept
//! byte for byte under their hash, served with `Range`, and links that can
//! never work failed rather than tried forever.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use udesk_calls::Settings;
use udesk_calls::config::recordings::{ArchiveTarget, RecordingSettings};

use crate::support::TestApp;
use crate::support::audio_source::AudioSource;
use crate::support::binary::{Server, binary, post_graphql, run};

pub fn archiving_to(dir: &Path) -> Settings {
    Settings {
        recordings: Some(RecordingSettings {
            target: ArchiveTarget::Directory(dir.to_owned()),
            concurrency: 4,
            timeout: Duration::from_secs(20),
            max_bytes: 10 * 1024 * 1024,
            max_rate: None,
        }),
        ..Settings::open_local()
    }
}

/// An `end` push of call `id` with its recording and IVR recordings.
pub fn end_push(id: i64, record_url: Option<&str>, ivr: &[(i64, &str)]) -> Value {
    let mut push = end_push_of(id, record_url, ivr);
    push["customer_phone"] = json!(format!("1380000{id:04}"));
    push
}

fn end_push_of(id: i64, record_url: Option<&str>, ivr: &[(i64, &str)]) -> Value {
    let ivr: Vec<Value> = ivr
        .iter()
        .map(|(rid, url)| json!({ "id": rid, "ivr_record_url": url }))
        .collect();
    json!({
        "conversation_id": id,
        "occasion": "end",
        "timestamp": "2024-05-06 09:00:30 +0800",
        "agent_id": 1001,
        "workflow": "in",
        "call_result": "客户接听",
        "total_time": 42,
        "record_url": record_url,
        "ivr_record_urls": ivr,
    })
}

const ARCHIVE: &str = "{ recordingsArchive { pending archived failed bytes } }";

/// Waits until nothing is pending; returns the archive's totals.
pub async fn settled(app: &TestApp, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let totals = app.data(ARCHIVE, Value::Null).await["recordingsArchive"].clone();
        if totals["pending"] == 0 || Instant::now() > deadline {
            return totals;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn a_burst_of_recordings_is_archived_byte_for_byte_and_served_with_ranges() {
    let source = AudioSource::start().await;
    let archive = tempfile::tempdir().unwrap();
    let app = TestApp::start_with(archiving_to(archive.path())).await;
    let mut expected = Vec::new();
    for n in 0..24_i64 {
        let wav = source.add(&format!("call-{n}.wav"), 2 + (n % 3) as u32, n as u64);
        let ivr = source.add(&format!("ivr-{n}.wav"), 1, 1000 + n as u64);
        let id = 9_000 + n;
        let ivr_link = source.link(&format!("ivr-{n}.wav"), 3600);
        app.push_json(&end_push(
            id,
            Some(&source.link(&format!("call-{n}.wav"), 3600)),
            &[(700 + n, ivr_link.as_str())],
        ))
        .await;
        expected.push((id, 700 + n, wav, ivr));
    }
    // The same audio under a second call: kept once.
    app.push_json(&end_push(
        9_999,
        Some(&source.link("call-0.wav", 3600)),
        &[],
    ))
    .await;

    let totals = settled(&app, Duration::from_secs(60)).await;
    assert_eq!(totals["archived"], 49, "{totals}");
    assert_eq!(totals["failed"], 0, "{totals}");

    let call = app
        .data(
            "query($id: ID!) { call(conversationId: $id) {
                recording { sourceUrl archived bytes sha256 contentType sourceExpiresAt error failed }
                ivrRecordings { id url sourceUrl archived bytes sha256 contentType sourceExpiresAt error failed }
            } }",
            json!({ "id": "9005" }),
        )
        .await;
    let recording = &call["call"]["recording"];
    let (_, _, wav, _) = &expected[5];
    assert_eq!(recording["archived"], true, "{recording}");
    assert_eq!(recording["bytes"], wav.len());
    assert_eq!(recording["sha256"], sha256_hex(wav));
    assert_eq!(recording["contentType"], "audio/wav");
    assert!(recording["sourceExpiresAt"].is_string(), "{recording}");
    assert_eq!(recording["error"], Value::Null);
    let (_, ivr_id, _, ivr) = &expected[5];
    let in_ivr = &call["call"]["ivrRecordings"][0];
    assert_eq!(in_ivr["id"], ivr_id.to_string(), "{in_ivr}");
    assert_eq!(in_ivr["archived"], true, "{in_ivr}");
    assert_eq!(in_ivr["sourceUrl"], in_ivr["url"]);
    assert_eq!(in_ivr["bytes"], ivr.len());
    assert_eq!(in_ivr["sha256"], sha256_hex(ivr));
    assert_eq!(in_ivr["contentType"], "audio/wav");
    assert!(in_ivr["sourceExpiresAt"].is_string(), "{in_ivr}");
    assert_eq!(in_ivr["failed"], false);

    let client = reqwest::Client::new();
    for (id, ivr_id, wav, ivr) in &expected {
        let whole = client
            .get(app.url(&format!("/recordings/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(whole.status(), 200);
        assert_eq!(whole.headers()["content-type"], "audio/wav");
        assert_eq!(
            whole.headers()["etag"].to_str().unwrap(),
            format!("\"{}\"", sha256_hex(wav))
        );
        assert_eq!(&whole.bytes().await.unwrap()[..], &wav[..], "call {id}");
        let of_ivr = client
            .get(app.url(&format!("/recordings/{id}/ivr/{ivr_id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(&of_ivr.bytes().await.unwrap()[..], &ivr[..], "IVR of {id}");
    }

    // A player seeking: the bytes asked for, and only those.
    let (id, _, wav, _) = &expected[3];
    let url = app.url(&format!("/recordings/{id}"));
    let part = client
        .get(&url)
        .header("range", "bytes=1000-1999")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"].to_str().unwrap(),
        format!("bytes 1000-1999/{}", wav.len())
    );
    assert_eq!(&part.bytes().await.unwrap()[..], &wav[1000..2000]);
    let tail = client
        .get(&url)
        .header("range", "bytes=-10")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), 206);
    assert_eq!(&tail.bytes().await.unwrap()[..], &wav[wav.len() - 10..]);
    let past = client
        .get(&url)
        .header("range", format!("bytes={}-", wav.len() + 5))
        .send()
        .await
        .unwrap();
    assert_eq!(past.status(), 416);
    let etag = format!("\"{}\"", sha256_hex(wav));
    let cached = client
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    let none = client
        .get(app.url("/recordings/12345"))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 404);

    // On disk: one file a distinct audio, named by its hash, none staged.
    let mut files = Vec::new();
    for folder in std::fs::read_dir(archive.path()).unwrap().flatten() {
        if folder.file_name() == ".incoming" {
            assert_eq!(std::fs::read_dir(folder.path()).unwrap().count(), 0);
            continue;
        }
        for file in std::fs::read_dir(folder.path()).unwrap().flatten() {
            let bytes = std::fs::read(file.path()).unwrap();
            let name = file.file_name().to_string_lossy().into_owned();
            assert_eq!(name, format!("{}.wav", sha256_hex(&bytes)));
            files.push(name);
        }
    }
    assert_eq!(
        files.len(),
        48,
        "24 calls and 24 IVR recordings, the repeat kept once"
    );
}

#[tokio::test]
async fn an_expired_link_and_a_missing_file_are_failed_and_not_tried_again() {
    let source = AudioSource::start().await;
    source.add("late.wav", 1, 1);
    let archive = tempfile::tempdir().unwrap();
    let app = TestApp::start_with(archiving_to(archive.path())).await;
    app.push_json(&end_push(8_001, Some(&source.link("late.wav", -60)), &[]))
        .await;
    app.push_json(&end_push(8_002, Some(&source.link("gone.wav", 3600)), &[]))
        .await;
    let totals = settled(&app, Duration::from_secs(30)).await;
    assert_eq!(totals["failed"], 2, "{totals}");
    assert_eq!(totals["archived"], 0, "{totals}");

    let query =
        "query($id: ID!) { call(conversationId: $id) { recording { archived failed error } } }";
    let late = app.data(query, json!({ "id": "8001" })).await;
    let late = &late["call"]["recording"];
    assert_eq!(late["failed"], true, "{late}");
    assert!(
        late["error"].as_str().unwrap().contains("expired"),
        "{late}"
    );
    let gone = app.data(query, json!({ "id": "8002" })).await;
    let gone = &gone["call"]["recording"];
    assert_eq!(gone["failed"], true, "{gone}");
    assert!(gone["error"].as_str().unwrap().contains("404"), "{gone}");
    assert!(
        !gone["error"].as_str().unwrap().contains("Signature"),
        "the error names no link: {gone}"
    );

    // Neither is tried again: an expired link is not even fetched.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(source.requests("late.wav"), 0);
    assert_eq!(source.requests("gone.wav"), 1);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("udesk_calls_recordings_failed_total{target=\"")
            || metrics.contains("udesk_calls_recordings_failed{target=\""),
        "{metrics}"
    );
}

/// The archive's totals from the server at `address`.
pub async fn totals_at(client: &reqwest::Client, address: &str) -> Value {
    let answer = post_graphql(client, address, &json!({ "query": ARCHIVE })).await;
    answer["data"]["recordingsArchive"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_downloads_loses_no_recording_and_leaves_no_partial_file() {
    let source = AudioSource::start().await;
    // Slow answers: kill -9 finds downloads in flight.
    source.slow_down(Duration::from_millis(400));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let archive = dir.path().join("recordings");
    let archive_flag = archive.to_string_lossy().into_owned();
    let flags = [
        "--recordings-to",
        archive_flag.as_str(),
        "--recordings-concurrency",
        "4",
    ];
    let server = Server::start(&db, &flags);
    let client = reqwest::Client::new();
    let mut wavs = Vec::new();
    for n in 0..40_i64 {
        let wav = source.add(&format!("k-{n}.wav"), 3, 500 + n as u64);
        let push = end_push(
            7_000 + n,
            Some(&source.link(&format!("k-{n}.wav"), 3600)),
            &[],
        );
        let status = client
            .post(format!("{}/webhooks/udesk/calls", server.address))
            .json(&push)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
        wavs.push(wav);
    }
    // Some kept, some in flight, most waiting.
    let began = Instant::now();
    while totals_at(&client, &server.address).await["archived"] == 0 {
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "nothing archived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before_kill = totals_at(&client, &server.address).await;
    server.kill_hard();
    assert_no_partial_file(&archive);

    source.slow_down(Duration::ZERO);
    let server = Server::start(&db, &flags);
    let began = Instant::now();
    let totals = loop {
        let totals = totals_at(&client, &server.address).await;
        if totals["pending"] == 0 || began.elapsed() > Duration::from_secs(60) {
            break totals;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "kill -9 with {} of 40 archived; after the restart {totals} in {:.1?}",
        before_kill["archived"],
        began.elapsed()
    );
    assert_eq!(totals["archived"], 40, "{totals}");
    for (n, wav) in wavs.iter().enumerate() {
        let copy = client
            .get(format!("{}/recordings/{}", server.address, 7_000 + n))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(&copy[..], &wav[..], "call {}", 7_000 + n);
    }
    assert_no_partial_file(&archive);
}

/// Every file under a final name holds exactly the bytes its name hashes.
fn assert_no_partial_file(archive: &Path) {
    for folder in std::fs::read_dir(archive).unwrap().flatten() {
        if folder.file_name() == ".incoming" {
            continue;
        }
        for file in std::fs::read_dir(folder.path()).unwrap().flatten() {
            let bytes = std::fs::read(file.path()).unwrap();
            let name = file.file_name().to_string_lossy().into_owned();
            assert_eq!(
                name,
                format!("{}.wav", sha256_hex(&bytes)),
                "a partial file"
            );
        }
    }
}

/// The files the archive at `dir` holds, by name.
pub fn archived_files(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for folder in std::fs::read_dir(dir).unwrap().flatten() {
        if folder.file_name() == ".incoming" {
            continue;
        }
        for file in std::fs::read_dir(folder.path()).unwrap().flatten() {
            names.push(file.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_and_retention_delete_the_copies_no_call_uses_any_more() {
    let source = AudioSource::start().await;
    let shared = source.add("shared.wav", 1, 1);
    let own = source.add("own.wav", 1, 2);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let archive = dir.path().join("recordings");
    let archive_flag = archive.to_string_lossy().into_owned();
    let mut server = Server::start(&db, &["--recordings-to", &archive_flag]);
    let client = reqwest::Client::new();
    // Calls 1 and 3 have the same audio; call 2 its own. All from 2024.
    for (id, name) in [(1, "shared.wav"), (2, "own.wav"), (3, "shared.wav")] {
        let push = end_push(id, Some(&source.link(name, 3600)), &[]);
        let url = format!("{}/webhooks/udesk/calls", server.address);
        assert_eq!(
            client.post(url).json(&push).send().await.unwrap().status(),
            200
        );
    }
    let began = Instant::now();
    while totals_at(&client, &server.address).await["archived"] != 3 {
        assert!(began.elapsed() < Duration::from_secs(30), "not archived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.signal("TERM");
    assert!(server.wait_for_exit(Duration::from_secs(10)).is_some());
    let shared_file = format!("{}.wav", sha256_hex(&shared));
    let own_file = format!("{}.wav", sha256_hex(&own));
    assert_eq!(archived_files(&archive).len(), 2);

    // Erasing call 1's customer keeps the copy call 3 still uses.
    let purge = |phone: &str| {
        run(binary()
            .args([
                "purge",
                "--customer-phone",
                phone,
                "--recordings-to",
                &archive_flag,
                "--db",
            ])
            .arg(&db))
    };
    let (code, _, stderr) = purge("13800000001");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("1 recordings (0 archived copies deleted)"),
        "{stderr}"
    );
    assert!(archived_files(&archive).contains(&shared_file));
    let (code, _, stderr) = purge("13800000003");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("1 recordings (1 archived copies deleted)"),
        "{stderr}"
    );
    assert_eq!(archived_files(&archive), vec![own_file]);

    // Retention erases call 2 (of 2024) at start, and its copy.
    let server = Server::start(
        &db,
        &["--recordings-to", &archive_flag, "--retain-days", "30"],
    );
    let began = Instant::now();
    while !archived_files(&archive).is_empty() {
        assert!(began.elapsed() < Duration::from_secs(30), "the copy stayed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let totals = totals_at(&client, &server.address).await;
    assert_eq!(totals["archived"], 0, "{totals}");
}
