//! Recordings when sources and pushes misbehave: a dead link holds no
//! other back, a link in any script is no trouble, an IVR recording
//! without an id is never taken for the call's own, an error page is no
//! recording, a call erased mid-download leaves no copy behind, and a copy
//! damaged on disk is repaired by the next download of the same audio.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::recordings::{archived_files, archiving_to, end_push, settled, sha256_hex, totals_at};
use crate::support::TestApp;
use crate::support::audio_source::AudioSource;
use crate::support::binary::{Server, binary, run};

#[tokio::test]
async fn a_dead_link_holds_no_other_recording_back() {
    let source = AudioSource::start().await;
    let archive = tempfile::tempdir().unwrap();
    let app = TestApp::start_with(archiving_to(archive.path())).await;
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/record/x.wav", nobody.local_addr().unwrap());
    drop(nobody);
    for id in 1..=3 {
        app.push_json(&end_push(id, Some(&format!("{dead}?n={id}")), &[]))
            .await;
    }
    // Let the dead links fail a few times first.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for id in 10..16 {
        source.add(&format!("live-{id}.wav"), 1, id as u64);
        app.push_json(&end_push(
            id,
            Some(&source.link(&format!("live-{id}.wav"), 3600)),
            &[],
        ))
        .await;
    }
    let began = Instant::now();
    loop {
        let totals = app
            .data(
                "{ recordingsArchive { pending archived failed } }",
                json!(null),
            )
            .await["recordingsArchive"]
            .clone();
        if totals["archived"] == 6 {
            assert_eq!(
                totals["pending"], 3,
                "the dead links wait, tried again: {totals}"
            );
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "held back: {totals}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dead = app
        .data(
            "{ call(conversationId: \"1\") { recording { archived failed error } } }",
            json!(null),
        )
        .await;
    let error = dead["call"]["recording"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(error.contains("the download failed"), "{dead}");
}

#[tokio::test]
async fn links_in_any_script_and_ivr_recordings_without_ids_are_kept_apart() {
    let source = AudioSource::start().await;
    let own = source.add("own.wav", 1, 1);
    let ivr = source.add("ivr.wav", 1, 2);
    let archive = tempfile::tempdir().unwrap();
    let app = TestApp::start_with(archiving_to(archive.path())).await;
    // Not a link at all: stored, never fetched, and no trouble for others.
    app.push_json(&end_push(20, Some("录音文件地址 abc"), &[(5, "中文")]))
        .await;
    let ivr_link = source.link("ivr.wav", 3600);
    let mut push = end_push(21, Some(&source.link("own.wav", 3600)), &[]);
    push["ivr_record_urls"] = json!([{ "ivr_record_url": ivr_link }]);
    app.push_json(&push).await;
    let totals = settled(&app, Duration::from_secs(20)).await;
    assert_eq!(totals["archived"], 2, "{totals}");
    let client = reqwest::Client::new();
    let get = |path: String| {
        let client = client.clone();
        async move { client.get(path).send().await.unwrap() }
    };
    let call = get(app.url("/recordings/21")).await.bytes().await.unwrap();
    assert_eq!(&call[..], &own[..], "the call's own recording");
    let by_place = get(app.url("/recordings/21/ivr/n1"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(&by_place[..], &ivr[..], "the IVR recording, by its place");
    let shown = app
        .data(
            "{ call(conversationId: \"21\") { recording { sha256 } ivrRecordings { id archived sha256 } } }",
            json!(null),
        )
        .await;
    assert_eq!(shown["call"]["recording"]["sha256"], sha256_hex(&own));
    assert_eq!(
        shown["call"]["ivrRecordings"][0]["sha256"],
        sha256_hex(&ivr)
    );
    assert_eq!(get(app.url("/recordings/20")).await.status(), 404);
}

#[tokio::test]
async fn a_page_answered_in_place_of_audio_is_no_recording() {
    let source = AudioSource::start().await;
    source.add("error.html", 1, 3);
    let archive = tempfile::tempdir().unwrap();
    let app = TestApp::start_with(archiving_to(archive.path())).await;
    app.push_json(&end_push(30, Some(&source.link("error.html", 3600)), &[]))
        .await;
    let began = Instant::now();
    let recording = loop {
        let call = app
            .data(
                "{ call(conversationId: \"30\") { recording { archived error } } }",
                json!(null),
            )
            .await;
        let recording = call["call"]["recording"].clone();
        if !recording["error"].is_null() || began.elapsed() > Duration::from_secs(10) {
            break recording;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(recording["archived"], false, "{recording}");
    assert!(
        recording["error"]
            .as_str()
            .unwrap()
            .contains("a page (text/html)"),
        "{recording}"
    );
    assert!(archived_files(archive.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_erased_while_its_recording_downloads_leaves_no_copy() {
    let source = AudioSource::start().await;
    source.add("slow.wav", 2, 4);
    source.slow_down(Duration::from_secs(2));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let archive = dir.path().join("recordings");
    let archive_flag = archive.to_string_lossy().into_owned();
    let server = Server::start(&db, &["--recordings-to", &archive_flag]);
    let client = reqwest::Client::new();
    let push = end_push(40, Some(&source.link("slow.wav", 3600)), &[]);
    let url = format!("{}/webhooks/udesk/calls", server.address);
    assert_eq!(
        client.post(url).json(&push).send().await.unwrap().status(),
        200
    );
    let began = Instant::now();
    while source.requests("slow.wav") == 0 {
        assert!(began.elapsed() < Duration::from_secs(10), "never fetched");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (code, _, stderr) = run(binary()
        .args([
            "purge",
            "--customer-phone",
            "13800000040",
            "--recordings-to",
            &archive_flag,
            "--db",
        ])
        .arg(&db));
    assert_eq!(code, 0, "{stderr}");
    // The download ends after the purge: its copy goes again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        archived_files(&archive).is_empty(),
        "{:?}",
        archived_files(&archive)
    );
    let totals = totals_at(&client, &server.address).await;
    assert_eq!(totals["archived"], 0, "{totals}");
}

#[tokio::test]
async fn a_copy_damaged_on_disk_is_repaired_by_the_next_download_of_its_audio() {
    let source = AudioSource::start().await;
    let wav = source.add("same.wav", 1, 5);
    let archive = tempfile::tempdir().unwrap();
    let app = TestApp::start_with(archiving_to(archive.path())).await;
    app.push_json(&end_push(50, Some(&source.link("same.wav", 3600)), &[]))
        .await;
    settled(&app, Duration::from_secs(20)).await;
    let name = format!("{}.wav", sha256_hex(&wav));
    let path = archive.path().join(&name[..2]).join(&name);
    let mut damaged = std::fs::read(&path).unwrap();
    damaged[200] ^= 0xff;
    std::fs::write(&path, &damaged).unwrap();
    app.push_json(&end_push(51, Some(&source.link("same.wav", 3600)), &[]))
        .await;
    let began = Instant::now();
    while std::fs::read(&path).unwrap() != wav {
        assert!(began.elapsed() < Duration::from_secs(10), "not repaired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_recording_served_is_the_one_the_call_shows_when_a_late_push_brings_an_older_link() {
    let source = AudioSource::start().await;
    let newer = source.add("newer.wav", 1, 6);
    source.add("older.wav", 2, 7);
    let archive = tempfile::tempdir().unwrap();
    let app = TestApp::start_with(archiving_to(archive.path())).await;
    app.push_json(&end_push(60, Some(&source.link("newer.wav", 3600)), &[]))
        .await;
    // Delivered late, timed before the end: the call keeps the end's link.
    let mut late = end_push(60, Some(&source.link("older.wav", 3600)), &[]);
    late["occasion"] = json!("agent_ring");
    late["timestamp"] = json!("2024-05-06 09:00:10 +0800");
    app.push_json(&late).await;
    let totals = settled(&app, Duration::from_secs(20)).await;
    assert_eq!(totals["archived"], 2, "{totals}");
    let shown = app
        .data(
            "{ call(conversationId: \"60\") { recording { sha256 } } }",
            json!(null),
        )
        .await;
    assert_eq!(shown["call"]["recording"]["sha256"], sha256_hex(&newer));
    let served = reqwest::get(app.url("/recordings/60"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&served[..], &newer[..]);
}
