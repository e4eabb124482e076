//! Timing one query: its latency one request at a time (p50, p95), then its
//! throughput with two connections at once (the machine's two cores),
//! each phase for a time budget, so a 1 ms query and a 700 ms one both get
//! a fair number of samples in a bounded time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::http::{Conn, quantile};

/// Builds the request of sample `i`.
pub type Maker = Arc<dyn Fn(u64) -> Vec<u8> + Send + Sync>;
/// Whether an answer (status, body) is a success.
pub type Check = fn(u16, &[u8]) -> bool;

#[derive(Clone, Copy, Default)]
pub struct Figures {
    pub p50: Duration,
    pub p95: Duration,
    pub per_second: f64,
    pub failures: usize,
}

/// Fewest samples for a latency, whatever the budget.
const MIN_SAMPLES: usize = 5;
/// Enough samples for a p95; more only costs time.
const MAX_SAMPLES: usize = 400;
const CONNECTIONS: u64 = 2;

pub async fn measure(host: &str, make: Maker, ok: Check, budget: Duration) -> Figures {
    let mut conn = Conn::open(host).await.expect("connects");
    let mut latencies = Vec::new();
    let mut failures = 0;
    let began = Instant::now();
    let mut i = 0;
    while latencies.len() < MAX_SAMPLES
        && (latencies.len() < MIN_SAMPLES || began.elapsed() < budget)
        && failures < 3
    {
        let request = make(i);
        i += 1;
        let sent = Instant::now();
        match conn.send(&request).await {
            Ok((status, body)) if ok(status, &body) => latencies.push(sent.elapsed()),
            Ok((status, body)) => {
                failures += 1;
                let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
                eprintln!("  failed ({status}): {text}");
            }
            Err(error) => {
                failures += 1;
                eprintln!("  failed: {error}");
                conn = Conn::open(host).await.expect("connects");
            }
        }
    }
    latencies.sort();

    // Throughput: each connection keeps one request in flight until the
    // budget is spent (the last answer is awaited, and counted).
    let next = Arc::new(AtomicU64::new(10_000));
    let began = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONNECTIONS {
        let (host, make, next) = (host.to_string(), make.clone(), next.clone());
        tasks.spawn(async move {
            let mut conn = Conn::open(&host).await.expect("connects");
            let mut done = 0u64;
            while began.elapsed() < budget && done < MAX_SAMPLES as u64 {
                let request = make(next.fetch_add(1, Ordering::Relaxed));
                match conn.send(&request).await {
                    Ok((status, body)) if ok(status, &body) => done += 1,
                    _ => break,
                }
            }
            done
        });
    }
    let mut done = 0;
    while let Some(n) = tasks.join_next().await {
        done += n.unwrap_or(0);
    }
    Figures {
        p50: quantile(&latencies, 0.5),
        p95: quantile(&latencies, 0.95),
        per_second: done as f64 / began.elapsed().as_secs_f64(),
        failures,
    }
}
