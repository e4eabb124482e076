//! Storage: the only module that touches SQLite.
//!
//! One database file in WAL mode. Writes go through the single [`Writer`]
//! thread (group commit); reads use a pool of `query_only` connections, run
//! on tokio's blocking threads, and are offered as typed methods of [`Store`]
//! (`read/`). Schema lives in numbered migrations under `migrations/`,
//! embedded in the binary.
//!
//! - Writing: [`writer`] (the thread and its queue), [`events`] (pushes,
//!   warnings, rejected bodies), [`projection`] (the merged call), written
//!   through [`call_rows`] and [`collection_rows`], each table's columns
//!   listed once.
//! - Reading: [`read`], the API's queries.
//! - [`changes`]: which calls each commit changed, for live updates.
//! - [`jobs`]: the durable job queue (forwarding runs on it), enqueued by
//!   the writer with each stored push.
//! - [`bodies`]: how a push's bytes are kept (zstd with a trained
//!   dictionary, a call's later pushes as deltas of its earlier ones) and
//!   read back; [`raw_pushes`] prints them for `udesk-calls pushes`.
//! - [`connection`] (PRAGMAs, migrations), [`reprocess`], [`backup`] (an
//!   online copy), [`progress`] (how far those two are), [`sql`] (value
//!   conversions).

mod abandoned;
pub mod archived_copies;
pub mod backup;
pub mod bodies;
pub mod call_rows;
pub mod changes;
pub mod collection_rows;
pub mod connection;
pub mod events;
pub mod export;
pub mod file_checks;
pub mod integrity;
pub mod jobs;
pub mod progress;
pub mod projection;
pub mod purge;
pub mod raw_pushes;
pub mod read;
pub mod recent_calls;
pub mod recordings;
pub mod reprocess;
pub mod rollups;
pub mod sql;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use chrono::FixedOffset;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;

pub use connection::DEFAULT_WAL_AUTOCHECKPOINT;
pub use events::CallEvent;
pub use progress::Progress;
pub use writer::{Intake, WriteOutcome, Writer};

/// A storage failure. The webhook answers every one of them with 503, so the
/// sender retries; GraphQL reports them as `INTERNAL`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("the database or its disk is full")]
    Full,
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("the store is shutting down")]
    ShuttingDown,
    #[error("storage error: {0}")]
    Internal(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::*;
        match error.sqlite_error_code() {
            Some(DiskFull) => StoreError::Full,
            Some(
                DatabaseBusy
                | DatabaseLocked
                | SystemIoFailure
                | CannotOpen
                | ReadOnly
                | DatabaseCorrupt
                | NotADatabase
                | OutOfMemory
                | FileLockingProtocolFailed,
            ) => StoreError::Unavailable(error.to_string()),
            _ => StoreError::Internal(error.to_string()),
        }
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(error: r2d2::Error) -> Self {
        StoreError::Unavailable(error.to_string())
    }
}

type ReadPool = r2d2::Pool<SqliteConnectionManager>;

/// How to open a store.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub path: PathBuf,
    /// Offset for times that carry none (see the `--default-utc-offset` flag).
    pub default_offset: FixedOffset,
    pub readers: u32,
    /// WAL pages after which the writer checkpoints; 0 leaves checkpoints to
    /// another program (see the `--wal-autocheckpoint` flag).
    pub wal_autocheckpoint: u32,
    /// Pushes stored as received before a dictionary is trained to
    /// compress them ([`bodies::TRAIN_AFTER`]; lower in tests).
    pub train_dictionary_after: usize,
}

/// An open database: the writer and the reader pool.
pub struct Store {
    writer: Writer,
    readers: ReadPool,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    path: PathBuf,
    /// Set as `close` begins, before the writer drains: from then on the
    /// store no longer counts as taking pushes.
    closing: AtomicBool,
    /// The jobs every stored push gets, as last given to the writer.
    push_jobs: RwLock<Vec<jobs::PushJob>>,
    /// Which calls each commit changed (see `changes`).
    changes: changes::Changes,
    /// The database's dictionaries, shared by the writer and the readers.
    bodies: Arc<bodies::Bodies>,
    /// Trains dictionaries and compresses what is stored as received.
    compactor: Mutex<Option<bodies::compactor::Compactor>>,
    /// The full integrity check, beside the service (see `integrity`).
    integrity: Mutex<Option<integrity::IntegrityCheck>>,
    integrity_report: Arc<Mutex<integrity::IntegrityReport>>,
    /// Asks the integrity check to let go of its snapshot (for a purge).
    give_way: integrity::GiveWay,
}

impl Store {
    /// Opens (creating and migrating) the database and starts the writer.
    pub fn open(options: &StoreOptions) -> Result<Store, StoreError> {
        let mut connection = connection::open_writer(&options.path, options.wal_autocheckpoint)?;
        let offset_seconds = options.default_offset.local_minus_utc();
        if rollups::rebuild::ensure(&mut connection, offset_seconds)? {
            tracing::info!(
                offset_seconds,
                "counted the statistics' rollups from the calls"
            );
        }
        let file = file_checks::OpenedFile::of(&options.path)?;
        let changes = changes::Changes::default();
        let bodies = Arc::new(bodies::Bodies::load(&connection)?);
        let give_way = integrity::GiveWay::default();
        let (writer, thread) = Writer::spawn(
            connection,
            file,
            options.default_offset,
            bodies.clone(),
            changes.clone(),
            give_way.clone(),
        )
        .map_err(|e| StoreError::Unavailable(format!("starting the writer: {e}")))?;
        let compactor = bodies::compactor::Compactor::spawn(
            options.path.clone(),
            bodies.clone(),
            writer.clone(),
            options.train_dictionary_after,
        )
        .map_err(|e| StoreError::Unavailable(format!("starting the upkeep: {e}")))?;
        let manager =
            SqliteConnectionManager::file(&options.path).with_init(connection::configure_reader);
        let readers = r2d2::Pool::builder()
            .max_size(options.readers.max(1))
            .min_idle(Some(1))
            .build(manager)?;
        Ok(Store {
            writer,
            readers,
            writer_thread: Mutex::new(Some(thread)),
            path: options.path.clone(),
            closing: AtomicBool::new(false),
            push_jobs: RwLock::default(),
            changes,
            bodies,
            compactor: Mutex::new(Some(compactor)),
            integrity: Mutex::new(None),
            integrity_report: Arc::default(),
            give_way,
        })
    }

    /// True while the writer thread runs and the store is not closing: a
    /// push sent now would be committed.
    pub fn takes_writes(&self) -> bool {
        !self.closing.load(Ordering::SeqCst) && self.writer.is_running()
    }

    /// Starts the full integrity check beside the service (`serve` does;
    /// the other commands, short-lived, do not). Once is enough.
    pub fn check_integrity_in_background(&self) -> Result<(), StoreError> {
        let mut integrity = self
            .integrity
            .lock()
            .map_err(|_| StoreError::Internal("the integrity check's lock is poisoned".into()))?;
        if integrity.is_none() {
            *integrity = Some(
                integrity::IntegrityCheck::spawn(
                    self.path.clone(),
                    self.integrity_report.clone(),
                    self.give_way.clone(),
                )
                .map_err(|e| {
                    StoreError::Unavailable(format!("starting the integrity check: {e}"))
                })?,
            );
        }
        Ok(())
    }

    /// What the last full integrity check found.
    pub fn integrity(&self) -> integrity::IntegrityReport {
        self.integrity_report
            .lock()
            .map(|report| report.clone())
            .unwrap_or_default()
    }

    /// The size of the database file and its WAL, in bytes. A missing WAL
    /// (after a checkpoint on close) counts as empty.
    pub fn database_bytes(&self) -> u64 {
        let size = |path: &Path| std::fs::metadata(path).map_or(0, |meta| meta.len());
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        size(&self.path) + size(Path::new(&wal))
    }

    /// A receiver of the calls each commit from now on changed.
    pub fn changes(&self) -> tokio::sync::broadcast::Receiver<changes::ChangedCalls> {
        self.changes.subscribe()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Runs blocking read work on a pooled connection, off the async runtime,
    /// inside a `store_read` span (so a trace shows each request's reads). A
    /// panic in `work` is raised again in the caller. Should the caller stop
    /// waiting, the read is interrupted (see `abandoned`).
    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        file_checks::shared_memory_writable(&self.path)?;
        let span = tracing::debug_span!("store_read");
        let readers = self.readers.clone();
        let (caller, reader) = abandoned::pair();
        let task = tokio::task::spawn_blocking(move || {
            span.in_scope(|| reader.run(&*readers.get()?, work))
        });
        let finished = task.await;
        caller.finished();
        match finished {
            Ok(result) => result,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(error) => Err(StoreError::Internal(error.to_string())),
        }
    }

    /// Commits what is queued, stops the writer (which checkpoints the WAL
    /// into the database file) and waits for it.
    pub async fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        let integrity = self.integrity.lock().ok().and_then(|mut c| c.take());
        if let Some(mut integrity) = integrity {
            let _ = tokio::task::spawn_blocking(move || integrity.stop()).await;
        }
        let compactor = self.compactor.lock().ok().and_then(|mut c| c.take());
        if let Some(mut compactor) = compactor {
            // It may be waiting for the writer: stopped first, off the runtime.
            let _ = tokio::task::spawn_blocking(move || compactor.stop()).await;
        }
        self.writer.stop().await;
        let thread = self
            .writer_thread
            .lock()
            .map(|mut t| t.take())
            .ok()
            .flatten();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}
