//! A recording link carries its source's signature: it must never reach a
//! log line, whatever becomes of the download (kept, expired, refused,
//! missing, unreachable), even with every crate logging at `trace`.

use std::time::{Duration, Instant};

use crate::recordings::{end_push, totals_at};
use crate::support::audio_source::AudioSource;
use crate::support::binary::Server;

/// The `Signature` a link carries.
fn signature_of(link: &str) -> String {
    link.split("Signature=").nth(1).unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_line_shows_a_recording_link_or_its_signature_even_at_trace() {
    let source = AudioSource::start().await;
    source.add("log-ok.wav", 1, 5);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let archive = dir.path().join("recordings");
    let archive_flag = archive.to_string_lossy().into_owned();
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let unreachable = format!(
        "http://{}/record/log-down.wav?OSSAccessKeyId=LTAI-down&Expires=4102444800&Signature=sig-down-51c7",
        nobody.local_addr().unwrap()
    );
    drop(nobody);
    let kept = source.link("log-ok.wav", 3600);
    let expired = source.link("log-late.wav", -60);
    let refused = source
        .link("log-ok.wav", 3600)
        .replace("Signature=", "Signature=0bad");
    let missing = source.link("log-gone.wav", 3600);
    let links = [&kept, &expired, &refused, &missing, &unreachable];

    let mut server = Server::launch(
        &db,
        "127.0.0.1:0",
        &["--recordings-to", &archive_flag],
        "trace",
    );
    let client = reqwest::Client::new();
    for (n, link) in links.iter().enumerate() {
        let push = end_push(60 + n as i64, Some(link.as_str()), &[]);
        let url = format!("{}/webhooks/udesk/calls", server.address);
        assert_eq!(
            client.post(url).json(&push).send().await.unwrap().status(),
            200
        );
    }
    let began = Instant::now();
    loop {
        let totals = totals_at(&client, &server.address).await;
        if totals["archived"] == 1 && totals["failed"] == 3 {
            break;
        }
        assert!(began.elapsed() < Duration::from_secs(30), "{totals}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The unreachable one is tried again, its failures logged.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let copy = client
        .get(format!("{}/recordings/60", server.address))
        .send()
        .await
        .unwrap();
    assert_eq!(copy.status(), 200);
    server.signal("TERM");
    assert!(server.wait_for_exit(Duration::from_secs(10)).is_some());
    let log = server.rest_of_log().join("\n");
    assert!(
        log.contains("recording"),
        "the log says nothing of recordings"
    );
    for link in links {
        let signature = signature_of(link);
        assert!(
            !log.contains(&signature),
            "a signature is in the log: {signature}"
        );
    }
    for part in ["Signature=", "OSSAccessKeyId", "LTAI-", "/record/log-"] {
        let line = log.lines().find(|line| line.contains(part));
        assert!(line.is_none(), "{part} is in the log: {line:?}");
    }
}
