//! SIGTERM and Ctrl-C of the real binary: new connections are refused,
//! every request already read is answered (a push after its commit), the
//! WAL is checkpointed, and the process exits 0 within 10 seconds, even when
//! a client never finishes its request.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::binary::Server;
use crate::support::calls::synthetic_call;
use crate::support::db::event_bodies;

const SENDERS: i64 = 16;
const ACKS_BEFORE_SIGNAL: usize = 300;
/// `request received` is logged at debug as soon as a request's head is read.
const READ_REQUESTS: &str = "info,udesk_calls::http::request_log=debug";

/// Reads the server's lines into `seen` until one satisfies `wanted`.
async fn await_line(server: &Server, seen: &mut Vec<String>, wanted: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        while let Ok(line) = server.log.try_recv() {
            let found = wanted(&line);
            seen.push(line);
            if found {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no such line; the log: {seen:#?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn wal_is_empty_or_gone(db: &Path) -> bool {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).map_or(true, |meta| meta.len() == 0)
}

/// What the senders of a burst got back.
#[derive(Default)]
struct Answers {
    /// Every HTTP answer, whatever its status.
    count: AtomicUsize,
    /// The bodies answered 200.
    acked: Mutex<Vec<String>>,
    /// Statuses other than 200.
    others: Mutex<Vec<u16>>,
}

/// Sends calls from `SENDERS` concurrent clients until the server is gone.
async fn burst(url: String, answers: Arc<Answers>) {
    let client = reqwest::Client::new();
    let mut senders = tokio::task::JoinSet::new();
    for sender in 0..SENDERS {
        let (client, url, answers) = (client.clone(), url.clone(), answers.clone());
        senders.spawn(async move {
            for call in 0.. {
                for body in synthetic_call(2_000_000 + sender * 100_000 + call, 3) {
                    let Ok(response) = client.post(&url).body(body.clone()).send().await else {
                        return;
                    };
                    let status = response.status().as_u16();
                    if response.bytes().await.is_err() {
                        return;
                    }
                    answers.count.fetch_add(1, Ordering::SeqCst);
                    match status {
                        200 => answers.acked.lock().unwrap().push(body),
                        other => answers.others.lock().unwrap().push(other),
                    }
                }
            }
        });
    }
    while senders.join_next().await.is_some() {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_burst_answers_every_request_it_read_and_exits_0_with_the_wal_checkpointed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let mut server = Server::launch(&db, "127.0.0.1:0", &[], READ_REQUESTS);
    let url = format!("{}/webhooks/udesk/calls", server.address);
    let mut log = Vec::new();

    // A push whose body is still on its way when the signal comes.
    let slow_body = synthetic_call(1, 1).remove(0);
    let (head, tail) = slow_body.split_at(slow_body.len() / 2);
    let (more, rest) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
    more.send(Ok(head.as_bytes().to_vec())).await.unwrap();
    let stream = tokio_stream::wrappers::ReceiverStream::new(rest);
    let slow = tokio::spawn(
        reqwest::Client::new()
            .post(&url)
            .body(reqwest::Body::wrap_stream(stream))
            .send(),
    );
    await_line(&server, &mut log, |line| line.contains("request received")).await;

    let answers = Arc::new(Answers::default());
    let sending = tokio::spawn(burst(url.clone(), answers.clone()));
    while answers.acked.lock().unwrap().len() < ACKS_BEFORE_SIGNAL {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.signal("TERM");
    let signalled = Instant::now();
    await_line(&server, &mut log, |line| line.contains("shutting down")).await;

    // The process still runs (the slow push is in flight) yet takes no one new.
    let address = server.address.trim_start_matches("http://").to_owned();
    let mut refused = false;
    while !refused && signalled.elapsed() < Duration::from_secs(3) {
        refused = tokio::net::TcpStream::connect(&address).await.is_err();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "new connections are still accepted while draining");
    more.send(Ok(tail.as_bytes().to_vec()))
        .await
        .expect("the push in flight is still being read");
    drop(more);
    let slow = slow.await.unwrap().expect("the push in flight is answered");
    assert_eq!(slow.status(), 200, "{:?}", slow.text().await);

    let exit = tokio::task::block_in_place(|| server.wait_for_exit(Duration::from_secs(10)));
    let waited = signalled.elapsed();
    let (status, _) = exit.expect("the server exits within 10 s of SIGTERM");
    assert!(status.success(), "exit status {status}");
    assert!(
        waited < Duration::from_secs(10),
        "exited {waited:?} after the signal"
    );
    sending.await.unwrap();
    log.extend(tokio::task::block_in_place(|| server.rest_of_log()));

    assert!(wal_is_empty_or_gone(&db), "the WAL was not checkpointed");
    let stored = event_bodies(&db);
    let acked = answers.acked.lock().unwrap();
    let lost = acked.iter().filter(|body| !stored.contains(*body)).count();
    assert_eq!(
        lost,
        0,
        "{lost} of {} pushes answered 200 are not on disk",
        acked.len()
    );
    assert!(stored.contains(&slow_body), "the push in flight is on disk");
    assert_eq!(
        *answers.others.lock().unwrap(),
        Vec::<u16>::new(),
        "answers other than 200"
    );
    // Every request the server read got a whole answer: none was cut off.
    let read = log
        .iter()
        .filter(|line| line.contains("request received"))
        .count();
    let answered = answers.count.load(Ordering::SeqCst) + 1;
    assert_eq!(read, answered, "requests read vs. requests answered");
    assert!(
        !log.iter().any(|line| line.contains("drain limit")),
        "{log:#?}"
    );
}

#[tokio::test]
async fn ctrl_c_stops_the_server_as_sigterm_does() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let mut server = Server::start(&db, &[]);
    let client = reqwest::Client::new();
    let bodies = synthetic_call(42, 3);
    for body in &bodies {
        let response = client
            .post(format!("{}/webhooks/udesk/calls", server.address))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    server.signal("INT");
    let (status, waited) = server
        .wait_for_exit(Duration::from_secs(10))
        .expect("the server exits within 10 s of Ctrl-C");
    assert!(status.success(), "exit status {status} after {waited:?}");
    assert!(wal_is_empty_or_gone(&db), "the WAL was not checkpointed");
    let stored = event_bodies(&db);
    assert!(bodies.iter().all(|body| stored.contains(body)));
    let log = server.rest_of_log().join("\n");
    assert!(log.contains("stopped"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_never_finishes_does_not_hold_the_shutdown_past_10_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let mut server = Server::launch(&db, "127.0.0.1:0", &[], READ_REQUESTS);
    let address = server.address.trim_start_matches("http://").to_owned();
    let mut stuck = std::net::TcpStream::connect(&address).unwrap();
    stuck
        .write_all(b"POST /webhooks/udesk/calls HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n{")
        .unwrap();
    let mut log = Vec::new();
    await_line(&server, &mut log, |line| line.contains("request received")).await;

    server.signal("TERM");
    let exit = tokio::task::block_in_place(|| server.wait_for_exit(Duration::from_secs(10)));
    let (status, waited) = exit.expect("the server exits within 10 s of SIGTERM");
    assert!(status.success(), "exit status {status} after {waited:?}");
    assert!(wal_is_empty_or_gone(&db), "the WAL was not checkpointed");
    log.extend(server.rest_of_log());
    assert!(
        log.iter().any(|line| line.contains("drain limit")),
        "{log:#?}"
    );
}
