//! The full integrity check, run beside the service instead of before it.
//!
//! `PRAGMA quick_check` reads every page: over a minute on a large file with
//! a cold page cache, during which a service that checked first would answer
//! every push `503`. So the start only makes the cheap checks (the header, the
//! schema, `application_id`, the migrations: see `file_checks`), and this
//! thread reads the whole file afterwards on a connection of its own, once at
//! start and then every [`CHECK_EVERY`]. What it finds is logged, exposed as
//! metrics and turns `/readyz` to `503 corrupt`; pushes are still committed
//! where the file allows it, since refusing them would lose them once Udesk
//! stops retrying.
//!
//! The check reads one snapshot, so the WAL cannot be checkpointed past it
//! while it runs; it is stopped (interrupted) when the store closes.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use rusqlite::{Connection, InterruptHandle};

use super::connection;

/// How often the check runs again after the first.
pub const CHECK_EVERY: Duration = Duration::from_secs(24 * 60 * 60);
/// At most this many problems are reported.
const MOST_PROBLEMS: u32 = 20;

/// What the last finished check found.
#[derive(Clone, Debug, Default)]
pub struct IntegrityReport {
    /// When the last check finished; `None` before the first one has.
    pub finished_at: Option<SystemTime>,
    /// How long it took.
    pub took: Duration,
    /// What it found wrong, as SQLite words it; empty when sound.
    pub problems: Vec<String>,
    /// Why the last check could not run to its end, if it could not.
    pub failed: Option<String>,
}

impl IntegrityReport {
    pub fn is_corrupt(&self) -> bool {
        !self.problems.is_empty()
    }
}

/// The checking thread; stops when told or dropped.
pub struct IntegrityCheck {
    report: Arc<Mutex<IntegrityReport>>,
    interrupt: Arc<Mutex<Interrupt>>,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl IntegrityCheck {
    pub fn spawn(path: PathBuf) -> std::io::Result<IntegrityCheck> {
        let report = Arc::new(Mutex::new(IntegrityReport::default()));
        let interrupt = Arc::new(Mutex::new(Interrupt::Idle));
        let (stop, stopped) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("db-integrity".into())
            .spawn({
                let report = report.clone();
                let interrupt = interrupt.clone();
                move || run(&path, &report, &interrupt, &stopped)
            })?;
        Ok(IntegrityCheck {
            report,
            interrupt,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// A shared view of the last report.
    pub fn reports(&self) -> Arc<Mutex<IntegrityReport>> {
        self.report.clone()
    }

    /// Interrupts a check under way and waits for the thread.
    pub fn stop(&mut self) {
        self.stop.take();
        if let Ok(mut interrupt) = self.interrupt.lock() {
            if let Interrupt::Running(handle) = &*interrupt {
                handle.interrupt();
            }
            *interrupt = Interrupt::Stopped;
        }
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

/// How to stop the check under way, if one is.
enum Interrupt {
    Idle,
    Running(InterruptHandle),
    /// The thread was told to stop: no check starts any more.
    Stopped,
}

fn run(
    path: &Path,
    report: &Mutex<IntegrityReport>,
    interrupt: &Mutex<Interrupt>,
    stopped: &Receiver<()>,
) {
    loop {
        let started = Instant::now();
        let outcome = check(path, interrupt);
        if matches!(
            stopped.try_recv(),
            Err(std::sync::mpsc::TryRecvError::Disconnected)
        ) {
            return;
        }
        let took = started.elapsed();
        let mut next = IntegrityReport {
            finished_at: Some(SystemTime::now()),
            took,
            ..IntegrityReport::default()
        };
        match outcome {
            Ok(problems) if problems.is_empty() => {
                tracing::info!(
                    seconds = took.as_secs_f64(),
                    "the integrity check found the database sound"
                );
            }
            Ok(problems) => {
                tracing::error!(
                    problems = %problems.join("; "),
                    "{} is corrupt; restore it from a backup (see `udesk-calls backup`) or move it aside",
                    path.display()
                );
                next.problems = problems;
            }
            Err(error) => {
                tracing::warn!(%error, "the integrity check could not run to its end");
                next.failed = Some(error.to_string());
            }
        }
        if let Ok(mut shared) = report.lock() {
            // A check that failed to run keeps what the last one found.
            if next.failed.is_some() {
                next.problems = shared.problems.clone();
            }
            *shared = next;
        }
        match stopped.recv_timeout(CHECK_EVERY) {
            Err(RecvTimeoutError::Timeout) => continue,
            _ => return,
        }
    }
}

/// One `quick_check` of the whole file: the problems found, empty if none.
fn check(path: &Path, interrupt: &Mutex<Interrupt>) -> rusqlite::Result<Vec<String>> {
    let mut reader = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection::configure_reader(&mut reader)?;
    match interrupt.lock().as_deref_mut() {
        Ok(Interrupt::Stopped) | Err(_) => {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_INTERRUPT),
                Some("stopped".into()),
            ));
        }
        Ok(state) => *state = Interrupt::Running(reader.get_interrupt_handle()),
    }
    let problems = reader
        .prepare(&format!("PRAGMA quick_check({MOST_PROBLEMS})"))
        .and_then(|mut statement| {
            statement
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
        });
    if let Ok(mut state) = interrupt.lock()
        && matches!(*state, Interrupt::Running(_))
    {
        *state = Interrupt::Idle;
    }
    match problems {
        Ok(problems) if problems.len() == 1 && problems[0] == "ok" => Ok(Vec::new()),
        Ok(problems) => Ok(problems),
        // A page so damaged the check cannot go on is itself the finding.
        Err(error)
            if matches!(
                error.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
            ) =>
        {
            Ok(vec![error.to_string()])
        }
        Err(error) => Err(error),
    }
}
