//! `kill -9` of the real binary in the middle of bursts of pushes, while
//! the two receivers fail at random (`500`, `429` with `Retry-After`,
//! answers slower than the timeout) and one of them closes its port for a
//! while every second or two: every stored push still reaches every
//! receiver, byte for byte, signed, in arrival order for each call.
//! `cargo test --test api -- forwarding_kill_9 --nocapture` prints the
//! figures.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::forwarding::{KEY, secret, wait_for};
use crate::support::binary::Server;
use crate::support::calls::synthetic_call;
use crate::support::forwarded::{expected_signature, graphql, stored_pushes, wait_for_all};
use crate::support::receiver::{Faults, Receiver};

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

    let mut failed_tries = BTreeMap::new();
    let started = Instant::now();
    for round in 1..=KILLS {
        let server = Server::start(&db, &flags);
        let sending = tokio::spawn(burst(server.address.clone(), senders.clone()));
        let target = round * ACKS_PER_ROUND;
        wait_for(Duration::from_secs(60), "pushes answered", || {
            senders.acked.load(Ordering::SeqCst) >= target
        })
        .await;
        add_failed_tries(&server.address, &mut failed_tries).await;
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
        let delivery = wait_for_all(&db, receiver, Duration::from_secs(180)).await;
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
    // The last outcomes are recorded just after the receivers answered; a
    // push the receiver already has may still wait out a retry's backoff
    // (up to a minute) before its job is done again.
    let query = "{ forwardingTargets { url pending parked } }";
    let settled = |shown: &Value| {
        let targets = shown["forwardingTargets"].as_array().unwrap();
        targets
            .iter()
            .all(|t| t["pending"] == 0 && t["parked"] == 0)
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut shown = graphql(&server.address, query).await;
    while !settled(&shown) {
        assert!(Instant::now() < deadline, "{shown}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        shown = graphql(&server.address, query).await;
    }
    let totals = senders.acked.load(Ordering::SeqCst);
    add_failed_tries(&server.address, &mut failed_tries).await;
    println!(
        "forwarding fault test: {} pushes stored ({totals} answered 200), {KILLS} kills, in {:.1?}\n  {}\n  failed tries seen by the service (both targets, all runs): {failed_tries:?}\n  {shown}",
        stored_pushes(&db).len(),
        started.elapsed(),
        figures.join("\n  ")
    );
    server.kill_hard();
}

/// Adds the service's `udesk_calls_forward_failed_attempts_total` by
/// reason (its counts start again with each process).
async fn add_failed_tries(address: &str, tries: &mut BTreeMap<String, u64>) {
    let scrape = reqwest::get(format!("{address}/metrics")).await.unwrap();
    for line in scrape.text().await.unwrap().lines() {
        let Some(labels) = line.strip_prefix("udesk_calls_forward_failed_attempts_total{") else {
            continue;
        };
        let reason = labels
            .split("reason=\"")
            .nth(1)
            .and_then(|r| r.split('"').next());
        let count = line.rsplit(' ').next().and_then(|c| c.parse::<u64>().ok());
        if let (Some(reason), Some(count)) = (reason, count) {
            *tries.entry(reason.to_owned()).or_default() += count;
        }
    }
}
