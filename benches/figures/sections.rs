//! The sections that run the release binary: HTTP ingest and peak memory,
//! ack latency at half load, the query table (idle and beside ingest), and
//! the same queries through Datasette.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::Config;
use crate::http::{get, ms, post, quantile};
use crate::ingest::{self, HOST_HEADER};
use crate::measure::{Figures, Maker, measure};
use crate::queries::{self, Query, graphql_ok};
use crate::server::{Scratch, Server};

pub fn heading(title: &str) {
    println!("\n== {title}");
}

pub struct HttpIngest {
    /// The best rate of the three runs: "the maximum rate".
    pub best: f64,
    pub sixty_four: f64,
}

/// Sections 3 and 6: closed-loop senders against the release binary, each
/// run on a fresh copy of the seed database (see `ingest::seed`).
pub async fn http_ingest(
    data: &Path,
    seed: &Path,
    pool: Arc<Vec<Vec<u8>>>,
    config: &Config,
    s: f64,
) -> HttpIngest {
    let mut rows = Vec::new();
    let mut rss = 0;
    for senders in [1, 8, 64] {
        let scratch = Scratch::seeded(data, "http", seed);
        let server = Server::start(&scratch.db(), data).await;
        let run = ingest::closed_loop(&server.host, pool.clone(), senders, config.ingest).await;
        if senders == 64 {
            rss = server.peak_rss();
        }
        server.stop();
        rows.push((senders, run));
    }
    heading("3. HTTP ingest I against the release binary (keep-alive senders, a new database)");
    println!("senders      pushes/s     I/S    p50 ack    p99 ack   pushes  failed");
    for (senders, run) in &rows {
        println!(
            "{senders:>7} {:>13.0} {:>7.2} {:>10} {:>10} {:>8} {:>7}",
            run.rate(),
            run.rate() / s,
            ms(quantile(&run.latencies, 0.5)),
            ms(quantile(&run.latencies, 0.99)),
            run.pushes,
            run.failures
        );
    }
    heading("6. peak RSS of serve under full ingest (VmHWM, 64 senders, a new database)");
    println!("{:>10.1} MiB", rss as f64 / 1048576.0);
    HttpIngest {
        best: rows.iter().map(|(_, r)| r.rate()).fold(0.0, f64::max),
        sixty_four: rows[2].1.rate(),
    }
}

/// Section 4: open-loop paced senders at `rate`, on a fresh copy of the seed.
pub async fn ack_latency(data: &Path, seed: &Path, first: u64, rate: f64, config: &Config) {
    let scratch = Scratch::seeded(data, "paced", seed);
    let server = Server::start(&scratch.db(), data).await;
    let stop = Arc::new(AtomicBool::new(false));
    let run = ingest::open_loop(&server.host, first, rate, 64, config.ingest, stop).await;
    server.stop();
    heading("4. ack latency at half the maximum rate (64 open-loop paced connections)");
    println!("  target/s   achieved/s        p50        p99        max  failed");
    println!(
        "{rate:>10.0} {:>12.0} {:>10} {:>10} {:>10} {:>7}",
        run.rate(),
        ms(quantile(&run.latencies, 0.5)),
        ms(quantile(&run.latencies, 0.99)),
        ms(quantile(&run.latencies, 1.0)),
        run.failures
    );
}

fn graphql_maker(query: &'static Query, calls: u64) -> Maker {
    Arc::new(move |i| {
        post(
            HOST_HEADER,
            "/graphql",
            "application/json",
            &query.graphql(i, calls),
        )
    })
}

/// Every query of the table, through GraphQL on `host`.
pub async fn queries(host: &str, config: &Config, calls: u64) -> Vec<Figures> {
    let mut figures = Vec::new();
    for query in all_queries() {
        eprintln!("  {}", query.name);
        let ok = |status: u16, body: &[u8]| status == 200 && graphql_ok(body);
        figures.push(measure(host, graphql_maker(query, calls), ok, config.query).await);
    }
    figures
}

fn all_queries() -> &'static [Query] {
    static ALL: std::sync::OnceLock<Vec<Query>> = std::sync::OnceLock::new();
    ALL.get_or_init(queries::all)
}

/// A year's statistics by day and by agent on `host`.
pub async fn year_queries(host: &str, config: &Config, calls: u64) -> Vec<(&'static str, Figures)> {
    static YEAR: std::sync::OnceLock<Vec<Query>> = std::sync::OnceLock::new();
    let mut figures = Vec::new();
    for query in YEAR.get_or_init(queries::year) {
        eprintln!("  {}", query.name);
        let ok = |status: u16, body: &[u8]| status == 200 && graphql_ok(body);
        let measured = measure(host, graphql_maker(query, calls), ok, config.query).await;
        figures.push((query.name, measured));
    }
    figures
}

/// The same queries while paced senders push new calls at `rate`.
pub async fn queries_beside_ingest(
    host: &str,
    config: &Config,
    calls: u64,
    rate: f64,
    first: u64,
) -> (Vec<Figures>, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let ingest = {
        let (host, stop) = (host.to_string(), stop.clone());
        tokio::spawn(async move {
            ingest::open_loop(
                &host,
                first,
                rate,
                64,
                std::time::Duration::from_secs(24 * 3600),
                stop,
            )
            .await
        })
    };
    let figures = queries(host, config, calls).await;
    stop.store(true, Ordering::Relaxed);
    let run = ingest.await.expect("the paced senders");
    (figures, run.rate())
}

pub fn print_queries(
    config: &Config,
    calls: u64,
    idle: &[Figures],
    beside: &(Vec<Figures>, f64),
    rate: f64,
) {
    heading(&format!("5. queries over HTTP on {calls} calls"));
    println!(
        "p50/p95 one request at a time, req/s with 2 connections, {} s each; \
         \"beside ingest\": paced senders aiming at {rate:.0} pushes/s, achieved {:.0}/s",
        config.query.as_secs(),
        beside.1
    );
    println!(
        "{:<40} {:>9} {:>9} {:>8}   {:>9} {:>9} {:>8}",
        "", "idle", "", "", "beside", "ingest", ""
    );
    println!(
        "{:<40} {:>9} {:>9} {:>8}   {:>9} {:>9} {:>8}",
        "query", "p50", "p95", "req/s", "p50", "p95", "req/s"
    );
    for ((query, a), b) in all_queries().iter().zip(idle).zip(&beside.0) {
        println!(
            "{:<40} {:>9} {:>9} {:>8.1}   {:>9} {:>9} {:>8.1}{}",
            query.name,
            ms(a.p50),
            ms(a.p95),
            a.per_second,
            ms(b.p50),
            ms(b.p95),
            b.per_second,
            if a.failures + b.failures > 0 {
                "  (some failed: see stderr)"
            } else {
                ""
            }
        );
    }
}

/// Section 9: the same queries through Datasette's SQL API on the same file.
pub async fn side_by_side(db: &Path, data: &Path, config: &Config, calls: u64, ours: &[Figures]) {
    heading("9. side by side with Datasette (same file, same indexes, SQL JSON API)");
    let started = match crate::datasette::install() {
        Ok(executable) => crate::datasette::Datasette::start(&executable, db, data).await,
        Err(error) => Err(error),
    };
    let datasette = match started {
        Ok(datasette) => datasette,
        Err(error) => {
            println!("SKIPPED: Datasette is not available here: {error}");
            return;
        }
    };
    println!(
        "Datasette {} ({}); ratios above 1 mean udesk-calls is faster",
        datasette.version().await,
        crate::datasette::requirement()
    );
    println!(
        "{:<40} {:>9} {:>9} {:>9} {:>14} {:>14}",
        "query", "p50", "p95", "req/s", "p50 ÷ our p50", "our req/s ÷"
    );
    let name = db.file_stem().unwrap().to_string_lossy().into_owned();
    for (query, ours) in all_queries().iter().zip(ours) {
        let (host, name) = (datasette.host.clone(), name.clone());
        let maker: Maker = Arc::new(move |i| get(&host, &query.datasette(&name, i, calls)));
        let ok = |status: u16, body: &[u8]| status == 200 && body.first() == Some(&b'[');
        let theirs = measure(&datasette.host, maker, ok, config.query).await;
        println!(
            "{:<40} {:>9} {:>9} {:>9.1} {:>13.1}× {:>13.1}×{}",
            query.name,
            ms(theirs.p50),
            ms(theirs.p95),
            theirs.per_second,
            theirs.p50.as_secs_f64() / ours.p50.as_secs_f64(),
            ours.per_second / theirs.per_second.max(1e-9),
            if theirs.failures > 0 {
                "  (some failed: see stderr)"
            } else {
                ""
            }
        );
    }
}
