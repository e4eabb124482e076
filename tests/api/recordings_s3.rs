//! Recordings archived to an S3-compatible bucket (`--recordings-to
//! s3://BUCKET/PREFIX`), against a real S3 server the test starts (`moto`
//! in server mode, from PyPI): the burst's copies land in the bucket byte
//! for byte under their hash, are served with `Range`, and purge deletes
//! the objects of the calls it erases.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use futures_util::TryStreamExt;
use object_store::ObjectStore;
use object_store::ObjectStoreExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;

use crate::recordings::{end_push, sha256_hex, totals_at};
use crate::support::audio_source::AudioSource;
use crate::support::binary::{Server, binary, run};
use crate::support::tools::{MOTO, Running, free_port, python_tool};

const BUCKET: &str = "calls-audio";
const PREFIX: &str = "udesk/recordings";

/// `moto_server` on a free loopback port with the bucket made; returns
/// once it answers.
async fn s3_server() -> (Running, String) {
    let program = tokio::task::spawn_blocking(|| python_tool(MOTO, "moto_server"))
        .await
        .unwrap();
    let port = free_port();
    let server = Running::spawn(
        Command::new(program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let began = Instant::now();
    loop {
        // moto keeps no access control: an unsigned PUT makes the bucket.
        match client.put(format!("{endpoint}/{BUCKET}")).send().await {
            Ok(response) if response.status().is_success() => break,
            _ if began.elapsed() > Duration::from_secs(60) => {
                panic!("moto_server did not answer on {endpoint} within 60 s")
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    (server, endpoint)
}

/// `command` given the bucket's endpoint and keys as an operator would.
fn with_bucket(command: &mut Command, endpoint: &str) {
    command
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "udesk-calls-test")
        .env("AWS_SECRET_ACCESS_KEY", "udesk-calls-test-secret");
}

/// The test's own look into the bucket.
fn bucket_at(endpoint: &str) -> AmazonS3 {
    AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_bucket_name(BUCKET)
        .with_access_key_id("udesk-calls-test")
        .with_secret_access_key("udesk-calls-test-secret")
        .build()
        .unwrap()
}

/// The objects under the prefix, by key, as the S3 server lists them.
async fn objects(bucket: &AmazonS3) -> Vec<String> {
    let mut keys: Vec<String> = bucket
        .list(Some(&ObjectPath::from(PREFIX)))
        .map_ok(|object| object.location.to_string())
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_is_archived_to_an_s3_bucket_byte_for_byte_and_purge_deletes_its_objects() {
    let (_s3, endpoint) = s3_server().await;
    let bucket = bucket_at(&endpoint);
    let source = AudioSource::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let target = format!("s3://{BUCKET}/{PREFIX}");
    let mut command = binary();
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--recordings-to",
            &target,
            "--db",
        ])
        .arg(&db);
    with_bucket(&mut command, &endpoint);
    let mut server = Server::spawn(command);
    let client = reqwest::Client::new();
    let mut expected = Vec::new();
    for n in 0..16_i64 {
        let wav = source.add(&format!("s3-{n}.wav"), 2 + (n % 3) as u32, 300 + n as u64);
        let ivr = source.add(&format!("s3-ivr-{n}.wav"), 1, 600 + n as u64);
        let ivr_link = source.link(&format!("s3-ivr-{n}.wav"), 3600);
        let push = end_push(
            4_000 + n,
            Some(&source.link(&format!("s3-{n}.wav"), 3600)),
            &[(800 + n, ivr_link.as_str())],
        );
        let url = format!("{}/webhooks/udesk/calls", server.address);
        assert_eq!(
            client.post(url).json(&push).send().await.unwrap().status(),
            200
        );
        expected.push((4_000 + n, 800 + n, wav, ivr));
    }
    let began = Instant::now();
    let totals = loop {
        let totals = totals_at(&client, &server.address).await;
        if totals["pending"] == 0 || began.elapsed() > Duration::from_secs(60) {
            break totals;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(totals["archived"], 32, "{totals}");
    assert_eq!(totals["failed"], 0, "{totals}");

    // In the bucket: one object an audio, named by its hash, its bytes.
    let keys = objects(&bucket).await;
    assert_eq!(keys.len(), 32, "{keys:?}");
    for (id, ivr_id, wav, ivr) in &expected {
        for audio in [wav, ivr] {
            let hash = sha256_hex(audio);
            let key = format!("{PREFIX}/{}/{hash}.wav", &hash[..2]);
            assert!(keys.contains(&key), "{key} is not in {keys:?}");
            let object = bucket
                .get(&ObjectPath::from(key.as_str()))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            assert_eq!(&object[..], &audio[..], "object {key}");
        }
        let served = client
            .get(format!("{}/recordings/{id}/ivr/{ivr_id}", server.address))
            .send()
            .await
            .unwrap();
        assert_eq!(served.status(), 200);
        assert_eq!(&served.bytes().await.unwrap()[..], &ivr[..]);
    }
    // A player seeking in a copy kept in the bucket.
    let (id, _, wav, _) = &expected[7];
    let part = client
        .get(format!("{}/recordings/{id}", server.address))
        .header("range", "bytes=2000-2999")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"].to_str().unwrap(),
        format!("bytes 2000-2999/{}", wav.len())
    );
    assert_eq!(&part.bytes().await.unwrap()[..], &wav[2000..3000]);

    // Nothing stays staged beside the database.
    let staging = dir.path().join("calls.db-recordings-incoming");
    assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 0);

    // Erasing two customers deletes their calls' objects, and only those.
    server.signal("TERM");
    assert!(server.wait_for_exit(Duration::from_secs(10)).is_some());
    for id in [4_000, 4_001] {
        let mut purge = binary();
        purge
            .args(["purge", "--customer-phone", &format!("1380000{id:04}")])
            .args(["--recordings-to", &target, "--db"])
            .arg(&db);
        with_bucket(&mut purge, &endpoint);
        let (code, _, stderr) = run(&mut purge);
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stderr.contains("2 recordings (2 archived copies deleted)"),
            "{stderr}"
        );
    }
    let left = objects(&bucket).await;
    let mut verify = binary();
    verify
        .args(["recordings", "verify", "--recordings-to", &target, "--db"])
        .arg(&db);
    with_bucket(&mut verify, &endpoint);
    let (code, _, stderr) = run(&mut verify);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("verified 28 archived recordings"),
        "{stderr}"
    );
    assert_eq!(left.len(), 28, "{left:?}");
    for (_, _, wav, ivr) in &expected[..2] {
        for audio in [wav, ivr] {
            assert!(!left.iter().any(|key| key.contains(&sha256_hex(audio))));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_that_refuses_uploads_fails_the_tries_clearly_and_loses_nothing() {
    let (_s3, endpoint) = s3_server().await;
    let source = AudioSource::start().await;
    source.add("no-bucket.wav", 1, 9);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let mut command = binary();
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--recordings-to", "s3://no-such-bucket/rec", "--db"])
        .arg(&db);
    with_bucket(&mut command, &endpoint);
    let mut server = Server::spawn(command);
    let client = reqwest::Client::new();
    let push = end_push(90, Some(&source.link("no-bucket.wav", 3600)), &[]);
    let url = format!("{}/webhooks/udesk/calls", server.address);
    assert_eq!(
        client.post(url).json(&push).send().await.unwrap().status(),
        200
    );
    let query = json!({ "query": "{ call(conversationId: \"90\") { recording { archived failed error } } }" });
    let began = Instant::now();
    let recording = loop {
        let answer = crate::support::binary::post_graphql(&client, &server.address, &query).await;
        let recording = answer["data"]["call"]["recording"].clone();
        if !recording["error"].is_null() || began.elapsed() > Duration::from_secs(20) {
            break recording;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        recording["error"]
            .as_str()
            .unwrap_or_default()
            .contains("the archive failed"),
        "{recording}"
    );
    assert_eq!(recording["failed"], false, "tried again: {recording}");
    // Once the bucket is there, the same job keeps the copy.
    reqwest::Client::new()
        .put(format!("{endpoint}/no-such-bucket"))
        .send()
        .await
        .unwrap();
    let began = Instant::now();
    while totals_at(&client, &server.address).await["archived"] != 1 {
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "not archived once the bucket was made"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.signal("TERM");
    assert!(server.wait_for_exit(Duration::from_secs(10)).is_some());
    let log = server.rest_of_log().join("\n");
    assert!(!log.contains("panicked"), "{log}");
}
