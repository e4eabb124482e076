//! The full integrity check, run beside the service instead of before it.
//!
//! `PRAGMA quick_check` reads every page: over a minute on a large file with
//! a cold page cache, during which a service that checked first would answer
//! every push `503`. So the start only makes the cheap checks (the header, the
//! schema, `application_id`, the migrations: see `file_checks`), and `serve`
//! has this thread read the whole file afterwards on a connection of its
//! own, once at start and then every [`CHECK_EVERY`]. What it finds is
//! logged, exposed as metrics and turns `/readyz` to `503 corrupt`.
//!
//! The check reads one snapshot, so while it runs the WAL cannot be emptied:
//! a purge, which must empty it, asks it to give way ([`GiveWay`]) and the
//! check starts again later. It also stops when the store closes.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use rusqlite::Connection;

use super::{connection, file_checks};

/// How often the check runs again after the first.
pub const CHECK_EVERY: Duration = Duration::from_secs(24 * 60 * 60);
/// How soon a check that gave way, or could not run, is tried again.
const AGAIN_AFTER: Duration = Duration::from_secs(10 * 60);
/// At most this many problems are reported.
const MOST_PROBLEMS: u32 = 20;
/// SQLite virtual-machine steps between two looks at the stop flags.
const STEPS_BETWEEN_LOOKS: i32 = 10_000;
/// The check works this long, then rests as long: on two cores it takes
/// at most half of one, so pushes and queries keep the rest (measured on a
/// million calls: unthrottled, it halved ingest while it ran).
const WORK_SLICE: Duration = Duration::from_millis(20);
/// Its page cache, in KiB: every page is read once, so a large cache
/// would only hold memory.
const CACHE_KIB: i64 = 2048;

/// What the last finished check found.
#[derive(Clone, Debug, Default)]
pub struct IntegrityReport {
    /// When the last check ran to its end; `None` before one has.
    pub finished_at: Option<SystemTime>,
    /// How long it took.
    pub took: Duration,
    /// What it found wrong, as SQLite words it; empty when sound.
    pub problems: Vec<String>,
    /// Why the latest attempt could not run to its end, if it could not.
    pub failed: Option<String>,
}

impl IntegrityReport {
    pub fn is_corrupt(&self) -> bool {
        !self.problems.is_empty()
    }
}

/// A request to the check under way to let go of its snapshot now.
#[derive(Clone, Debug, Default)]
pub struct GiveWay(Arc<AtomicBool>);

impl GiveWay {
    pub fn ask(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// The checking thread; stops when told or dropped.
pub struct IntegrityCheck {
    stopping: Arc<AtomicBool>,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl IntegrityCheck {
    /// Starts checking `path`, reporting into `report`.
    pub fn spawn(
        path: PathBuf,
        report: Arc<Mutex<IntegrityReport>>,
        give_way: GiveWay,
    ) -> std::io::Result<IntegrityCheck> {
        let stopping = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("db-integrity".into())
            .spawn({
                let stopping = stopping.clone();
                move || run(&path, &report, &stopping, &give_way, &stopped)
            })?;
        Ok(IntegrityCheck {
            stopping,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Interrupts a check under way and waits for the thread.
    pub fn stop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for IntegrityCheck {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How one attempt ended.
enum Attempt {
    Finished(Vec<String>),
    GaveWay,
    Stopped,
    Failed(String),
}

fn run(
    path: &Path,
    report: &Mutex<IntegrityReport>,
    stopping: &Arc<AtomicBool>,
    give_way: &GiveWay,
    stopped: &Receiver<()>,
) {
    loop {
        let started = Instant::now();
        let rest = match check(path, stopping, give_way) {
            Attempt::Stopped => return,
            Attempt::GaveWay => {
                tracing::debug!("the integrity check gave way to a purge; it runs again later");
                AGAIN_AFTER
            }
            Attempt::Failed(error) => {
                tracing::warn!(%error, "the integrity check could not run to its end; it tries again later");
                if let Ok(mut shared) = report.lock() {
                    shared.failed = Some(error);
                }
                AGAIN_AFTER
            }
            Attempt::Finished(problems) => {
                let took = started.elapsed();
                if problems.is_empty() {
                    tracing::info!(
                        seconds = took.as_secs_f64(),
                        "the integrity check found the database sound"
                    );
                } else {
                    tracing::error!(
                        problems = %problems.join("; "),
                        "{} is corrupt; restore it from a backup (see `udesk-calls backup`) or move it aside",
                        path.display()
                    );
                }
                if let Ok(mut shared) = report.lock() {
                    *shared = IntegrityReport {
                        finished_at: Some(SystemTime::now()),
                        took,
                        problems,
                        failed: None,
                    };
                }
                CHECK_EVERY
            }
        };
        match stopped.recv_timeout(rest) {
            Err(RecvTimeoutError::Timeout) => continue,
            _ => return,
        }
    }
}

/// One `quick_check` of the whole file, on a connection of its own that
/// looks at the stop flags every few thousand steps.
fn check(path: &Path, stopping: &Arc<AtomicBool>, give_way: &GiveWay) -> Attempt {
    // Asked before this attempt began: nothing of it to let go of.
    give_way.0.store(false, Ordering::SeqCst);
    if let Err(error) = file_checks::shared_memory_writable(path) {
        return Attempt::Failed(error.to_string());
    }
    match quick_check(path, stopping, give_way) {
        _ if stopping.load(Ordering::SeqCst) => Attempt::Stopped,
        Err(error)
            if error.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted) =>
        {
            Attempt::GaveWay
        }
        Ok(problems) if problems.len() == 1 && problems[0] == "ok" => Attempt::Finished(Vec::new()),
        // A row may hold several problems, a line each.
        Ok(problems) => Attempt::Finished(
            problems
                .iter()
                .flat_map(|row| row.lines())
                .map(str::to_owned)
                .collect(),
        ),
        // A page so damaged the check cannot go on is itself the finding.
        Err(error)
            if matches!(
                error.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
            ) =>
        {
            Attempt::Finished(vec![error.to_string()])
        }
        Err(error) => Attempt::Failed(error.to_string()),
    }
}

fn quick_check(
    path: &Path,
    stopping: &Arc<AtomicBool>,
    give_way: &GiveWay,
) -> rusqlite::Result<Vec<String>> {
    let mut reader = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection::configure_reader(&mut reader)?;
    reader.execute_batch(&format!("PRAGMA cache_size = -{CACHE_KIB};"))?;
    let (stopping, give_way) = (stopping.clone(), give_way.0.clone());
    let mut slice_began = Instant::now();
    reader.progress_handler(
        STEPS_BETWEEN_LOOKS,
        Some(move || {
            if slice_began.elapsed() >= WORK_SLICE {
                std::thread::sleep(WORK_SLICE);
                slice_began = Instant::now();
            }
            stopping.load(Ordering::SeqCst) || give_way.load(Ordering::SeqCst)
        }),
    )?;
    let mut statement = reader.prepare(&format!("PRAGMA quick_check({MOST_PROBLEMS})"))?;
    let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
    rows.collect()
}
