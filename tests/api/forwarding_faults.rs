//! Forwarding with the real binary: a receiver down for a long stretch
//! while pushes keep coming, `reprocess`, SIGTERM with a push in flight,
//! what the log may show, and the throughput to a healthy receiver.
//! (`kill -9` with failing receivers is `forwarding_kill_9`.)
//!
//! `FORWARD_OUTAGE_SECS` sets the long stretch (5 s by default, so CI stays
//! quick; 60 or more for the long form), `FORWARD_BENCH_PUSHES` the size of
//! the throughput run.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::forwarding::wait_for;
use crate::support::binary::{Server, binary, run};
use crate::support::calls::synthetic_call;
use crate::support::forwarded::{graphql, wait_for_all};
use crate::support::receiver::{Faults, Receiver};
use crate::support::steady_pushes::SteadyPushes;

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
    let delivery = wait_for_all(&db, &receiver, Duration::from_secs(180)).await;
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
    wait_for_all(&db, &receiver, Duration::from_secs(180)).await;
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
async fn forwarding_keeps_up_with_a_burst_and_drains_a_backlog_to_a_healthy_receiver() {
    let count: usize = std::env::var("FORWARD_BENCH_PUSHES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let receiver = Receiver::start().await;
    let url = receiver.url("");
    let server = Server::start(&db, &["--forward-to", &url]);

    // Forwarding while pushes arrive.
    let started = Instant::now();
    let pushes = SteadyPushes::start(&server.address, 16);
    pushes.wait_for(count).await;
    let acked = pushes.stop().await.len();
    let ingested = started.elapsed();
    let delivery = wait_for_all(&db, &receiver, Duration::from_secs(180)).await;
    let forwarded = started.elapsed();
    assert_eq!(
        delivery.duplicates, 0,
        "a healthy receiver gets each push once"
    );

    // A backlog: pushes stored while the receiver was down, sent by a
    // restarted service as fast as it can.
    receiver.down().await;
    let more = SteadyPushes::start_from(&server.address, 16, 1);
    more.wait_for(count).await;
    let backlog = more.stop().await.len();
    server.kill_hard();
    receiver.up().await;
    let server = Server::start(&db, &["--forward-to", &url]);
    let restarted = Instant::now();
    let delivery = wait_for_all(&db, &receiver, Duration::from_secs(180)).await;
    let drained = restarted.elapsed();
    println!(
        "forwarding to a healthy receiver: {acked} pushes ingested in {ingested:.1?} ({:.0}/s), \
         all forwarded {:.1?} after the first; a backlog of {backlog} drained in {drained:.1?} \
         ({:.0}/s); {} duplicates",
        acked as f64 / ingested.as_secs_f64(),
        forwarded - ingested,
        backlog as f64 / drained.as_secs_f64(),
        delivery.duplicates
    );
    assert_eq!(delivery.duplicates, 0);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_line_shows_a_forwarding_urls_token_or_password_or_the_secret_even_at_trace() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let receiver = Receiver::start().await;
    let working = receiver.url("?token=tok-ok-4f1c");
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let failing = format!(
        "http://someone:pw-9d2e@{}/hook?token=tok-down-7b3a",
        nobody.local_addr().unwrap()
    );
    drop(nobody);
    let secret = crate::forwarding::secret();
    let flags = [
        "--forward-to",
        &working,
        "--forward-to",
        &failing,
        "--forward-secret",
        &secret,
    ];
    let mut server = Server::launch(&db, "127.0.0.1:0", &flags, "trace");
    let client = reqwest::Client::new();
    for body in synthetic_call(31337, 2) {
        let url = format!("{}/webhooks/udesk/calls", server.address);
        assert_eq!(
            client.post(url).body(body).send().await.unwrap().status(),
            200
        );
    }
    wait_for_all(&db, &receiver, Duration::from_secs(180)).await;
    let shown = graphql(&server.address, "{ forwardingTargets { url lastError } }").await;
    assert!(
        shown["forwardingTargets"][1]["lastError"].is_string(),
        "the second URL failed: {shown}"
    );
    server.signal("TERM");
    assert!(server.wait_for_exit(Duration::from_secs(10)).is_some());
    let log = server.rest_of_log().join("\n");
    assert!(
        log.contains("forwarding"),
        "the log says nothing of forwarding"
    );
    let key = secret.trim_start_matches("whsec_");
    for secret in ["tok-ok-4f1c", "tok-down-7b3a", "pw-9d2e", key] {
        assert!(!log.contains(secret), "{secret} is in the log");
    }
    assert!(!shown.to_string().contains("tok-") && !shown.to_string().contains("pw-9d2e"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_push_in_flight_exits_in_time_and_the_push_is_sent_again_after_the_restart()
{
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let receiver = Receiver::start().await;
    let answer_late = Faults {
        slow: 1.0,
        slow_for: Duration::from_secs(30),
        ..Faults::default()
    };
    receiver.set_faults(answer_late, 3);
    let url = receiver.url("");
    let flags = ["--forward-to", url.as_str(), "--forward-timeout", "60s"];
    let mut server = Server::start(&db, &flags);
    let body = synthetic_call(5150, 1).remove(0);
    let push = format!("{}/webhooks/udesk/calls", server.address);
    let answer = reqwest::Client::new()
        .post(push)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    wait_for(
        Duration::from_secs(10),
        "the push reached the receiver",
        || receiver.received_count() == 1,
    )
    .await;

    server.signal("TERM");
    let (status, took) = server
        .wait_for_exit(Duration::from_secs(15))
        .expect("the service exits");
    assert!(
        status.success() && took < Duration::from_secs(10),
        "{status} after {took:?}"
    );

    receiver.accept_all();
    let _server = Server::start(&db, &flags);
    wait_for(Duration::from_secs(10), "the push sent again", || {
        receiver.received_count() == 2
    })
    .await;
    let delivery = wait_for_all(&db, &receiver, Duration::from_secs(180)).await;
    assert_eq!((delivery.delivered, delivery.duplicates), (1, 1));
}
