//! The real binary under hostile and heavy GraphQL: a fragment fan-out
//! leaves its memory flat, and while four heavy queries run at once, Udesk's
//! pushes are still answered promptly, since GraphQL has threads of its own.
//! Each test prints what it measured.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::graphql_limits::fan_out;
use crate::support::binary::{Server, binary, post_graphql, run, status_kib};
use crate::support::calls::{generate_calls, synthetic_call};

/// Imports `count` generated calls into a new database at `db`.
fn import_calls(db: &Path, count: usize) {
    let file = db.with_extension("ndjson");
    let lines: Vec<String> = generate_calls(count, 5)
        .iter()
        .flat_map(|call| call.pushes())
        .map(|push| push.to_string())
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let (code, _, stderr) = run(binary().arg("import").arg(&file).arg("--db").arg(db));
    assert_eq!(code, 0, "{stderr}");
}

#[tokio::test]
async fn fragment_fan_outs_of_22_and_30_levels_are_refused_fast_with_flat_memory() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("calls.db"), &[]);
    let client = reqwest::Client::new();
    let warm_up = json!({ "query": "{ __typename }" });
    let warm_up = post_graphql(&client, &server.address, &warm_up).await;
    assert_eq!(warm_up["data"]["__typename"], "Query");
    let pid = server.child.id();
    let peak_before = status_kib(pid, "VmHWM");
    for (levels, spreads) in [(22, 2), (30, 2), (8, 10), (9, 10)] {
        let body = json!({ "query": fan_out(levels, spreads) });
        let mut fastest = Duration::MAX;
        for _ in 0..3 {
            let started = Instant::now();
            let answer = post_graphql(&client, &server.address, &body).await;
            fastest = fastest.min(started.elapsed());
            assert_eq!(
                answer["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
                "{answer}"
            );
        }
        let peak = status_kib(pid, "VmHWM");
        eprintln!(
            "fan-out {levels} levels × {spreads} ({} bytes): refused in {fastest:?}, peak RSS {} MiB",
            fan_out(levels, spreads).len(),
            peak / 1024
        );
        // The fastest of three, so that a busy machine's hiccup does not count.
        assert!(fastest < Duration::from_millis(100), "{fastest:?}");
    }
    let growth = status_kib(pid, "VmHWM").saturating_sub(peak_before);
    eprintln!("peak RSS grew by {growth} KiB over the fan-outs");
    // The unbounded expansion took a gigabyte at 22 levels; a refusal
    // before validation allocates next to nothing.
    assert!(growth < 32 * 1024, "the peak RSS grew by {growth} KiB");
}

/// The latencies' `p`th percentile.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// Sends the pushes of synthetic calls to `address` one after another for
/// `period`, from a thread of its own (so that nothing else in this process
/// delays them); the time each took to be answered.
fn timed_pushes(address: String, period: Duration) -> std::thread::JoinHandle<Vec<Duration>> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let client = reqwest::Client::new();
            let url = format!("{address}/webhooks/udesk/calls");
            let mut latencies = Vec::new();
            let started = Instant::now();
            for call in 0.. {
                if started.elapsed() > period {
                    break;
                }
                for push in synthetic_call(9_000_000 + call, 3) {
                    let sent = Instant::now();
                    let response = client.post(&url).body(push).send().await.unwrap();
                    latencies.push(sent.elapsed());
                    assert_eq!(response.status(), 200);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            latencies
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_are_answered_promptly_while_four_heavy_queries_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    import_calls(&db, 500);
    let server = Server::start(&db, &[]);
    let address = server.address.clone();
    // The heaviest a request may be: a page of 500 calls with every field
    // and child, a megabyte and a half of answer.
    let heavy = json!({ "query": format!(
        "{{ calls(first: 500) {{ totalCount edges {{ cursor node {{ ...CallDetails }} }} }} }}\n{}",
        include_str!("../../examples/call-fields.graphql")
    ) });
    let client = reqwest::Client::new();
    let first = post_graphql(&client, &address, &heavy).await;
    assert_eq!(
        first["data"]["calls"]["edges"].as_array().map(Vec::len),
        Some(500)
    );

    let running = Arc::new(AtomicBool::new(true));
    let mut heavy_clients = Vec::new();
    for _ in 0..4 {
        let (client, address, heavy, running) = (
            client.clone(),
            address.clone(),
            heavy.clone(),
            running.clone(),
        );
        heavy_clients.push(tokio::spawn(async move {
            let mut answered = 0;
            while running.load(Ordering::Relaxed) {
                let response = client
                    .post(format!("{address}/graphql"))
                    .json(&heavy)
                    .send()
                    .await
                    .unwrap();
                // Not parsed: this process's CPU is for timing the pushes.
                let body = response.bytes().await.unwrap();
                assert!(body.len() > 1_000_000, "{}", String::from_utf8_lossy(&body));
                answered += 1;
            }
            answered
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut latencies = tokio::task::spawn_blocking(move || {
        timed_pushes(address, Duration::from_secs(8))
            .join()
            .unwrap()
    })
    .await
    .unwrap();
    running.store(false, Ordering::Relaxed);
    let mut heavy_answered = 0;
    for client in heavy_clients {
        heavy_answered += client.await.unwrap();
    }
    latencies.sort();
    let (p50, p99, max) = (
        percentile(&latencies, 50),
        percentile(&latencies, 99),
        latencies[latencies.len() - 1],
    );
    eprintln!(
        "{} pushes while 4 clients ran heavy queries ({heavy_answered} answered): \
         p50 {p50:?}, p99 {p99:?}, max {max:?}",
        latencies.len()
    );
    assert!(heavy_answered >= 4, "the heavy queries did not run");
    assert!(max < Duration::from_secs(1), "a push waited {max:?}");
}
