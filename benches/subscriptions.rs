//! Live updates under load: how many `callUpdated` subscribers one
//! instance serves while ingesting 1,000 pushes/s, and the delay from a
//! push's `200` to its update arriving at a subscriber.
//!
//! Run with `cargo bench --bench subscriptions`. For each number of
//! subscribers, a fresh service takes 1,000 pushes/s (each a new call) for
//! `SUBSCRIPTION_BENCH_SECONDS` (default 5) from 16 paced senders, while
//! every subscriber reads its WebSocket. Two kinds: subscribers without a
//! filter (every push is an update for each: the worst case) and
//! subscribers whose filter matches one push in 100 (a wallboard of one
//! agent group). Clients and server share this machine's cores, so the
//! figures are a floor. A delay is the update's arrival minus the moment
//! the push's sender read its `200`: negative when the update came first
//! (it is published at the commit, before the answer is written).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use udesk_calls::config::HttpLimits;
use udesk_calls::{Settings, Store, StoreOptions};

const RATE: u64 = 1_000;
const SENDERS: u64 = 16;
/// Pushes whose delay is measured: one in this many.
const SAMPLE_EVERY: i64 = 10;
/// Subscribers whose delays are measured: the first this many.
const SAMPLED_SUBSCRIBERS: usize = 50;
const FIRST_ID: i64 = 1_000_000;

struct Run {
    push_rate: f64,
    push_p99: Duration,
    delays: Vec<f64>,
    updates: u64,
    expected: u64,
    dropped: u64,
}

fn push(id: i64) -> String {
    json!({
        "conversation_id": id,
        "occasion": "end",
        "timestamp": "2024-05-06 09:00:00 +0800",
        "agent_id": 1000 + id % 100,
        "workflow": "in",
        "call_result": "客户接听",
        "total_time": 30,
    })
    .to_string()
}

/// One subscriber: connects, subscribes, reads until told to stop; counts
/// updates and, when sampled, notes when each sampled push arrived.
async fn subscriber(
    address: std::net::SocketAddr,
    filtered: bool,
    sampled: bool,
    ready: tokio::sync::mpsc::Sender<()>,
    stop: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
) -> (u64, Vec<(i64, Instant)>) {
    let mut request = format!("ws://{address}/graphql")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let filter = if filtered {
        json!({ "agentIds": ["1000"] })
    } else {
        json!(null)
    };
    let query = "subscription($f: CallFilter) { callUpdated(filter: $f) { conversationId status totalTime } }";
    for message in [
        json!({ "type": "connection_init" }),
        json!({ "type": "subscribe", "id": "1", "payload": { "query": query, "variables": { "f": filter } } }),
        json!({ "type": "ping" }),
    ] {
        socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
    }
    let (mut updates, mut arrivals) = (0, Vec::new());
    let mut told_ready = false;
    while !stop.load(Ordering::Relaxed) {
        let Ok(next) = tokio::time::timeout(Duration::from_millis(200), socket.next()).await else {
            continue;
        };
        let text = match next {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                dropped.fetch_add(1, Ordering::Relaxed);
                break;
            }
            Some(Ok(_)) => continue,
        };
        if !told_ready && text.contains("\"pong\"") {
            told_ready = true;
            let _ = ready.send(()).await;
            continue;
        }
        if let Some(at) = text.find("\"conversationId\":\"") {
            updates += 1;
            if sampled {
                let rest = &text[at + 18..];
                let id: i64 = rest[..rest.find('"').unwrap()].parse().unwrap();
                if id % SAMPLE_EVERY == 0 {
                    arrivals.push((id, Instant::now()));
                }
            }
        } else if text.contains("\"error\"") {
            dropped.fetch_add(1, Ordering::Relaxed);
            break;
        }
    }
    (updates, arrivals)
}

async fn run(subscribers: usize, filtered: bool, seconds: u64) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        Store::open(&StoreOptions {
            path: dir.path().join("bench.db"),
            default_offset: udesk_calls::wire::time::beijing(),
            readers: 4,
            wal_autocheckpoint: udesk_calls::storage::DEFAULT_WAL_AUTOCHECKPOINT,
            train_dictionary_after: udesk_calls::storage::bodies::TRAIN_AFTER,
        })
        .unwrap(),
    );
    let listener = udesk_calls::http::listen("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let settings = Settings {
        http_limits: HttpLimits {
            max_connections: 100_000,
            max_connections_per_address: 100_000,
            max_websockets: 100_000,
            // Every subscriber connects from this one address.
            graphql_points_per_second: 0,
            ..HttpLimits::default()
        },
        ..Settings::open_local()
    };
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(udesk_calls::serve(listener, store, settings, async move {
        let _ = stopped.await;
    }));

    let stop = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicU64::new(0));
    let (ready, mut readied) = tokio::sync::mpsc::channel(subscribers.max(1));
    let mut clients = tokio::task::JoinSet::new();
    for n in 0..subscribers {
        clients.spawn(subscriber(
            address,
            filtered,
            n < SAMPLED_SUBSCRIBERS,
            ready.clone(),
            stop.clone(),
            dropped.clone(),
        ));
        if n % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for _ in 0..subscribers {
        readied.recv().await.unwrap();
    }

    let client = reqwest::Client::new();
    let url = format!("http://{address}/webhooks/udesk/calls");
    let total = RATE * seconds;
    let answered: Arc<Mutex<Vec<(i64, Instant)>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for sender in 0..SENDERS {
        let (client, url, answered, latencies) = (
            client.clone(),
            url.clone(),
            answered.clone(),
            latencies.clone(),
        );
        senders.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 * SENDERS / RATE));
            let mut n = sender;
            while n < total {
                tick.tick().await;
                let id = FIRST_ID + n as i64;
                let sent = Instant::now();
                let response = client.post(&url).body(push(id)).send().await.unwrap();
                assert_eq!(response.status(), 200);
                response.bytes().await.unwrap();
                let done = Instant::now();
                latencies.lock().unwrap().push(done - sent);
                if id % SAMPLE_EVERY == 0 {
                    answered.lock().unwrap().push((id, done));
                }
                n += SENDERS;
            }
        });
    }
    while senders.join_next().await.is_some() {}
    let push_rate = total as f64 / started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let mut updates = 0;
    let mut arrivals = Vec::new();
    while let Some(done) = clients.join_next().await {
        let (count, arrived) = done.unwrap();
        updates += count;
        arrivals.extend(arrived);
    }
    let _ = stop_server.send(());
    let _ = server.await;

    let answered: std::collections::HashMap<i64, Instant> =
        answered.lock().unwrap().iter().copied().collect();
    let mut delays: Vec<f64> = arrivals
        .iter()
        .filter_map(|(id, arrived)| {
            let answered = answered.get(id)?;
            Some(if arrived >= answered {
                (*arrived - *answered).as_secs_f64() * 1e3
            } else {
                -((*answered - *arrived).as_secs_f64() * 1e3)
            })
        })
        .collect();
    delays.sort_by(f64::total_cmp);
    let mut latencies = latencies.lock().unwrap().clone();
    latencies.sort();
    let per_subscriber = if filtered { total / 100 } else { total };
    Run {
        push_rate,
        push_p99: latencies[(latencies.len() - 1) * 99 / 100],
        delays,
        updates,
        expected: per_subscriber * subscribers as u64,
        dropped: dropped.load(Ordering::Relaxed),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn main() {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let seconds: u64 = std::env::var("SUBSCRIPTION_BENCH_SECONDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    println!(
        "subscriptions: {RATE} pushes/s for {seconds} s per row, {} cores shared by clients and server",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<22} {:>11} {:>12} {:>14} {:>13} {:>13} {:>8}",
        "subscribers",
        "pushes/s",
        "push p99 ms",
        "updates",
        "delay p50 ms",
        "delay p99 ms",
        "dropped"
    );
    let plan: Vec<(usize, bool)> = std::env::var("SUBSCRIPTION_BENCH_PLAN")
        .ok()
        .map(|plan| {
            plan.split(',')
                .map(|item| match item.strip_suffix('f') {
                    Some(n) => (n.parse().unwrap(), true),
                    None => (item.parse().unwrap(), false),
                })
                .collect()
        })
        .unwrap_or_else(|| {
            vec![
                (10, false),
                (50, false),
                (100, false),
                (200, false),
                (400, false),
                (1000, true),
                (2000, true),
                (4000, true),
            ]
        });
    for (subscribers, filtered) in plan {
        let result = runtime.block_on(run(subscribers, filtered, seconds));
        let kind = if filtered {
            "filtered 1/100"
        } else {
            "every update"
        };
        println!(
            "{:<22} {:>11.0} {:>12.1} {:>14} {:>13.1} {:>13.1} {:>8}",
            format!("{subscribers:>5} {kind}"),
            result.push_rate,
            result.push_p99.as_secs_f64() * 1e3,
            format!("{}/{}", result.updates, result.expected),
            percentile(&result.delays, 0.5),
            percentile(&result.delays, 0.99),
            result.dropped
        );
    }
}
