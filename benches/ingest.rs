//! Ingest throughput: durable pushes per second, in-process and over HTTP.
//!
//! Run with `cargo bench --bench ingest`. Pushes are the vendor sample with
//! their ids and times varied, five per call (the usual inbound sequence),
//! each committed with `synchronous=FULL` before it counts. Over HTTP, the
//! senders and the server share this machine's cores. Set
//! `INGEST_BENCH_PUSHES` to change the number of pushes per run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use udesk_calls::domain::RawPush;
use udesk_calls::http::webhook::intake;
use udesk_calls::{Settings, Store, StoreOptions};

const OCCASIONS: [&str; 5] = ["enqueue_succ", "agent_incall", "hangup", "end", "end_info"];

fn pushes(count: usize) -> Vec<String> {
    let template: Value = serde_json::from_str(include_str!("../examples/seed-end.json"))
        .expect("the sample is JSON");
    (0..count)
        .map(|i| {
            let mut push = template.clone();
            let call = (i / OCCASIONS.len()) as i64;
            let step = i % OCCASIONS.len();
            push["conversation_id"] = json!(10_000_000_000_i64 + call);
            push["call_id"] = json!(format!("bench-{}", call / 2));
            push["occasion"] = json!(OCCASIONS[step]);
            push["agent_id"] = json!(1000 + call % 200);
            push["timestamp"] = json!(format!(
                "2024-05-{:02} {:02}:{:02}:{:02} +0800",
                1 + call % 28,
                call / 60 % 24,
                call % 60,
                step * 7
            ));
            push.to_string()
        })
        .collect()
}

fn store(dir: &tempfile::TempDir) -> Store {
    Store::open(&StoreOptions {
        path: dir.path().join("bench.db"),
        default_offset: udesk_calls::wire::time::beijing(),
        readers: 2,
        wal_autocheckpoint: udesk_calls::storage::DEFAULT_WAL_AUTOCHECKPOINT,
    })
    .expect("the store opens")
}

async fn in_process(bodies: &[String]) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let offset = udesk_calls::wire::time::beijing();
    let started = Instant::now();
    let mut pending = std::collections::VecDeque::new();
    for body in bodies {
        let raw = RawPush {
            body: body.as_bytes().to_vec(),
            content_type: None,
            received_at: chrono::Utc::now().with_timezone(&offset),
        };
        pending.push_back(store.writer().enqueue(intake(raw, offset)).await.unwrap());
        if pending.len() >= 4096 {
            pending.pop_front().unwrap().outcome().await.unwrap();
        }
    }
    for write in pending {
        write.outcome().await.unwrap();
    }
    let elapsed = started.elapsed();
    store.close().await;
    bodies.len() as f64 / elapsed.as_secs_f64()
}

async fn over_http(bodies: Arc<Vec<String>>, senders: usize) -> (f64, Duration, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(store(&dir));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/webhooks/udesk/calls",
        listener.local_addr().unwrap()
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(udesk_calls::serve(
        listener,
        store,
        Settings::open_local(),
        async move {
            let _ = stopped.await;
        },
    ));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(senders)
        .build()
        .unwrap();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..senders {
        let (client, url, bodies, next) =
            (client.clone(), url.clone(), bodies.clone(), next.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let sent = Instant::now();
                let response = client.post(&url).body(body.clone()).send().await.unwrap();
                assert_eq!(response.status(), 200);
                response.bytes().await.unwrap();
                latencies.push(sent.elapsed());
            }
            latencies
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.unwrap());
    }
    let elapsed = started.elapsed();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    latencies.sort();
    let percentile = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    (
        bodies.len() as f64 / elapsed.as_secs_f64(),
        percentile(0.5),
        percentile(0.99),
    )
}

fn main() {
    let count: usize = std::env::var("INGEST_BENCH_PUSHES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50_000);
    let bodies = Arc::new(pushes(count));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    println!(
        "ingest: {count} pushes of ~{} bytes, {} cores",
        bodies[0].len(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let rate = runtime.block_on(in_process(&bodies));
    println!("in-process (import pipeline)   {rate:>9.0} pushes/s");
    for senders in [8, 64] {
        let (rate, p50, p99) = runtime.block_on(over_http(bodies.clone(), senders));
        println!(
            "HTTP, {senders:>2} concurrent senders   {rate:>9.0} pushes/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
}
