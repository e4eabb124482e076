//! Forwarding through faults, with the real binary: `kill -9` in the middle
//! of bursts while the receivers fail at random (`500`, `429` with
//! `Retry-After`, answers slower than the timeout, their port closed for a
//! while); a receiver down for a long stretch while pushes keep coming;
//! `reprocess`; and the throughput to a healthy receiver.
//!
//! `FORWARD_OUTAGE_SECS` sets the long stretch (5 s by default, so CI stays
//! quick; 60 or more for the long form), `FORWARD_BENCH_PUSHES` the size of
//! the throughput run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::forwarding::{KEY, secret, wait_for};
use crate::support::binary::{Server, binary, run};
use crate::support::calls::synthetic_call;
use crate::support::forwarded::{Delivery, check, expected_signature, stored_pushes};
use crate::support::receiver::{Faults, Receiver};
use crate::support::steady_pushes::SteadyPushes;

const SENDERS: usize = 8;
const KILLS: usize = 4;
const ACKS_PER_ROUND: usize = 200;
const PUSHES_PER_CALL: usize = 3;

/// Where each sender is: its call and the push of it to send next.
#[derive(Default)]
struct Senders {
    next: std::sync::Mutex<Vec<(i64, usize)>>,
    acked: AtomicUsize,
    /// Set to let each sender finish its call and stop.
    finish: AtomicBool,
}

/// Sends calls (each push of a call after the previous one's `200`) until
/// the server is gone or, once `finish` is set, each sender's call is whole.
/// A push that got no answer is sent again next time, as Udesk does.
async fn burst(address: String, senders: Arc<Senders>) {
    let client = reqwest::Client::new();
    let mut tasks = tokio::task::JoinSet::new();
    for sender in 0..SENDERS {
        let (client, senders) = (client.clone(), senders.clone());
        let url = format!("{address}/webhooks/udesk/calls");
        tasks.spawn(async move {
            loop {
                let (call, push) = senders.next.lock().unwrap()[sender];
                if push == 0 && senders.finish.load(Ordering::SeqCst) {
                    return;
                }
                let id = 9_000_000 + sender as i64 * 100_000 + call;
                let body = synthetic_call(id, PUSHES_PER_CALL).remove(push);
                let sent = client
                    .post(&url)
                    .header("content-type", "application/json; charset=utf-8")
                    .body(body)
                    .send()
                    .await;
                match sent {
                    Ok(answer) if answer.status() == 200 => {
                        senders.acked.fetch_add(1, Ordering::SeqCst);
                        senders.next.lock().unwrap()[sender] = match push + 1 {
                            PUSHES_PER_CALL => (call + 1, 0),
                            next => (call, next),
                        };
                    }
                    Ok(answer) => panic!("a push was answered {}", answer.status()),
                    Err(_) => return,
                }
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.unwrap();
    }
}

/// Closes `receiver`'s port for 0.3 to 0.8 s every 1 to 2 s until `stop`.
async fn outages(receiver: Arc<Receiver>, stop: Arc<AtomicBool>) {
    let mut rng = fastrand::Rng::with_seed(7);
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(rng.u64(1000..2000))).await;
        receiver.down().await;
        tokio::time::sleep(Duration::from_millis(rng.u64(300..800))).await;
        receiver.up().await;
    }
}

/// `udesk_calls_forward_failed_attempts_total{reason="connect"}` of the
/// one target.
async fn failed_connects(address: &str) -> u64 {
    let scrape = reqwest::get(format!("{address}/metrics")).await.unwrap();
    let scrape = scrape.text().await.unwrap();
    scrape
        .lines()
        .find(|line| {
            line.starts_with("udesk_calls_forward_failed_attempts_total")
                && line.contains(r#"reason="connect""#)
        })
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no failed connects in:\n{scrape}"))
}

async fn graphql(address: &str, query: &str) -> Value {
    let answer = reqwest::Client::new()
        .post(format!("{address}/graphql"))
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    answer.json::<Value>().await.unwrap()["data"].clone()
}

/// Waits until `receiver` holds every push stored in `db`.
async fn wait_for_all(db: &std::path::Path, receiver: &Receiver, limit: Duration) -> Delivery {
    let stored = stored_pushes(db);
    let started = Instant::now();
    loop {
        let delivery = check(&stored, &receiver.received(), "the receiver");
        if delivery.lost == 0 {
            return delivery;
        }
        assert!(
            started.elapsed() < limit,
            "{} of {} pushes not forwarded within {limit:?}",
            delivery.lost,
            delivery.stored
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_stored_push_reaches_every_target_in_order_through_kill_9_and_failing_receivers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let flaky = Arc::new(Receiver::start().await);
    let slow = Faults {
        server_error: 0.05,
        throttled: 0.005,
        slow: 0.02,
        slow_for: Duration::from_millis(1500),
    };
    flaky.set_faults(slow, 1);
    let tokened = Receiver::start().await;
    tokened.set_faults(
        Faults {
            server_error: 0.1,
            ..slow
        },
        2,
    );
    let secret = secret();
    let (flaky_url, tokened_url) = (flaky.url(""), tokened.url("?token=downstream"));
    let flags = [
        "--forward-to",
        &flaky_url,
        "--forward-to",
        &tokened_url,
        "--forward-timeout",
        "1s",
        "--forward-secret",
        &secret,
    ];
    let stop_outages = Arc::new(AtomicBool::new(false));
    let outage_task = tokio::spawn(outages(flaky.clone(), stop_outages.clone()));
    let senders = Arc::new(Senders::default());
    *senders.next.lock().unwrap() = vec![(0, 0); SENDERS];

    let started = Instant::now();
    for round in 1..=KILLS {
        let server = Server::start(&db, &flags);
        let sending = tokio::spawn(burst(server.address.clone(), senders.clone()));
        let target = round * ACKS_PER_ROUND;
        wait_for(Duration::from_secs(60), "pushes answered", || {
            senders.acked.load(Ordering::SeqCst) >= target
        })
        .await;
        server.kill_hard();
        sending.await.unwrap();
    }
    // The last run: one more burst, every call finished, then the backlog.
    let server = Server::start(&db, &flags);
    let sending = tokio::spawn(burst(server.address.clone(), senders.clone()));
    let target = (KILLS + 1) * ACKS_PER_ROUND;
    wait_for(Duration::from_secs(60), "pushes answered", || {
        senders.acked.load(Ordering::SeqCst) >= target
    })
    .await;
    senders.finish.store(true, Ordering::SeqCst);
    sending.await.unwrap();
    // The receiver keeps going down for a while as the backlog drains.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop_outages.store(true, Ordering::SeqCst);
    outage_task.await.unwrap();
    flaky.up().await;

    let mut figures = Vec::new();
    for (name, receiver) in [("flaky", &*flaky), ("tokened", &tokened)] {
        let delivery = wait_for_all(&db, receiver, Duration::from_secs(60)).await;
        for message in receiver.received() {
            assert_eq!(message.signature, Some(expected_signature(&KEY, &message)));
        }
        assert_eq!(delivery.lost, 0);
        figures.push(format!(
            "{name}: {delivery:?}, receiver failures {:?}",
            receiver.tally()
        ));
    }
    assert!(
        tokened
            .received()
            .iter()
            .all(|m| m.query.as_deref() == Some("token=downstream"))
    );
    // The last outcomes are recorded just after the receivers answered.
    let query = "{ forwardingTargets { url pending parked } }";
    let settled = |shown: &Value| {
        let targets = shown["forwardingTargets"].as_array().unwrap();
        targets
            .iter()
            .all(|t| t["pending"] == 0 && t["parked"] == 0)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut shown = graphql(&server.address, query).await;
    while !settled(&shown) {
        assert!(Instant::now() < deadline, "{shown}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        shown = graphql(&server.address, query).await;
    }
    let totals = senders.acked.load(Ordering::SeqCst);
    println!(
        "forwarding fault test: {} pushes stored ({totals} answered 200), {KILLS} kills, in {:.1?}\n  {}\n  {shown}",
        stored_pushes(&db).len(),
        started.elapsed(),
        figures.join("\n  ")
    );
    server.kill_hard();
}

fn resident_kib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// Pushes answered per second by `pushes` over `window`.
async fn ingest_rate(pushes: &SteadyPushes, window: Duration) -> f64 {
    let before = pushes.acked_count();
    tokio::time::sleep(window).await;
    (pushes.acked_count() - before) as f64 / window.as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_receiver_down_for_a_long_stretch_neither_slows_ingest_nor_grows_memory() {
    let outage = Duration::from_secs(
        std::env::var("FORWARD_OUTAGE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5),
    );
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let receiver = Receiver::start().await;
    let server = Server::start(
        &db,
        &["--forward-to", &receiver.url(""), "--forward-timeout", "1s"],
    );
    let pushes = SteadyPushes::start(&server.address, 4);
    pushes.wait_for(200).await;
    let healthy = ingest_rate(&pushes, Duration::from_secs(2)).await;

    let failed_before = failed_connects(&server.address).await;
    receiver.down().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let memory_before = resident_kib(&server);
    let down = ingest_rate(&pushes, outage).await;
    let memory_after = resident_kib(&server);
    let tries_while_down = failed_connects(&server.address).await - failed_before;
    let shown = graphql(
        &server.address,
        "{ forwardingTargets { pending lastError } }",
    )
    .await;
    let stored = pushes.stop().await.len();
    receiver.up().await;

    let target = &shown["forwardingTargets"][0];
    assert!(target["pending"].as_i64().unwrap() > 0, "{shown}");
    assert!(
        target["lastError"]
            .as_str()
            .unwrap()
            .starts_with("could not connect"),
        "{shown}"
    );
    let grown_kib = memory_after.saturating_sub(memory_before);
    println!(
        "receiver down {outage:?}: ingest {healthy:.0}/s healthy, {down:.0}/s while down; \
         {tries_while_down} tries while down; {} pushes pending at the end; \
         resident memory {memory_before} KiB -> {memory_after} KiB",
        target["pending"]
    );
    // A down target costs a few probes, doubling their spacing up to 30 s:
    // nothing that competes with ingest. (The rates are noisy when other
    // tests share the machine, hence the margin.)
    let probes = 8 + 10 + outage.as_secs() / 15;
    assert!(
        tries_while_down <= probes,
        "{tries_while_down} tries while down"
    );
    assert!(
        down >= healthy * 0.3,
        "ingest slowed: {healthy:.0}/s, then {down:.0}/s"
    );
    assert!(
        grown_kib < 64 * 1024,
        "memory grew by {grown_kib} KiB while the receiver was down"
    );
    let delivery = wait_for_all(&db, &receiver, Duration::from_secs(60)).await;
    assert!(delivery.delivered >= stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reprocess_does_not_forward_a_push_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let receiver = Receiver::start().await;
    let url = receiver.url("");
    let flags = ["--forward-to", url.as_str()];
    let mut server = Server::start(&db, &flags);
    let client = reqwest::Client::new();
    for body in synthetic_call(4242, 3) {
        let answer = client
            .post(format!("{}/webhooks/udesk/calls", server.address))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    wait_for_all(&db, &receiver, Duration::from_secs(10)).await;
    let shown = graphql(
        &server.address,
        "{ forwardingTargets { pending delivered } }",
    )
    .await;
    assert_eq!(
        shown["forwardingTargets"][0],
        json!({ "pending": 0, "delivered": 3 })
    );
    server.signal("TERM");
    assert!(server.wait_for_exit(Duration::from_secs(10)).is_some());

    let (code, _, stderr) = run(binary().args(["reprocess", "--db"]).arg(&db));
    assert_eq!(code, 0, "{stderr}");
    let server = Server::start(&db, &flags);
    // The worker looks at the queue at once and then every second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received_count(), 3, "nothing was sent again");
    let shown = graphql(
        &server.address,
        "{ forwardingTargets { pending delivered } }",
    )
    .await;
    assert_eq!(
        shown["forwardingTargets"][0],
        json!({ "pending": 0, "delivered": 3 })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forwarding_keeps_up_with_a_burst_to_a_healthy_receiver() {
    let count: usize = std::env::var("FORWARD_BENCH_PUSHES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1500);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let receiver = Receiver::start().await;
    let server = Server::start(&db, &["--forward-to", &receiver.url("")]);
    let started = Instant::now();
    let pushes = SteadyPushes::start(&server.address, 16);
    pushes.wait_for(count).await;
    let acked = pushes.stop().await.len();
    let ingested = started.elapsed();
    let delivery = wait_for_all(&db, &receiver, Duration::from_secs(60)).await;
    let forwarded = started.elapsed();
    println!(
        "{acked} pushes: ingested in {ingested:.1?} ({:.0}/s), all forwarded after {forwarded:.1?} ({:.0}/s), {} duplicates",
        acked as f64 / ingested.as_secs_f64(),
        delivery.delivered as f64 / forwarded.as_secs_f64(),
        delivery.duplicates
    );
    assert_eq!(
        delivery.duplicates, 0,
        "a healthy receiver gets each push once"
    );
}
