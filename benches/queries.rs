//! Latency of the dashboard's queries over HTTP on a million calls.
//!
//! `cargo bench --bench queries` builds (once, cached under
//! `<target>/bench-data/`) a database of `BENCH_CALLS` calls (default
//! 1 000 000: 200 agents in 20 groups, 4 workflows, 12 results, 90 days, one
//! `end` push each) by sending generated NDJSON lines through the real ingest
//! pipeline, then serves it on 127.0.0.1 and prints p50 / p95 / max of:
//! one agent's calls for one day, `callStats` by agent and by day over 30
//! days, and a `call(conversationId)` lookup. Opening the store gives the
//! planner its statistics (`PRAGMA optimize`), as the service does.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{FixedOffset, TimeZone};
use serde_json::{Value, json};
use udesk_calls::domain::RawPush;
use udesk_calls::http::webhook::intake;
use udesk_calls::wire::time::beijing;
use udesk_calls::{Settings, Store, StoreOptions};

const AGENTS: u64 = 200;
const DAYS: u64 = 90;
const RESULTS: [&str; 12] = [
    "客户接听",
    "客户未接",
    "坐席未接",
    "留言",
    "呼损",
    "排队放弃",
    "IVR挂机",
    "转接成功",
    "转接失败",
    "咨询",
    "黑名单",
    "忙线",
];
const WORKFLOWS: [&str; 4] = ["in", "out_callback", "out_direct", "out_auto"];
const CATEGORIES: [&str; 3] = ["normal", "transfer", "consult"];
const CAUSES: [&str; 5] = ["关机", "空号", "停机", "无人接听", "用户拒接"];
const FIRST_ID: u64 = 8_000_000_000;

fn origin() -> chrono::DateTime<FixedOffset> {
    beijing().with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
}

/// A cheap deterministic mix of the call number, so runs are repeatable.
fn mix(n: u64, salt: u64) -> u64 {
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 29)
}

/// The `end` push of call number `n`, as one NDJSON line.
fn push_line(n: u64, calls: u64) -> Vec<u8> {
    let agent = mix(n, 1) % AGENTS;
    let seconds = n * (DAYS * 86_400) / calls + mix(n, 2) % 60;
    let start = origin() + chrono::Duration::seconds(seconds as i64);
    let answered = mix(n, 3) % 10 < 7;
    let talk = if answered { 10 + mix(n, 4) % 600 } else { 0 };
    let end = start + chrono::Duration::seconds(talk as i64 + 20);
    let body = json!({
        "conversation_id": FIRST_ID + n,
        "call_id": format!("bench-{}", n / 2),
        "occasion": "end",
        "timestamp": end.format("%Y-%m-%d %H:%M:%S %z").to_string(),
        "call_start_at": start.format("%Y-%m-%d %H:%M:%S").to_string(),
        "agent_id": 10_000 + agent,
        "agent_email": format!("agent{agent}@example.com"),
        "agent_nick_name": format!("坐席{agent}"),
        "user_group_id": 500 + agent % 20,
        "user_group_name": format!("组{}", agent % 20),
        "workflow": WORKFLOWS[(mix(n, 5) % 4) as usize],
        "call_result": RESULTS[(mix(n, 6) % 12) as usize],
        "category": CATEGORIES[(mix(n, 7) % 3) as usize],
        "customer_phone": format!("138{:08}", mix(n, 8) % 100_000_000),
        "total_time": talk,
        "queue_time": mix(n, 9) % 90,
        "ring_time": mix(n, 10) % 40,
        "defeat_cause": if answered { Value::Null } else { json!(CAUSES[(mix(n, 11) % 5) as usize]) },
        "survey": if answered { "满意" } else { "未评价" },
        "record_url": if answered { json!(format!("http://records.example/{n}.wav")) } else { Value::Null },
        "ticket_numbers": if mix(n, 12).is_multiple_of(10) { json!([format!("#{n}")]) } else { json!([]) },
    });
    serde_json::to_vec(&body).unwrap()
}

fn data_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("bench-data")
}

fn options(path: PathBuf) -> StoreOptions {
    StoreOptions {
        path,
        default_offset: beijing(),
        readers: 4,
        wal_autocheckpoint: udesk_calls::storage::DEFAULT_WAL_AUTOCHECKPOINT,
    }
}

/// Loads `calls` pushes through the webhook's pipeline (prepare, then the
/// single writer's group commits), as `udesk-calls import` does.
async fn build(path: PathBuf, calls: u64) {
    let _ = std::fs::remove_file(&path);
    let store = Store::open(&options(path.clone())).unwrap();
    let began = Instant::now();
    let mut pending = std::collections::VecDeque::new();
    for n in 0..calls {
        let raw = RawPush {
            body: push_line(n, calls),
            content_type: None,
            received_at: chrono::Utc::now().with_timezone(&beijing()),
        };
        pending.push_back(
            store
                .writer()
                .enqueue(intake(raw, beijing()))
                .await
                .unwrap(),
        );
        if pending.len() >= 4096 {
            pending.pop_front().unwrap().outcome().await.unwrap();
        }
        if n > 0 && n.is_multiple_of(100_000) {
            eprintln!("  {n} calls loaded in {:.0?}", began.elapsed());
        }
    }
    for write in pending {
        write.outcome().await.unwrap();
    }
    store.close().await;
    let elapsed = began.elapsed();
    eprintln!(
        "loaded {calls} calls in {elapsed:.1?} ({:.0} pushes/s through the real pipeline)",
        calls as f64 / elapsed.as_secs_f64()
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
}

struct Client {
    http: reqwest::Client,
    url: String,
}

impl Client {
    async fn time(&self, query: &str, variables: Value) -> Duration {
        let began = Instant::now();
        let response: Value = self
            .http
            .post(&self.url)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let elapsed = began.elapsed();
        assert!(response.get("errors").is_none(), "{response}");
        elapsed
    }
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{name:<44} n={:<4} p50 {:>9.2?}  p95 {:>9.2?}  max {:>9.2?}",
        samples.len(),
        at(0.5),
        at(0.95),
        samples[samples.len() - 1]
    );
}

async fn measure(client: &Client, calls: u64) {
    let day = |d: u64| origin() + chrono::Duration::days(d as i64);
    let agent_day = "query($agent: ID!, $from: DateTime!, $to: DateTime!) {
        calls(filter: { agentIds: [$agent], startedAt: { from: $from, to: $to } }, first: 50) {
            totalCount pageInfo { hasNextPage endCursor }
            nodes { conversationId startedAt agentNickName customerPhone workflow callResult totalTime recordUrl }
        } }";
    let mut samples = Vec::new();
    for i in 0..200_u64 {
        let vars = json!({ "agent": (10_000 + mix(i, 20) % AGENTS).to_string(),
            "from": day(mix(i, 21) % DAYS).to_rfc3339(), "to": day(mix(i, 21) % DAYS + 1).to_rfc3339() });
        samples.push(client.time(agent_day, vars).await);
    }
    report("one agent's day (first 50 + totalCount)", samples);

    let stats = "query($from: DateTime!, $to: DateTime!, $by: [CallDimension!]) {
        callStats(filter: { startedAt: { from: $from, to: $to } }, groupBy: $by) {
            agentId day callResult count answeredCount totalTime avgTotalTime avgQueueTime answerRate } }";
    for (name, by) in [
        ("callStats by AGENT over 30 days", "AGENT"),
        ("callStats by DAY over 30 days", "DAY"),
        ("callStats by CALL_RESULT over 30 days", "CALL_RESULT"),
    ] {
        let mut samples = Vec::new();
        for i in 0..20_u64 {
            let first = mix(i, 30) % (DAYS - 30);
            let vars = json!({ "from": day(first).to_rfc3339(), "to": day(first + 30).to_rfc3339(), "by": [by] });
            samples.push(client.time(stats, vars).await);
        }
        report(name, samples);
    }

    let lookup = "query($id: ID!) { call(conversationId: $id) {
        conversationId status startedAt agentId agentEmail workflow callResult totalTime recordUrl
        events { occasion timestamp payload } ticketNumbers customFields { id value } } }";
    let mut samples = Vec::new();
    for i in 0..200_u64 {
        let vars = json!({ "id": (FIRST_ID + mix(i, 40) % calls).to_string() });
        samples.push(client.time(lookup, vars).await);
    }
    report("call(conversationId) with its events", samples);
}

#[tokio::main]
async fn main() {
    let calls: u64 = std::env::var("BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = data_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("calls-{calls}.db"));
    let ready = dir.join(format!("calls-{calls}.ready"));
    if !ready.exists() {
        eprintln!(
            "building {} ({calls} calls; cached for later runs)",
            path.display()
        );
        build(path.clone(), calls).await;
        std::fs::write(&ready, b"").unwrap();
    }
    println!("{calls} calls, over HTTP on 127.0.0.1:");
    serve_and_measure(path, calls).await;
}

async fn serve_and_measure(path: PathBuf, calls: u64) {
    let store = Arc::new(Store::open(&options(path)).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/graphql", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // Hundreds of queries back to back from one client: the rate limit
    // would measure itself, not the queries.
    let mut settings = Settings::open_local();
    settings.http_limits.graphql_rate_limit = 0;
    let server = tokio::spawn(udesk_calls::serve(listener, store, settings, async {
        let _ = stopped.await;
    }));
    let client = Client {
        http: reqwest::Client::new(),
        url,
    };
    measure(&client, calls).await;
    stop.send(()).ok();
    server.await.unwrap().unwrap();
}
