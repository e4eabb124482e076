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

mod batch;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use chrono::FixedOffset;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot, watch};

use crate::domain::{AcceptedPush, ConversationId, RejectReason, Rejection};

use super::StoreError;
use super::bodies::{Bodies, PreparedBody};
use super::changes::Changes;
use super::file_checks::OpenedFile;
use super::integrity::GiveWay;
use super::jobs::{JobUpdate, PushJob};
use super::purge::{PurgeReport, PurgeTarget};
use super::recent_calls::{REMEMBERED_BYTES, REMEMBERED_CALLS, RecentCalls};
use crate::storage::rollups::RollupChanges;
use batch::{Batch, BatchWriter};

/// The most requests one transaction commits.
pub const MAX_BATCH: usize = 1024;
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

/// An intake as queued: its body already compressed.
#[derive(Debug)]
pub struct Queued {
    pub intake: Intake,
    pub body: PreparedBody,
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
        queued: Queued,
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
    /// Work of the store's upkeep, run between batches on the writer's
    /// connection; it makes its own transaction.
    Upkeep(Box<dyn FnOnce(&mut Connection) + Send>),
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
    /// Bodies are compressed by whoever queues them, not by the thread.
    bodies: Arc<Bodies>,
    /// Changes after each commit that enqueued jobs, to wake their workers.
    jobs_added: watch::Receiver<u64>,
    /// Calls merged again from all their stored pushes (see `RecentCalls`).
    merged_again: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the writer thread on an open, migrated connection.
    pub fn spawn(
        connection: Connection,
        file: OpenedFile,
        default_offset: FixedOffset,
        bodies: Arc<Bodies>,
        changes: Changes,
        give_way: GiveWay,
    ) -> std::io::Result<(Writer, JoinHandle<()>)> {
        let (queue, requests) = mpsc::channel(QUEUE_DEPTH);
        let handle_bodies = bodies.clone();
        let (jobs_added_tx, jobs_added) = watch::channel(0);
        let recent = RecentCalls::new(REMEMBERED_CALLS, REMEMBERED_BYTES);
        let merged_again = recent.merged_again();
        let thread = std::thread::Builder::new()
            .name("db-writer".into())
            .spawn(move || {
                run(
                    BatchWriter {
                        connection,
                        file,
                        offset: default_offset,
                        bodies,
                        recent,
                        pending: Default::default(),
                        numbers_kept: Default::default(),
                        give_way,
                        erased_since_emptied: false,
                        rollups: RollupChanges::new(default_offset.local_minus_utc()),
                        optimized_at: Instant::now(),
                        push_jobs: Vec::new(),
                        jobs_added: jobs_added_tx,
                        changes,
                    },
                    requests,
                )
            })?;
        Ok((
            Writer {
                queue,
                bodies: handle_bodies,
                jobs_added,
                merged_again,
            },
            thread,
        ))
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
        self.enqueue_prepared(self.prepare(intake)).await
    }

    /// Compresses an intake's body for the writer: on the caller's thread,
    /// which may be any (an import prepares on several).
    pub fn prepare(&self, intake: Intake) -> Queued {
        let body = match &intake {
            Intake::Push(accepted) => self
                .bodies
                .prepare(&accepted.raw.body, accepted.push.conversation_id.0),
            Intake::Rejected { .. } => PreparedBody::default(),
        };
        Queued { intake, body }
    }

    /// Queues what [`Writer::prepare`] made; see [`Writer::enqueue`].
    pub async fn enqueue_prepared(&self, queued: Queued) -> Result<PendingWrite, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Request::Write { queued, reply })
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

    /// Runs `work` on the writer's connection between two batches, from a
    /// thread outside the async runtime (the upkeep's); returns its result.
    pub fn upkeep_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(move |conn: &mut Connection| {
            let _ = reply.send(work(conn));
        });
        self.queue
            .blocking_send(Request::Upkeep(job))
            .map_err(|_| StoreError::ShuttingDown)?;
        answer
            .blocking_recv()
            .map_err(|_| StoreError::ShuttingDown)?
    }

    /// Asks the thread to finish what is queued and stop.
    pub async fn stop(&self) {
        let _ = self.queue.send(Request::Stop).await;
    }

    /// False once the thread has ended (stopped, or died): its queue is closed.
    pub fn is_running(&self) -> bool {
        !self.queue.is_closed()
    }

    /// How many calls the thread merged again from all their stored pushes,
    /// not remembering them: after a start, past its memory, or after
    /// another process wrote to them. Its cost grows with the call's history.
    pub fn calls_merged_again(&self) -> u64 {
        self.merged_again.load(Ordering::Relaxed)
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
        let mut upkeep = None;
        while let Some(request) = next.take() {
            match request {
                Request::Write { queued, reply } => batch.pushes.push((queued, reply)),
                Request::Jobs { updates, reply } => batch.job_updates.push((updates, reply)),
                Request::PushJobs { jobs, reply } => push_jobs = Some((jobs, reply)),
                Request::Purge { target, reply } => purge = Some((target, reply)),
                Request::Upkeep(work) => upkeep = Some(work),
                Request::Stop => stopping = true,
            }
            let alone = purge.is_some() || push_jobs.is_some() || upkeep.is_some();
            if batch.len() < MAX_BATCH && !stopping && !alone {
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
        if let Some(work) = upkeep {
            work(&mut writer.connection);
        }
    }
    writer.checkpoint();
    tracing::debug!("the writer stopped");
}
