//! `cargo bench --bench figures`: every performance figure in one run, each
//! section a table, the machine described first. `BENCHMARKS.md` says what
//! each figure means and what limits it.
//!
//! Environment: `BENCH_CALLS` (calls in the query database, default
//! 1 000 000; 20 000 for a quick look), `BENCH_LARGE_CALLS` (the database
//! ingest is compared on, default the query database; 10 000 000 for the
//! long form), `BENCH_SECONDS` (each ingest run, default 10, 5 below
//! 100 000 calls), `BENCH_QUERY_SECONDS` (each query's latency and
//! throughput phases, default 2, 1 below 100 000 calls), `BENCH_POOL_CALLS` (calls made beforehand for the
//! closed-loop senders, default 30 000), `BENCH_IMPORT_CALLS` (the history
//! imported, default 200 000 calls, 20 000 in the quick form),
//! `BENCH_ONLY` (some sections only), `BENCH_DATASETTE` (pip requirement).

// The push generator's one `json!` holds every field of a push.
#![recursion_limit = "256"]

mod dataset;
mod datasette;
mod history;
mod http;
mod ingest;
mod machine;
mod measure;
mod one_call;
mod pushes;
mod queries;
mod recordings;
mod sections;
mod server;
mod upkeep;

use std::sync::Arc;
use std::time::Duration;

use dataset::data_dir;
use server::{Scratch, Server};

/// Conversation ids (offsets from `pushes::FIRST_ID`) of the bench's own
/// ingest, far above any cached database's calls: the closed-loop pool,
/// the paced run on a new database, the paced run beside queries.
const POOL_FIRST: u64 = 2_000_000_000;
const PACED_FIRST: u64 = 3_000_000_000;
const BESIDE_FIRST: u64 = 4_000_000_000;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

pub struct Config {
    pub calls: u64,
    pub large: u64,
    pub ingest: Duration,
    pub query: Duration,
    pub pool_calls: u64,
    /// Calls in the history file `import` is timed on.
    pub import_calls: u64,
}

fn main() {
    let calls = env_u64("BENCH_CALLS", 1_000_000);
    // A quick look (under 100 000 calls) is for checking that everything
    // runs, not for figures: shorter phases keep it to a couple of minutes.
    let quick = calls < 100_000;
    let config = Config {
        calls,
        large: env_u64("BENCH_LARGE_CALLS", 0),
        ingest: Duration::from_secs(env_u64("BENCH_SECONDS", if quick { 5 } else { 10 })),
        query: Duration::from_secs(env_u64("BENCH_QUERY_SECONDS", if quick { 1 } else { 2 })),
        pool_calls: env_u64("BENCH_POOL_CALLS", 30_000),
        import_calls: env_u64("BENCH_IMPORT_CALLS", if quick { 20_000 } else { 200_000 }),
    };
    let config = Config {
        large: if config.large == 0 {
            config.calls
        } else {
            config.large
        },
        ..config
    };
    // Two worker threads: the machine has two cores, and the senders should
    // not take more of them than a load generator like wrk would.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run(config));
}

/// Whether `BENCH_ONLY` (a comma-separated list of `ingest`, `queries`,
/// `large`, `import`, `onecall`, `upkeep`, `recordings`) names `section`; every section
/// when unset.
fn wanted(section: &str) -> bool {
    match std::env::var("BENCH_ONLY") {
        Ok(list) if !list.trim().is_empty() => list.split(',').any(|s| s.trim() == section),
        _ => true,
    }
}

async fn run(config: Config) {
    let data = data_dir();
    std::fs::create_dir_all(&data).expect("the bench's data dir");
    machine::describe(&data);

    let mut empty_rate = None;
    let mut half = 800.0;
    let mut pool = Arc::new(Vec::new());
    if wanted("ingest") || wanted("large") || wanted("queries") {
        eprintln!("making {} calls' pushes for the senders", config.pool_calls);
        pool = Arc::new(ingest::pool(POOL_FIRST, config.pool_calls));
    }
    if wanted("ingest") {
        let scratch = Scratch::new(&data, "fsync");
        let fsync = machine::fsync_rate(&scratch.0, Duration::from_secs(3));
        drop(scratch);
        sections::heading("1. the disk: durable one-row commits (WAL, synchronous=FULL)");
        println!("{fsync:>10.0} commits/s   (one sender's ceiling without group commit)");

        let average = pool.iter().map(Vec::len).sum::<usize>() / pool.len().max(1);
        let seed = ingest::seed(&data).await;
        let scratch = Scratch::seeded(&data, "store", &seed);
        let store = udesk_calls::Store::open(&ingest::store_options(&scratch.db())).expect("opens");
        let (pushes, store_rate) = ingest::through_store(&store, pool.iter().cloned()).await;
        store.close().await;
        drop(scratch);
        sections::heading(
            "2. in-process store rate S (the writer: pushes prepared beforehand, 4096 in flight)",
        );
        println!("{store_rate:>10.0} pushes/s   ({pushes} pushes, {average} bytes on average)");

        let http = sections::http_ingest(&data, &seed, pool.clone(), &config, store_rate).await;
        half = http.best / 2.0;
        empty_rate = Some(http.sixty_four);
        sections::ack_latency(&data, &seed, PACED_FIRST, half, &config).await;
    }

    if wanted("recordings") {
        let seed = ingest::seed(&data).await;
        recordings::figures(&data, &seed, &config).await;
    }

    if wanted("import") {
        let calls = config.import_calls;
        let imported = history::import(&data, calls);
        sections::heading("10. history import (udesk-calls import FILE, an empty database)");
        println!(
            "{:>10.0} pushes/s   ({} pushes in {:.1} s; {:.0} bytes/call after; peak RSS {:.1} MiB)",
            imported.rate,
            imported.pushes,
            imported.seconds,
            imported.bytes_per_call,
            imported.peak_rss as f64 / 1048576.0
        );
    }

    if wanted("onecall") {
        one_call::figures(&data).await;
    }

    let mut dataset = None;
    if wanted("queries") || wanted("upkeep") {
        let built = dataset::ensure(&data, config.calls).await;
        sections::heading("7. database bytes per call (5 pushes a call, file after checkpoint)");
        println!(
            "{:>10.0} bytes/call   ({} calls, {:.2} GiB)",
            built.bytes_per_call,
            built.calls,
            built.bytes_per_call * built.calls as f64 / (1u64 << 30) as f64
        );
        dataset = Some(built);
    }
    if let Some(dataset) = dataset.as_ref().filter(|_| wanted("upkeep")) {
        upkeep::figures(dataset, &data).await;
    }
    let mut idle = Vec::new();
    if let Some(dataset) = dataset.as_ref().filter(|_| wanted("queries")) {
        let server = Server::start(&dataset.path, &data).await;
        // Measured in the steady state: after the start's integrity check
        // (section 11 gives its time).
        upkeep::integrity_check_seconds(&server.host).await;
        idle = sections::queries(&server.host, &config, dataset.calls).await;
        dataset.mark_dirty();
        let beside = sections::queries_beside_ingest(
            &server.host,
            &config,
            dataset.calls,
            half,
            BESIDE_FIRST,
        )
        .await;
        sections::print_queries(&config, dataset.calls, &idle, &beside, half);

        let rss = server.peak_rss();
        server.stop();
        sections::heading("6b. peak RSS of serve after the queries, idle and beside ingest");
        println!(
            "{:>10.1} MiB   (on {} calls)",
            rss as f64 / 1048576.0,
            dataset.calls
        );
        dataset.clean().await;
    }

    if wanted("large") {
        // A fresh server, as for the new database, so the two runs differ
        // in the database alone.
        let large = dataset::ensure(&data, config.large).await;
        let server = Server::start(&large.path, &data).await;
        upkeep::integrity_check_seconds(&server.host).await;
        let year = sections::year_queries(&server.host, &config, config.large).await;
        large.mark_dirty();
        let run = ingest::closed_loop(&server.host, pool.clone(), 64, config.ingest).await;
        server.stop();
        large.clean().await;
        sections::heading("8. ingest on a large database against a new one (64 senders)");
        let failed = if run.failures > 0 {
            format!("   ({} pushes failed)", run.failures)
        } else {
            String::new()
        };
        match empty_rate {
            Some(empty) => println!(
                "{empty:>10.0} pushes/s new   {:>10.0} pushes/s on {} calls   ratio {:.2}{failed}",
                run.rate(),
                config.large,
                run.rate() / empty,
            ),
            None => println!(
                "{:>10.0} pushes/s on {} calls{failed}",
                run.rate(),
                config.large
            ),
        }
        for (name, figures) in year {
            println!(
                "{name:<40} p50 {:>9}   p95 {:>9}   on {} calls{}",
                http::ms(figures.p50),
                http::ms(figures.p95),
                config.large,
                if figures.failures > 0 {
                    "  (some failed: see stderr)"
                } else {
                    ""
                }
            );
        }
    }

    if let Some(dataset) = dataset.as_ref().filter(|_| wanted("queries")) {
        sections::side_by_side(&dataset.path, &data, &config, dataset.calls, &idle).await;
    }
}
