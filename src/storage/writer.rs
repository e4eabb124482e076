//! The one writer: a thread that owns the writing connection and commits
//! queued pushes together.
//!
//! Requests queue on a channel. The thread takes everything waiting (up to
//! [`MAX_BATCH`]), writes them in one transaction, commits once, and only
//! then answers each request. Concurrent pushes share an fsync, yet every
//! `Ok` still means "on disk".

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::FixedOffset;
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use crate::domain::{AcceptedPush, ConversationId, RejectReason, Rejection, StoredPush};

use super::StoreError;
use super::events::{count_redelivery, insert_event, insert_rejected};
use super::file_checks::OpenedFile;
use super::projection::merge_arrived_push;
use super::purge::{self, PurgeReport, PurgeTarget};
use super::recent_calls::{REMEMBERED_CALLS, RecentCalls};

/// The most requests one transaction commits.
pub const MAX_BATCH: usize = 1024;
/// How often the writer refreshes the query planner's statistics.
const OPTIMIZE_EVERY: Duration = Duration::from_secs(600);
/// Requests that may wait for the writer before senders wait too.
const QUEUE_DEPTH: usize = 8192;

/// What the writer is asked to keep.
#[derive(Debug)]
pub enum Intake {
    /// A push of a call: stored as an event and merged into its call.
    Push(Box<AcceptedPush>),
    /// A refused body, kept in `rejected_pushes` with the status it is
    /// answered with.
    Rejected {
        rejection: Rejection,
        http_status: u16,
    },
}

/// What became of an intake, once durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    Stored {
        conversation_id: ConversationId,
        event_id: i64,
    },
    /// A byte-identical redelivery: counted, not stored again.
    Duplicate {
        conversation_id: ConversationId,
        event_id: i64,
        deliveries: i64,
    },
    /// Kept in `rejected_pushes`.
    Rejected {
        rejected_id: i64,
        reason: RejectReason,
    },
}

enum Request {
    Write {
        intake: Intake,
        reply: oneshot::Sender<Result<WriteOutcome, StoreError>>,
    },
    /// One chunk of a purge, in a transaction of its own between batches.
    Purge {
        target: PurgeTarget,
        reply: oneshot::Sender<Result<PurgeReport, StoreError>>,
    },
    Stop,
}

/// A handle to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Request>,
}

impl Writer {
    /// Starts the writer thread on an open, migrated connection.
    pub fn spawn(
        connection: Connection,
        file: OpenedFile,
        default_offset: FixedOffset,
    ) -> std::io::Result<(Writer, JoinHandle<()>)> {
        let (queue, requests) = mpsc::channel(QUEUE_DEPTH);
        let thread = std::thread::Builder::new()
            .name("db-writer".into())
            .spawn(move || run(connection, file, requests, default_offset))?;
        Ok((Writer { queue }, thread))
    }

    /// Stores an intake; returns once it is committed durably.
    pub async fn write(&self, intake: Intake) -> Result<WriteOutcome, StoreError> {
        self.enqueue(intake).await?.outcome().await
    }

    /// Queues a push and returns without waiting for its commit, so a caller
    /// with many pushes (`import`) keeps their order and still shares commits.
    pub async fn enqueue(&self, intake: Intake) -> Result<PendingWrite, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Request::Write { intake, reply })
            .await
            .map_err(|_| StoreError::ShuttingDown)?;
        Ok(PendingWrite(answer))
    }

    /// Erases up to [`purge::CHUNK`] calls of `target` (and, with the last
    /// chunk, the matching rejected pushes) in one transaction; call again
    /// while a whole chunk was erased.
    pub async fn purge_chunk(&self, target: PurgeTarget) -> Result<PurgeReport, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Request::Purge { target, reply })
            .await
            .map_err(|_| StoreError::ShuttingDown)?;
        answer.await.map_err(|_| StoreError::ShuttingDown)?
    }

    /// Asks the thread to finish what is queued and stop.
    pub async fn stop(&self) {
        let _ = self.queue.send(Request::Stop).await;
    }

    /// False once the thread has ended (stopped, or died): its queue is closed.
    pub fn is_running(&self) -> bool {
        !self.queue.is_closed()
    }

    /// Requests waiting for the thread, not counting the batch it is writing.
    pub fn queue_depth(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }
}

/// A queued push whose commit has not been awaited yet.
pub struct PendingWrite(oneshot::Receiver<Result<WriteOutcome, StoreError>>);

impl PendingWrite {
    pub async fn outcome(self) -> Result<WriteOutcome, StoreError> {
        self.0.await.map_err(|_| StoreError::ShuttingDown)?
    }
}

fn run(
    connection: Connection,
    file: OpenedFile,
    mut requests: mpsc::Receiver<Request>,
    offset: FixedOffset,
) {
    let mut writer = BatchWriter {
        connection,
        file,
        offset,
        recent: RecentCalls::new(REMEMBERED_CALLS),
        optimized_at: Instant::now(),
    };
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut stopping = false;
    while !stopping {
        let Some(first) = requests.blocking_recv() else {
            break;
        };
        let mut next = Some(first);
        let mut purge = None;
        while let Some(request) = next.take() {
            match request {
                Request::Write { intake, reply } => batch.push((intake, reply)),
                Request::Purge { target, reply } => purge = Some((target, reply)),
                Request::Stop => stopping = true,
            }
            if batch.len() < MAX_BATCH && !stopping && purge.is_none() {
                next = requests.try_recv().ok();
            }
        }
        if let Some((target, reply)) = purge {
            // Pushes queued before the purge are committed first.
            writer.commit_batch(&mut batch);
            let _ = reply.send(writer.purge_chunk(&target));
            continue;
        }
        writer.commit_batch(&mut batch);
    }
    writer.checkpoint();
    tracing::debug!("the writer stopped");
}

impl BatchWriter {
    /// Writes and answers the queued pushes, if any.
    fn commit_batch(
        &mut self,
        batch: &mut Vec<(Intake, oneshot::Sender<Result<WriteOutcome, StoreError>>)>,
    ) {
        if batch.is_empty() {
            return;
        }
        let (jobs, replies): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
        let outcomes =
            catch_unwind(AssertUnwindSafe(|| self.write_batch(&jobs))).unwrap_or_else(|panic| {
                let message = panic_message(&panic);
                tracing::error!(%message, "the writer panicked; the batch was rolled back");
                self.recent.forget_all();
                vec![Err(StoreError::Internal(format!("writer panicked: {message}"))); jobs.len()]
            });
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            let _ = reply.send(outcome);
        }
        self.refresh_planner_statistics();
    }

    /// One chunk of a purge; the last one also takes the rejected pushes
    /// and empties the WAL, so what was erased leaves it too.
    fn purge_chunk(&mut self, target: &PurgeTarget) -> Result<PurgeReport, StoreError> {
        let tx = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut report = purge::purge_chunk(&tx, target, purge::CHUNK, false)?;
        let last = report.calls < purge::CHUNK as u64;
        if last {
            report.rejected_pushes = purge::purge_rejected(&tx, target, false)?;
        }
        self.file.still_there()?;
        tx.commit()?;
        // Merged calls the writer remembers may be among those erased.
        self.recent.forget_all();
        if last && let Err(error) = purge::checkpoint_truncate(&self.connection) {
            tracing::warn!(%error, "the WAL was not emptied after a purge");
        }
        Ok(report)
    }
}

/// The writer thread's state: its connection and what it remembers.
struct BatchWriter {
    connection: Connection,
    /// Checked before each commit: a `200` must land in the file at `--db`.
    file: OpenedFile,
    offset: FixedOffset,
    recent: RecentCalls,
    optimized_at: Instant,
}

impl BatchWriter {
    /// A database that grew from empty while serving has no planner
    /// statistics, and its statistics queries pick slow plans; `PRAGMA
    /// optimize` (sampled, see `connection::open_writer`) fixes that, and
    /// costs next to nothing when little has changed.
    fn refresh_planner_statistics(&mut self) {
        if self.optimized_at.elapsed() < OPTIMIZE_EVERY {
            return;
        }
        self.optimized_at = Instant::now();
        if let Err(error) = self.connection.execute_batch("PRAGMA optimize;") {
            tracing::warn!(%error, "refreshing the planner statistics failed");
        }
    }

    /// Moves the whole WAL into the database file and truncates it, so a
    /// stopped service leaves one self-contained file (for copies, `sqlite3`
    /// on a read-only mount, a backup tool that ignores the WAL).
    fn checkpoint(&mut self) {
        // With autocheckpoints off, another program (Litestream) owns the
        // checkpoints; it copies the WAL before it checkpoints it itself.
        let automatic: rusqlite::Result<i64> =
            self.connection
                .query_row("PRAGMA wal_autocheckpoint", [], |row| row.get(0));
        if matches!(automatic, Ok(0)) {
            tracing::debug!("the WAL is left to the program that owns checkpoints");
            return;
        }
        let result = self
            .connection
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                row.get::<_, i64>(0)
            });
        match result {
            Ok(0) => tracing::debug!("the WAL was checkpointed and truncated"),
            Ok(_) => tracing::warn!("the WAL could not be truncated: a reader was still busy"),
            Err(error) => tracing::warn!(%error, "checkpointing the WAL failed"),
        }
    }

    /// Writes a batch in one transaction. Should a push fail on its own
    /// account, the batch is rolled back and each push retried in a
    /// transaction of its own, so it cannot take the others down and none is
    /// half-written. When the database itself cannot take writes (locked,
    /// full, unavailable), every push of the batch is answered at once:
    /// retrying each would only wait out the lock again, push by push.
    fn write_batch(&mut self, jobs: &[Intake]) -> Vec<Result<WriteOutcome, StoreError>> {
        match self.write_together(jobs) {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
            Err(error) if jobs.len() == 1 || !matches!(error, StoreError::Internal(_)) => {
                vec![Err(error); jobs.len()]
            }
            Err(_) => jobs
                .iter()
                .map(|job| {
                    self.write_together(std::slice::from_ref(job))
                        .map(|mut outcome| outcome.remove(0))
                })
                .collect(),
        }
    }

    fn write_together(&mut self, jobs: &[Intake]) -> Result<Vec<WriteOutcome>, StoreError> {
        let result = self.try_write_together(jobs);
        if let Err(error) = &result {
            // What was remembered during the failed transaction was never committed.
            self.recent.forget_all();
            tracing::error!(%error, pushes = jobs.len(), "a transaction failed and was rolled back");
        }
        result
    }

    fn try_write_together(&mut self, jobs: &[Intake]) -> Result<Vec<WriteOutcome>, StoreError> {
        let tx = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let outcomes = jobs
            .iter()
            .map(|job| apply(&tx, job, self.offset, &mut self.recent))
            .collect::<Result<Vec<_>, _>>()?;
        self.file.still_there()?;
        tx.commit()?;
        Ok(outcomes)
    }
}

fn apply(
    tx: &Connection,
    job: &Intake,
    offset: FixedOffset,
    recent: &mut RecentCalls,
) -> Result<WriteOutcome, StoreError> {
    match job {
        Intake::Rejected {
            rejection,
            http_status,
        } => Ok(WriteOutcome::Rejected {
            rejected_id: insert_rejected(tx, rejection, *http_status)?,
            reason: rejection.reason.clone(),
        }),
        Intake::Push(accepted) => {
            if let Some(known) = count_redelivery(tx, accepted)? {
                return Ok(WriteOutcome::Duplicate {
                    conversation_id: known.conversation_id,
                    event_id: known.event_id,
                    deliveries: known.deliveries,
                });
            }
            let event_id = insert_event(tx, accepted)?;
            let arrived = StoredPush {
                event_id,
                received_at: accepted.raw.received_at,
                push: accepted.push.clone(),
            };
            merge_arrived_push(tx, arrived, offset, recent)?;
            Ok(WriteOutcome::Stored {
                conversation_id: accepted.push.conversation_id,
                event_id,
            })
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
