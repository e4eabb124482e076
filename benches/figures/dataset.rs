//! The cached databases: built once through the real pipeline (`Store` and
//! its writer, five pushes a call), kept under `<target>/bench-data/`, keyed
//! by their size, the push generator's version and the migrations (a new
//! schema means a new file, never a stale one).
//!
//! The bench adds calls to a cached database on purpose (ingest beside
//! queries, ingest on a large database). They start before the cached
//! calls' first day and are erased afterwards through the store's own
//! purge; a marker file says a run is in between, so an interrupted run is
//! cleaned up by the next one.

use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};
use udesk_calls::Store;
use udesk_calls::storage::purge::{CHUNK, PurgeTarget};

use crate::ingest::{build_through_store, store_options};
use crate::pushes::{GENERATOR_VERSION, call_pushes, origin, start_of};

/// `BENCH_DATA` when set (a folder that outlives `target/`, for a 10M-call
/// build of hours), else `<target>/bench-data/`.
pub fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BENCH_DATA").filter(|dir| !dir.is_empty()) {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("bench-data")
}

/// A short digest of every migration, so a changed schema gets new files.
fn schema_key() -> String {
    let mut files = Vec::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for dir in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            files.push(file.path());
        }
    }
    files.sort();
    let mut hash = Sha256::new();
    for file in files {
        hash.update(
            file.strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .as_bytes(),
        );
        hash.update(std::fs::read(&file).unwrap_or_default());
    }
    hash.finalize()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a call costs on disk with these pushes (measured: 3,973 bytes in
/// the file, later pushes kept as deltas), with room for the WAL, the
/// first pushes stored as received and the calls the bench adds and erases.
const BYTES_PER_CALL_NEEDED: u64 = 5_000;

/// Stops before a build that would fill the disk (other work shares it).
fn check_space(data: &Path, calls: u64, built: &Path) {
    // What an unfinished build holds already is counted as spent.
    let present = std::fs::metadata(built).map_or(0, |m| m.len());
    let needed = (calls * BYTES_PER_CALL_NEEDED).saturating_sub(present);
    if let Ok(fs) = rustix::fs::statvfs(data) {
        let free = fs.f_bavail * fs.f_frsize;
        if free < needed {
            eprintln!(
                "a database of {calls} calls needs about {:.1} GiB under {}, and only {:.1} GiB are free; \
                 set BENCH_CALLS / BENCH_LARGE_CALLS lower or free some space",
                needed as f64 / (1u64 << 30) as f64,
                data.display(),
                free as f64 / (1u64 << 30) as f64
            );
            std::process::exit(2);
        }
    }
}

/// Takes over a database of the same calls built under an earlier schema
/// (finished or not), as an upgrade would: renamed to `path` and migrated
/// by opening it. A 10M-call build takes hours; a migration, seconds.
fn adopt_earlier_schema(data: &Path, calls: u64, path: &Path, ready: &Path) {
    let prefix = format!("calls-{calls}-g{GENERATOR_VERSION}-s");
    let Some(earlier) = std::fs::read_dir(data)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|file| {
            let name = file.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(".db")
        })
        .max_by_key(|file| std::fs::metadata(file).map_or(0, |m| m.len()))
    else {
        return;
    };
    eprintln!(
        "taking over {} (an earlier schema) as {}",
        earlier.display(),
        path.display()
    );
    for suffix in ["-wal", "-shm"] {
        let from = format!("{}{suffix}", earlier.display());
        if Path::new(&from).exists() {
            std::fs::rename(&from, format!("{}{suffix}", path.display())).unwrap();
        }
    }
    std::fs::rename(&earlier, path).unwrap();
    let earlier_ready = earlier.with_extension("ready");
    if earlier_ready.exists() {
        std::fs::rename(&earlier_ready, ready).unwrap();
    }
}

/// How many calls an earlier, unfinished build left in `path` (0 if none).
fn calls_present(path: &Path) -> u64 {
    if !path.exists() {
        return 0;
    }
    let conn = rusqlite::Connection::open(path).expect("the unfinished build opens");
    conn.query_row("SELECT count(*) FROM calls", [], |row| row.get::<_, i64>(0))
        .map_or(0, |n| n as u64)
}

pub struct Dataset {
    pub path: PathBuf,
    pub calls: u64,
    /// File size (after a checkpoint) over calls, measured when built.
    pub bytes_per_call: f64,
    dirty: PathBuf,
}

/// The cached database of `calls` calls, built first if missing.
pub async fn ensure(data: &Path, calls: u64) -> Dataset {
    let name = format!("calls-{calls}-g{GENERATOR_VERSION}-s{}", schema_key());
    let path = data.join(format!("{name}.db"));
    let ready = data.join(format!("{name}.ready"));
    let dirty = data.join(format!("{name}.dirty"));
    if !ready.exists() && !path.exists() {
        adopt_earlier_schema(data, calls, &path, &ready);
    }
    if !ready.exists() {
        check_space(data, calls, &path);
        // A build cut short (a 10M-call one takes hours) goes on where it
        // stopped: calls are written in order, so all before the last one
        // present are whole, and the last one's pushes sent again are
        // duplicates the store keeps once.
        let first = calls_present(&path).saturating_sub(1);
        eprintln!(
            "building {} ({calls} calls, 5 pushes each, from call {first}; cached for later runs)",
            path.display()
        );
        let store = Store::open(&store_options(&path)).expect("the store opens");
        let began = Instant::now();
        let bodies = (first..calls).flat_map(move |n| {
            if n > 0 && n.is_multiple_of(100_000) {
                eprintln!("  {n} calls in {:.0?}", began.elapsed());
            }
            call_pushes(n, start_of(n, calls))
        });
        let pushes = build_through_store(&store, bodies).await;
        store.close().await;
        eprintln!(
            "built: {pushes} pushes in {:.0?} ({:.0}/s)",
            began.elapsed(),
            pushes as f64 / began.elapsed().as_secs_f64()
        );
        let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
        std::fs::write(&ready, format!("{}\n", bytes as f64 / calls as f64)).unwrap();
        let _ = std::fs::remove_file(&dirty);
    }
    let bytes_per_call = std::fs::read_to_string(&ready)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0.0);
    let dataset = Dataset {
        path,
        calls,
        bytes_per_call,
        dirty,
    };
    if dataset.dirty.exists() {
        eprintln!(
            "an earlier run left its own calls in {}: erasing them",
            dataset.path.display()
        );
        dataset.clean().await;
    }
    dataset
}

impl Dataset {
    /// Says the bench is about to add its own calls.
    pub fn mark_dirty(&self) {
        std::fs::write(&self.dirty, b"").unwrap();
    }

    /// Erases every call that started before the cached calls' first day
    /// (the bench's own), through the store's purge, a chunk at a time.
    pub async fn clean(&self) {
        let began = Instant::now();
        let store = Store::open(&store_options(&self.path)).expect("the store opens");
        let mut erased = 0;
        loop {
            let report = store
                .writer()
                .purge_chunk(PurgeTarget::StartedBefore(origin()))
                .await
                .expect("the purge");
            erased += report.calls;
            if report.calls < CHUNK as u64 {
                break;
            }
        }
        store.close().await;
        let _ = std::fs::remove_file(&self.dirty);
        eprintln!(
            "erased the bench's {erased} added calls in {:.0?}",
            began.elapsed()
        );
    }
}
