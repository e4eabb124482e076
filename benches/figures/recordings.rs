//! Section 14: recordings archived (`serve --recordings-to DIR`) from a
//! local HTTP source standing in for Udesk's storage: how fast the archive
//! keeps up (recordings and megabytes a second), and what archiving costs
//! ingest (64 senders, archiving on against off, on the same pushes).
//!
//! The source answers every path with a 2 MB WAV (two minutes of 8 kHz
//! 16-bit mono, a typical call), its first samples made from the path, so
//! every recording is distinct and none is kept once for two calls.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{OriginalUri, State};
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::Config;
use crate::ingest::{self, closed_loop};
use crate::sections::heading;
use crate::server::{Scratch, Server};

/// Two minutes of 8 kHz 16-bit mono.
const RECORDING_BYTES: usize = 2 * 1024 * 1024;
/// Calls whose recordings the throughput run archives.
const THROUGHPUT_CALLS: u64 = 300;
/// Conversation ids of this section's calls (offsets from the first id).
const FIRST: u64 = 5_000_000_000;

struct Source {
    template: Vec<u8>,
    served: AtomicU64,
}

async fn recording(
    State(source): State<Arc<Source>>,
    OriginalUri(uri): OriginalUri,
) -> impl IntoResponse {
    let mut body = source.template.clone();
    body[44..76].copy_from_slice(&Sha256::digest(uri.path().as_bytes()));
    source
        .served
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    ([(header::CONTENT_TYPE, "audio/wav")], body)
}

async fn start_source() -> (SocketAddr, Arc<Source>) {
    let mut template = vec![0u8; RECORDING_BYTES];
    template[..4].copy_from_slice(b"RIFF");
    template[8..16].copy_from_slice(b"WAVEfmt ");
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    for byte in &mut template[44..] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *byte = x as u8;
    }
    let source = Arc::new(Source {
        template,
        served: AtomicU64::new(0),
    });
    let app = Router::new().fallback(recording).with_state(source.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("the source serves") });
    (address, source)
}

/// The pushes of calls `first..first + calls`, their recording links on
/// the local source.
fn pushes_linking_to(source: SocketAddr, first: u64, calls: u64) -> Vec<Vec<u8>> {
    let local = format!("http://{source}/");
    ingest::pool(first, calls)
        .into_iter()
        .map(|body| {
            String::from_utf8(body)
                .expect("UTF-8")
                .replace("http://records.example.cn/", &local)
                .into_bytes()
        })
        .collect()
}

async fn archive_totals(host: &str) -> Value {
    let answer: Value = reqwest::Client::new()
        .post(format!("http://{host}/graphql"))
        .header("host", ingest::HOST_HEADER)
        .json(&json!({ "query": "{ recordingsArchive { pending archived failed bytes } }" }))
        .send()
        .await
        .expect("GraphQL answers")
        .json()
        .await
        .expect("JSON");
    answer["data"]["recordingsArchive"].clone()
}

pub async fn figures(data: &Path, seed: &Path, config: &Config) {
    let (source, served) = start_source().await;

    // 12a: a burst's recordings, archived as fast as they can be.
    let scratch = Scratch::seeded(data, "recordings", seed);
    let archive = scratch.0.join("recordings");
    let archive_flag = archive.to_string_lossy().into_owned();
    let flags = [
        "--recordings-to",
        &archive_flag,
        "--recordings-max-rate",
        "0",
    ];
    let server = Server::start_with(&scratch.db(), data, &flags).await;
    let burst = Arc::new(pushes_linking_to(source, FIRST, THROUGHPUT_CALLS));
    let began = Instant::now();
    closed_loop(&server.host, burst, 8, Duration::from_secs(600)).await;
    let acked = began.elapsed();
    let totals = loop {
        let totals = archive_totals(&server.host).await;
        if totals["pending"] == 0 || began.elapsed() > Duration::from_secs(600) {
            break totals;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let seconds = began.elapsed().as_secs_f64();
    server.stop();
    drop(scratch);
    let archived = totals["archived"].as_f64().unwrap_or(0.0);
    let bytes = totals["bytes"].as_f64().unwrap_or(0.0);
    heading(
        "12. recordings archived from a local HTTP source (serve --recordings-to DIR, 4 at once, no rate cap)",
    );
    println!(
        "{:>10.1} recordings/s {:>8.1} MB/s   ({archived} recordings of {} MB each, {:.1} GB in {seconds:.1} s; pushes acknowledged in {:.1} s; {} failed)",
        archived / seconds,
        bytes / seconds / 1e6,
        RECORDING_BYTES as f64 / 1e6,
        bytes / 1e9,
        acked.as_secs_f64(),
        totals["failed"]
    );

    // 12b: ingest with archiving off, on (the default rate cap), and on
    // without a cap: the same pushes, each run on a new copy of the seed;
    // three times each, alternating, the best kept.
    let pool = Arc::new(pushes_linking_to(
        source,
        FIRST + THROUGHPUT_CALLS,
        config.pool_calls,
    ));
    let modes: [(&str, Option<&str>); 3] = [
        ("off", None),
        ("on", Some("16MiB")),
        ("on, no cap", Some("0")),
    ];
    let mut best = [0.0_f64; 3];
    let mut archived = [0.0_f64; 3];
    for _ in 0..3 {
        for (i, (_, rate)) in modes.iter().enumerate() {
            let scratch = Scratch::seeded(data, "recordings-ingest", seed);
            let archive_flag = scratch.0.join("recordings").to_string_lossy().into_owned();
            let flags: Vec<&str> = match rate {
                Some(rate) => vec![
                    "--recordings-to",
                    &archive_flag,
                    "--recordings-max-rate",
                    rate,
                ],
                None => Vec::new(),
            };
            let server = Server::start_with(&scratch.db(), data, &flags).await;
            let run = closed_loop(&server.host, pool.clone(), 64, config.ingest).await;
            if rate.is_some() {
                let totals = archive_totals(&server.host).await;
                archived[i] = archived[i].max(totals["archived"].as_f64().unwrap_or(0.0));
            }
            best[i] = best[i].max(run.rate());
            server.stop();
        }
    }
    println!(
        "ingest, 64 senders, {} s runs (best of three):",
        config.ingest.as_secs()
    );
    for (i, (mode, rate)) in modes.iter().enumerate() {
        let cap = match rate {
            Some("0") | None => String::new(),
            Some(rate) => format!(" at {rate}/s"),
        };
        println!(
            "{:>10.0} pushes/s archiving {mode:<11} ratio {:.2}   ({} recordings archived meanwhile{cap})",
            best[i],
            best[i] / best[0],
            archived[i]
        );
    }
    println!(
        "({:.1} GB served by the source in all)",
        served.served.load(Ordering::Relaxed) as f64 / 1e9
    );
}
