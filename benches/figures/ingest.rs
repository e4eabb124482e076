//! Ingest: the in-process store rate S, closed-loop HTTP senders (as many
//! pushes as they can get acknowledged), and open-loop paced senders (a fixed
//! rate, whatever the answers do) for ack latency.
//!
//! Closed-loop senders draw from a pool of requests formatted beforehand, so
//! their own CPU cost stays small next to the server's. Open-loop senders
//! make each push when it is due, and time it from when it was due, not
//! from when it could be sent: a server that falls behind shows in the
//! latency instead of silently slowing the senders down.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use udesk_calls::domain::RawPush;
use udesk_calls::http::webhook::intake;
use udesk_calls::{Store, StoreOptions};

use crate::http::{Conn, post};
use crate::pushes::{beijing, call_pushes};
use crate::server::WEBHOOK;

/// The `Host` the requests name: a token-less server answers only loopback
/// names.
pub const HOST_HEADER: &str = "localhost";

pub fn store_options(path: &Path) -> StoreOptions {
    StoreOptions {
        path: path.to_path_buf(),
        default_offset: beijing(),
        readers: 4,
        wal_autocheckpoint: udesk_calls::storage::DEFAULT_WAL_AUTOCHECKPOINT,
        train_dictionary_after: udesk_calls::storage::bodies::TRAIN_AFTER,
    }
}

/// Calls (offsets from `pushes::FIRST_ID`) of the seed database.
const SEED_FIRST: u64 = 6_000_000_000;

/// A new database as a service has it a minute after its first start:
/// 300 calls in and its first dictionary trained (a one-time cost, after
/// `TRAIN_AFTER` pushes), so the ingest figures measure the steady state,
/// not the training. Written to `<data>/seed.db`, once per run.
pub async fn seed(data: &Path) -> PathBuf {
    let path = data.join("seed.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let store = Store::open(&store_options(&path)).expect("the seed opens");
    through_store(&store, pool(SEED_FIRST, 300).into_iter()).await;
    let began = Instant::now();
    loop {
        let conn = rusqlite::Connection::open(&path).expect("the seed reads");
        let (dictionaries, raw): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT count(*) FROM body_dictionaries),
                        (SELECT count(*) FROM events WHERE body_dictionary IS NULL)",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .expect("the seed's state");
        if dictionaries > 0 && raw == 0 {
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(120),
            "the seed's dictionary was not trained"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    store.close().await;
    path
}

/// Pushes `bodies` through `Store` and its writer, keeping up to 4096 in
/// flight (as `import` does); answers the pushes and the writer's rate.
///
/// Bodies are prepared (parsed, validated, hashed) in chunks on every core
/// before they are timed: preparing is the request tasks' work, spread over
/// the cores in the service, while the one writer is what a store can take.
/// Timing it on the one task feeding the writer measured that task instead.
pub async fn through_store(store: &Store, bodies: impl Iterator<Item = Vec<u8>>) -> (u64, f64) {
    let mut bodies = bodies.peekable();
    let mut count = 0;
    let mut writing = Duration::ZERO;
    while bodies.peek().is_some() {
        let chunk: Vec<Vec<u8>> = bodies.by_ref().take(20_000).collect();
        let intakes = prepare(chunk);
        let started = Instant::now();
        let mut pending = VecDeque::new();
        count += enqueue_all(store, intakes, &mut pending).await;
        for write in pending {
            write.outcome().await.unwrap();
        }
        writing += started.elapsed();
    }
    (count, count as f64 / writing.as_secs_f64())
}

/// Like [`through_store`], for building the cached databases: the next
/// chunk is made and prepared on other threads while the writer stores
/// this one, so a build keeps both cores busy (a 10M-call build is hours).
/// Its rate is not figure 2's: the writer shares the cores meanwhile.
pub async fn build_through_store(
    store: &Store,
    bodies: impl Iterator<Item = Vec<u8>> + Send + 'static,
) -> u64 {
    let (chunks, mut ready) = tokio::sync::mpsc::channel(1);
    let maker = std::thread::spawn(move || {
        let mut bodies = bodies.peekable();
        while bodies.peek().is_some() {
            let chunk: Vec<Vec<u8>> = bodies.by_ref().take(20_000).collect();
            if chunks.blocking_send(prepare(chunk)).is_err() {
                return;
            }
        }
    });
    let mut count = 0;
    let mut pending = VecDeque::new();
    while let Some(intakes) = ready.recv().await {
        count += enqueue_all(store, intakes, &mut pending).await;
    }
    for write in pending {
        write.outcome().await.unwrap();
    }
    maker.join().expect("the chunk maker");
    count
}

/// Queues `intakes` on the writer, waiting for the oldest whenever 4096
/// are in flight (as `import` does); answers how many were queued.
async fn enqueue_all(
    store: &Store,
    intakes: Vec<udesk_calls::storage::Intake>,
    pending: &mut VecDeque<udesk_calls::storage::writer::PendingWrite>,
) -> u64 {
    let mut count = 0;
    for prepared in intakes {
        pending.push_back(store.writer().enqueue(prepared).await.unwrap());
        if pending.len() >= 4096 {
            pending.pop_front().unwrap().outcome().await.unwrap();
        }
        count += 1;
    }
    count
}

/// The bodies prepared for the writer as the webhook prepares them, on
/// every core.
fn prepare(bodies: Vec<Vec<u8>>) -> Vec<udesk_calls::storage::Intake> {
    let offset = beijing();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per_thread = bodies.len().div_ceil(threads).max(1);
    let mut chunks: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut bodies = bodies.into_iter().peekable();
    while bodies.peek().is_some() {
        chunks.push(bodies.by_ref().take(per_thread).collect());
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|body| {
                            let raw = RawPush {
                                body,
                                content_type: Some("application/json".into()),
                                received_at: udesk_calls::domain::received_now(offset),
                            };
                            intake(raw, offset)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().unwrap())
            .collect()
    })
}

/// The pushes of calls `first..first + calls` (ids offset by `first` from
/// the cached databases' first id), started in the month before the cached
/// databases' first day, made beforehand so that making them is not timed.
pub fn pool(first: u64, calls: u64) -> Vec<Vec<u8>> {
    (first..first + calls)
        .flat_map(|n| call_pushes(n, crate::pushes::before_origin(n)))
        .collect()
}

pub struct Run {
    pub pushes: usize,
    pub elapsed: Duration,
    /// Sorted.
    pub latencies: Vec<Duration>,
    pub failures: usize,
}

impl Run {
    pub fn rate(&self) -> f64 {
        self.pushes as f64 / self.elapsed.as_secs_f64()
    }
}

/// `senders` keep-alive connections, each sending its next push as soon as
/// the last is answered, for `duration` or until the pool is used up.
pub async fn closed_loop(
    host: &str,
    pool: Arc<Vec<Vec<u8>>>,
    senders: usize,
    duration: Duration,
) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..senders {
        let (pool, next, host) = (pool.clone(), next.clone(), host.to_string());
        tasks.spawn(async move {
            let mut conn = Conn::open(&host).await.expect("connects");
            let (mut latencies, mut failures) = (Vec::new(), 0);
            while Instant::now() < deadline {
                let Some(body) = pool.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    break;
                };
                let sent = Instant::now();
                let request = post(HOST_HEADER, WEBHOOK, "application/json", body);
                match conn.send(&request).await {
                    Ok((200, _)) => latencies.push(sent.elapsed()),
                    _ => failures += 1,
                }
            }
            (latencies, failures)
        });
    }
    collect(tasks, started).await
}

async fn collect(mut tasks: tokio::task::JoinSet<(Vec<Duration>, usize)>, started: Instant) -> Run {
    let (mut latencies, mut failures) = (Vec::new(), 0);
    while let Some(done) = tasks.join_next().await {
        let (l, f) = done.expect("a sender");
        latencies.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Run {
        pushes: latencies.len(),
        elapsed,
        latencies,
        failures,
    }
}

/// `rate` pushes a second in all, spread over `connections` keep-alive
/// connections, each on a fixed schedule, until `stop` is set or `limit`
/// has passed. Connection `c` sends calls `first + c`, `first + c +
/// connections`, … so every run from a distinct `first` sends new calls.
pub async fn open_loop(
    host: &str,
    first: u64,
    rate: f64,
    connections: usize,
    limit: Duration,
    stop: Arc<AtomicBool>,
) -> Run {
    let started = Instant::now();
    let interval = Duration::from_secs_f64(connections as f64 / rate.max(1.0));
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..connections {
        let (host, stop) = (host.to_string(), stop.clone());
        tasks.spawn(async move {
            let mut conn = Conn::open(&host).await.expect("connects");
            let (mut latencies, mut failures) = (Vec::new(), 0);
            // Staggered, so the connections do not all send at once.
            let offset = interval.mul_f64(c as f64 / connections as f64);
            let mut k = 0u64;
            let mut pushes: [Vec<u8>; 5] = Default::default();
            loop {
                let due = started + offset + interval.mul_f64(k as f64);
                if stop.load(Ordering::Relaxed) || due > started + limit {
                    break;
                }
                tokio::time::sleep_until(due.into()).await;
                // Each connection sends whole calls, their pushes in order.
                if k.is_multiple_of(5) {
                    let call = first + (k / 5) * connections as u64 + c as u64;
                    pushes = call_pushes(call, crate::pushes::before_origin(call));
                }
                let request = post(
                    HOST_HEADER,
                    WEBHOOK,
                    "application/json",
                    &pushes[(k % 5) as usize],
                );
                match conn.send(&request).await {
                    Ok((200, _)) => latencies.push(due.elapsed()),
                    _ => failures += 1,
                }
                k += 1;
            }
            (latencies, failures)
        });
    }
    collect(tasks, started).await
}
