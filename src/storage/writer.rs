//! The one writer: a thread that owns the writing connection and commits
//! queued pushes together.
//!
//! Requests queue on a channel. The thread takes everything waiting (up to
//! [`MAX_BATCH`]), writes them in one transaction, commits once, and only
//! then answers each request. Concurrent pushes share an fsync, yet every
//! `Ok` still means "on disk". A stored push gets its jobs (see `jobs`) in
//! the same transaction, and the outcomes of jobs' tries are committed with
//! the pushes queued beside them, so the queue's bookkeeping adds no commit
//! of its own while pushes arrive.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, Utc};
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{mpsc, oneshot, watch};

use crate::domain::{AcceptedPush, ConversationId, RejectReason, Rejection, StoredPush};

use super::StoreError;
use super::events::{count_redelivery, insert_event, insert_rejected};
use super::file_checks::OpenedFile;
use super::jobs::{self, JobUpdate, PushJob};
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
    /// Outcomes of jobs' tries, committed with the pushes queued beside them.
    Jobs {
        updates: Vec<JobUpdate>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// The jobs every push stored from now on gets.
    PushJobs {
        jobs: Vec<PushJob>,
        reply: oneshot::Sender<()>,
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
    /// Changes after each commit that enqueued jobs, to wake their workers.
    jobs_added: watch::Receiver<u64>,
}

impl Writer {
    /// Starts the writer thread on an open, migrated connection.
    pub fn spawn(
        connection: Connection,
        file: OpenedFile,
        default_offset: FixedOffset,
    ) -> std::io::Result<(Writer, JoinHandle<()>)> {
        let (queue, requests) = mpsc::channel(QUEUE_DEPTH);
        let (jobs_added_tx, jobs_added) = watch::channel(0);
        let thread = std::thread::Builder::new()
            .name("db-writer".into())
            .spawn(move || {
                run(
                    BatchWriter {
                        connection,
                        file,
                        offset: default_offset,
                        recent: RecentCalls::new(REMEMBERED_CALLS),
                        optimized_at: Instant::now(),
                        push_jobs: Vec::new(),
                        jobs_added: jobs_added_tx,
                    },
                    requests,
                )
            })?;
        Ok((Writer { queue, jobs_added }, thread))
    }

    /// From now on, every stored push gets `jobs` (one per target), in its
    /// own transaction; pushes queued before this call get the earlier ones.
    pub async fn set_push_jobs(&self, jobs: Vec<PushJob>) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Request::PushJobs { jobs, reply })
            .await
            .map_err(|_| StoreError::ShuttingDown)?;
        answer.await.map_err(|_| StoreError::ShuttingDown)
    }

    /// Records the outcomes of jobs' tries; returns once they are committed.
    pub async fn record_jobs(&self, updates: Vec<JobUpdate>) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Request::Jobs { updates, reply })
            .await
            .map_err(|_| StoreError::ShuttingDown)?;
        answer.await.map_err(|_| StoreError::ShuttingDown)?
    }

    /// A receiver that sees a change after each commit that enqueued jobs.
    pub fn jobs_added(&self) -> watch::Receiver<u64> {
        self.jobs_added.clone()
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

type WriteReply = oneshot::Sender<Result<WriteOutcome, StoreError>>;
type JobsReply = oneshot::Sender<Result<(), StoreError>>;

/// What one transaction commits: pushes, and outcomes of jobs' tries.
#[derive(Default)]
struct Batch {
    pushes: Vec<(Intake, WriteReply)>,
    job_updates: Vec<(Vec<JobUpdate>, JobsReply)>,
}

impl Batch {
    fn len(&self) -> usize {
        self.pushes.len() + self.job_updates.len()
    }
}

fn run(mut writer: BatchWriter, mut requests: mpsc::Receiver<Request>) {
    let mut batch = Batch::default();
    let mut stopping = false;
    while !stopping {
        let Some(first) = requests.blocking_recv() else {
            break;
        };
        let mut next = Some(first);
        let mut purge = None;
        let mut push_jobs = None;
        while let Some(request) = next.take() {
            match request {
                Request::Write { intake, reply } => batch.pushes.push((intake, reply)),
                Request::Jobs { updates, reply } => batch.job_updates.push((updates, reply)),
                Request::PushJobs { jobs, reply } => push_jobs = Some((jobs, reply)),
                Request::Purge { target, reply } => purge = Some((target, reply)),
                Request::Stop => stopping = true,
            }
            if batch.len() < MAX_BATCH && !stopping && purge.is_none() && push_jobs.is_none() {
                next = requests.try_recv().ok();
            }
        }
        // What was queued before a purge or a change of jobs is committed first.
        writer.commit_batch(&mut batch);
        if let Some((jobs, reply)) = push_jobs {
            writer.push_jobs = jobs;
            let _ = reply.send(());
        }
        if let Some((target, reply)) = purge {
            let _ = reply.send(writer.purge_chunk(&target));
        }
    }
    writer.checkpoint();
    tracing::debug!("the writer stopped");
}

impl BatchWriter {
    /// Writes and answers what is queued, if anything.
    fn commit_batch(&mut self, batch: &mut Batch) {
        if batch.len() == 0 {
            return;
        }
        let (intakes, replies): (Vec<_>, Vec<_>) = batch.pushes.drain(..).unzip();
        let (updates, update_replies): (Vec<_>, Vec<_>) = batch.job_updates.drain(..).unzip();
        let updates: Vec<JobUpdate> = updates.into_iter().flatten().collect();
        let (outcomes, updated) =
            catch_unwind(AssertUnwindSafe(|| self.write_batch(&intakes, &updates))).unwrap_or_else(
                |panic| {
                    let message = panic_message(&panic);
                    tracing::error!(%message, "the writer panicked; the batch was rolled back");
                    self.recent.forget_all();
                    let error = StoreError::Internal(format!("writer panicked: {message}"));
                    (vec![Err(error.clone()); intakes.len()], Err(error))
                },
            );
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            let _ = reply.send(outcome);
        }
        for reply in update_replies {
            let _ = reply.send(updated.clone());
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
    /// The jobs each stored push gets.
    push_jobs: Vec<PushJob>,
    jobs_added: watch::Sender<u64>,
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
    /// transaction of its own (the jobs' outcomes in one more), so it cannot
    /// take the others down and none is half-written. When the database
    /// itself cannot take writes (locked, full, unavailable), everything in
    /// the batch is answered at once: retrying each would only wait out the
    /// lock again, push by push.
    fn write_batch(
        &mut self,
        intakes: &[Intake],
        updates: &[JobUpdate],
    ) -> (
        Vec<Result<WriteOutcome, StoreError>>,
        Result<(), StoreError>,
    ) {
        let parts = intakes.len() + usize::from(!updates.is_empty());
        match self.write_together(intakes, updates) {
            Ok(outcomes) => (outcomes.into_iter().map(Ok).collect(), Ok(())),
            Err(error) if parts == 1 || !matches!(error, StoreError::Internal(_)) => {
                (vec![Err(error.clone()); intakes.len()], Err(error))
            }
            Err(_) => {
                let outcomes = intakes
                    .iter()
                    .map(|intake| {
                        self.write_together(std::slice::from_ref(intake), &[])
                            .map(|mut outcome| outcome.remove(0))
                    })
                    .collect();
                let updated = if updates.is_empty() {
                    Ok(())
                } else {
                    self.write_together(&[], updates).map(drop)
                };
                (outcomes, updated)
            }
        }
    }

    fn write_together(
        &mut self,
        intakes: &[Intake],
        updates: &[JobUpdate],
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        let result = self.try_write_together(intakes, updates);
        if let Err(error) = &result {
            // What was remembered during the failed transaction was never committed.
            self.recent.forget_all();
            tracing::error!(%error, pushes = intakes.len(), job_updates = updates.len(),
                "a transaction failed and was rolled back");
        }
        result
    }

    fn try_write_together(
        &mut self,
        intakes: &[Intake],
        updates: &[JobUpdate],
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        let now = Utc::now();
        let tx = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut enqueued = false;
        let mut stored = StoredPushes {
            offset: self.offset,
            recent: &mut self.recent,
            push_jobs: &self.push_jobs,
            now,
            enqueued: &mut enqueued,
        };
        let outcomes = intakes
            .iter()
            .map(|intake| stored.apply(&tx, intake))
            .collect::<Result<Vec<_>, _>>()?;
        jobs::record(&tx, updates, now)?;
        self.file.still_there()?;
        tx.commit()?;
        if enqueued {
            self.jobs_added
                .send_modify(|count| *count = count.wrapping_add(1));
        }
        Ok(outcomes)
    }
}

/// What storing a push needs beside its transaction.
struct StoredPushes<'a> {
    offset: FixedOffset,
    recent: &'a mut RecentCalls,
    push_jobs: &'a [PushJob],
    now: DateTime<Utc>,
    /// Set when a push got jobs.
    enqueued: &'a mut bool,
}

impl StoredPushes<'_> {
    fn apply(&mut self, tx: &Connection, intake: &Intake) -> Result<WriteOutcome, StoreError> {
        let outcome = apply(tx, intake, self.offset, self.recent)?;
        // A stored push only: a duplicate was given its jobs when first
        // stored, and a rejected body is no push to pass on.
        if let WriteOutcome::Stored {
            conversation_id,
            event_id,
        } = &outcome
        {
            for job in self.push_jobs {
                jobs::enqueue(
                    tx,
                    job.kind,
                    &job.target,
                    Some(*event_id),
                    Some(conversation_id.0),
                    self.now,
                )?;
                *self.enqueued = true;
            }
        }
        Ok(outcome)
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
