//! The machine the figures come from, and the disk's own ceiling: how many
//! one-row SQLite transactions per second it makes durable.
//!
//! A push is answered only once its transaction is on disk, so with one
//! sender the ingest rate cannot pass this; many senders get past it only by
//! sharing commits (the writer's group commit).

use std::path::Path;
use std::time::{Duration, Instant};

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The mount holding `dir` (the longest mount point that prefixes it):
/// device and filesystem type.
fn mount_of(dir: &Path) -> (String, String) {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mut best = (0, String::from("?"), String::from("?"));
    for line in read("/proc/mounts").lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let [device, point, kind, ..] = fields[..]
            && dir.starts_with(point)
            && point.len() >= best.0
        {
            best = (point.len(), device.to_string(), kind.to_string());
        }
    }
    (best.1, best.2)
}

/// Whether the block device is rotational (a spinning disk), if known.
fn disk_kind(device: &str) -> &'static str {
    let name = device.trim_start_matches("/dev/");
    // A partition's queue is its disk's: vda1 → vda, nvme0n1p1 → nvme0n1.
    let disk = if name.starts_with("nvme") {
        name.split('p').next().unwrap_or(name).to_string()
    } else {
        name.trim_end_matches(|c: char| c.is_ascii_digit())
            .to_string()
    };
    match read(&format!("/sys/block/{disk}/queue/rotational")).trim() {
        "0" => "reported non-rotational",
        "1" => "reported rotational (virtual disks often say so)",
        _ => "kind unknown",
    }
}

pub fn describe(data: &Path) {
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map_or("unknown", |rest| rest.trim_start_matches([' ', '\t', ':']));
    let memory = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0.0, |kb| kb as f64 / 1024.0 / 1024.0);
    let (device, fs) = mount_of(data);
    println!("== machine");
    println!(
        "cores {}   CPU {model}   memory {memory:.1} GiB   kernel {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        read("/proc/sys/kernel/osrelease").trim()
    );
    println!(
        "data dir {} on {device} ({fs}, {})",
        data.display(),
        disk_kind(&device)
    );
    println!(
        "load average at start: {} (other work on the machine lowers every figure)",
        read("/proc/loadavg")
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!();
}

/// One-row transactions with `synchronous=FULL` in WAL mode (as the
/// service writes), in `dir`, for `duration`; answers commits per second.
pub fn fsync_rate(dir: &Path, duration: Duration) -> f64 {
    let path = dir.join("fsync.db");
    let conn = rusqlite::Connection::open(&path).expect("a scratch database");
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
         CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);",
    )
    .expect("the scratch table");
    let row = vec![7u8; 2048];
    let started = Instant::now();
    let mut commits = 0u64;
    while started.elapsed() < duration {
        conn.execute("INSERT INTO t (v) VALUES (?1)", [&row])
            .expect("a commit");
        commits += 1;
    }
    let rate = commits as f64 / started.elapsed().as_secs_f64();
    drop(conn);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    rate
}
