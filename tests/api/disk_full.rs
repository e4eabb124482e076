//! A full disk, on a real small filesystem: the binary serves a database on
//! an 8 MiB tmpfs (half of it taken by a ballast file) and is pushed large
//! pushes until the filesystem is full.
//! It must answer `503` with `Retry-After`, within a second, never `200`
//! for a push it could not store, and stay up; once a ballast file made
//! before is deleted, pushes are stored again, and every push that was
//! answered `200` is in the database.
//!
//! Mounting needs root (see `support::tmpfs`); where the mount is refused
//! the test says so and skips.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::support::WEBHOOK;
use crate::support::binary::Server;
use crate::support::db::{open_read_only, rows};
use crate::support::tmpfs::Tmpfs;

/// A push of its own call, about 100 KB, so a few dozen fill the disk.
fn large_push(index: usize) -> String {
    serde_json::json!({
        "conversation_id": 8_000_000 + index,
        "occasion": "end",
        "timestamp": "2024-05-06 10:00:00 +0800",
        "x_padding": format!("{index:08}").repeat(12_500),
    })
    .to_string()
}

struct Answer {
    status: u16,
    retry_after: Option<String>,
    took: Duration,
}

async fn push(client: &reqwest::Client, server: &Server, body: &str) -> Answer {
    let began = Instant::now();
    let response = client
        .post(format!("{}{WEBHOOK}", server.address))
        .body(body.to_owned())
        .send()
        .await
        .expect("the server answers, full disk or not");
    Answer {
        status: response.status().as_u16(),
        retry_after: response
            .headers()
            .get("retry-after")
            .map(|value| value.to_str().unwrap().to_owned()),
        took: began.elapsed(),
    }
}

#[tokio::test]
async fn a_full_disk_answers_503_within_a_second_and_pushes_are_stored_again_once_space_returns() {
    // Declared first, so it is dropped (unmounted) after the server.
    let Some(tmpfs) = Tmpfs::mount("8m") else {
        return;
    };
    let ballast: PathBuf = tmpfs.path().join("ballast");
    std::fs::write(&ballast, vec![0u8; 4 * 1024 * 1024]).unwrap();
    let db = tmpfs.path().join("calls.db");
    let mut server = Server::start(&db, &[]);
    let client = reqwest::Client::new();

    let mut acked = Vec::new();
    let mut index = 0;
    let first_refusal = loop {
        let body = large_push(index);
        index += 1;
        let answer = push(&client, &server, &body).await;
        match answer.status {
            200 => acked.push(body),
            503 => break answer,
            other => panic!("push {index} was answered {other}"),
        }
        assert!(index < 200, "8 MiB never filled up");
    };
    eprintln!(
        "the disk filled after {} pushes; the first refusal took {:?}, Retry-After: {:?}",
        acked.len(),
        first_refusal.took,
        first_refusal.retry_after,
    );
    assert!(
        acked.len() >= 5,
        "the database took pushes before it filled"
    );
    assert!(first_refusal.took < Duration::from_secs(1));
    assert!(
        first_refusal.retry_after.is_some(),
        "503 without Retry-After"
    );

    // Full, it keeps answering, quickly, and stays up.
    let mut slowest = first_refusal.took;
    for _ in 0..10 {
        let body = large_push(index);
        index += 1;
        let answer = push(&client, &server, &body).await;
        assert!(
            answer.took < Duration::from_secs(1),
            "took {:?}",
            answer.took
        );
        slowest = slowest.max(answer.took);
        match answer.status {
            // Space a checkpoint freed: fine, if the push is really kept.
            200 => acked.push(body),
            503 => assert!(answer.retry_after.is_some()),
            other => panic!("a push on a full disk was answered {other}"),
        }
    }
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server exited"
    );
    let live = client
        .get(format!("{}/livez", server.address))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let log = server.log_until(|log| log.contains("is full"));
    assert!(
        log.contains("is full"),
        "the log says the disk is full: {log}"
    );

    // Space returns: pushes are stored again (a sender retries a 503).
    eprintln!(
        "while full: {} pushes stored in all, the slowest 503 took {slowest:?}",
        acked.len()
    );
    std::fs::remove_file(&ballast).unwrap();
    for _ in 0..5 {
        let body = large_push(index);
        index += 1;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let answer = push(&client, &server, &body).await;
            if answer.status == 200 {
                acked.push(body);
                break;
            }
            assert_eq!(answer.status, 503);
            assert!(
                Instant::now() < deadline,
                "no push stored after space returned"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // Every push answered 200 is there, once, after a kill -9 and a
    // restart; the file is sound.
    server.kill_hard();
    let restarted = Server::start(&db, &[]);
    let connection = open_read_only(&db);
    let stored: Vec<String> = rows(&connection, "SELECT body FROM events ORDER BY id")
        .into_iter()
        .map(|row| row[0].clone())
        .collect();
    assert_eq!(stored, acked, "exactly the pushes answered 200 are stored");
    assert_eq!(
        rows(&connection, "PRAGMA integrity_check"),
        vec![vec!["ok".to_owned()]]
    );
    drop(connection);
    restarted.kill_hard();
}
