//! What grows with the file, measured on the query database: how soon
//! `serve` is ready from a cold page cache and how long its background
//! integrity check takes, and a customer's purge (time and peak memory).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use udesk_calls::Store;

use crate::dataset::Dataset;
use crate::ingest::{store_options, through_store};
use crate::pushes::{before_origin, call_pushes};
use crate::sections::heading;
use crate::server::{Server, run_measured};

/// A customer none of the generated calls has (they are `1[3-9]…`).
const PURGED_PHONE: &str = "12012345678";
/// Where the purged customer's calls sit among the bench's own ids.
const PURGED_FIRST: u64 = 5_000_000_000;

/// Empties the kernel's page cache (needs root); whether it could.
fn drop_page_cache() -> bool {
    let _ = Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", b"3\n").is_ok()
}

fn cache_word(cold: bool) -> &'static str {
    if cold {
        "cold"
    } else {
        "warm: could not drop it (needs root)"
    }
}

pub async fn figures(dataset: &Dataset, data: &Path) {
    let cold = drop_page_cache();
    let began = Instant::now();
    let server = Server::start(&dataset.path, data).await;
    let ready = began.elapsed();
    let check = integrity_check_seconds(&server.host).await;
    server.stop();
    heading("11. start: launch to /readyz 200, then the background integrity check");
    println!(
        "{:>10.2} s to ready   (page cache {}; {} calls)",
        ready.as_secs_f64(),
        cache_word(cold),
        dataset.calls
    );
    match check {
        Some(seconds) => {
            println!("{seconds:>10.1} s for the whole-file quick_check, beside the service")
        }
        None => println!("           the integrity check did not finish within 30 minutes"),
    }

    dataset.mark_dirty();
    let store = Store::open(&store_options(&dataset.path)).expect("the store opens");
    let calls = (0..3).flat_map(|i| {
        call_pushes(PURGED_FIRST + i, before_origin(i)).map(|push| {
            let mut push: serde_json::Value = serde_json::from_slice(&push).unwrap();
            push["customer_phone"] = serde_json::json!(PURGED_PHONE);
            serde_json::to_vec(&push).unwrap()
        })
    });
    through_store(&store, calls).await;
    store.close().await;
    let cold = drop_page_cache();
    let run = run_measured(
        Command::new(env!("CARGO_BIN_EXE_udesk-calls"))
            .args(["purge", "--customer-phone", PURGED_PHONE, "--db"])
            .arg(&dataset.path)
            .env_remove("RUST_LOG"),
    );
    assert!(run.success, "the purge failed: {}", run.stderr);
    dataset.clean().await;
    heading("12. a customer's purge (3 calls among all, release binary, service stopped)");
    println!(
        "{:>10.2} s   peak RSS {:.1} MiB   (page cache {}; {} calls)",
        run.seconds,
        run.peak_rss as f64 / 1048576.0,
        cache_word(cold),
        dataset.calls
    );
}

/// How long `serve`'s first integrity check took, from its metric, once it
/// has finished (at most 30 minutes from now).
pub async fn integrity_check_seconds(host: &str) -> Option<f64> {
    let deadline = Instant::now() + Duration::from_secs(1800);
    let request = crate::http::get(host, "/metrics");
    while Instant::now() < deadline {
        let Ok(mut conn) = crate::http::Conn::open(host).await else {
            return None;
        };
        let Ok((_, body)) = conn.send(&request).await else {
            return None;
        };
        let text = String::from_utf8_lossy(&body).into_owned();
        let value = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().parse::<f64>().ok())
        };
        if value("udesk_calls_integrity_checked_timestamp_seconds ").is_some_and(|at| at > 0.0) {
            return value("udesk_calls_integrity_check_duration_seconds ");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    None
}
