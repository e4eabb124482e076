//! The writer thread's side: one transaction for what was queued together
//! (pushes, their jobs, outcomes of jobs' tries), a purge's chunk, and the
//! upkeep between them (planner statistics, the closing checkpoint).

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, Utc};
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{oneshot, watch};

use crate::domain::{MAX_PUSHES_PER_CALL, RejectReason, Rejection, StoredPush};
use crate::storage::StoreError;
use crate::storage::bodies::Bodies;
use crate::storage::bodies::chains::StoredAs;
use crate::storage::changes::Changes;
use crate::storage::events::{Seen, count_redelivery, insert_event, insert_rejected, stored_base};
use crate::storage::file_checks::OpenedFile;
use crate::storage::integrity::GiveWay;
use crate::storage::jobs::{self, JobKind, JobUpdate, PushJob};
use crate::storage::projection::{PendingCalls, merge_arrived_push, pushes_held, write_pending};
use crate::storage::purge::{self, PurgeReport, PurgeTarget};
use crate::storage::recent_calls::RecentCalls;
use crate::storage::recordings;
use crate::storage::rollups::RollupChanges;

use super::{Intake, Queued, WriteOutcome};

/// How often the writer refreshes the query planner's statistics.
const OPTIMIZE_EVERY: Duration = Duration::from_secs(600);

pub(super) type WriteReply = oneshot::Sender<Result<WriteOutcome, StoreError>>;
pub(super) type JobsReply = oneshot::Sender<Result<(), StoreError>>;

/// What one transaction commits: pushes, and outcomes of jobs' tries.
#[derive(Default)]
pub(super) struct Batch {
    pub(super) pushes: Vec<(Queued, WriteReply)>,
    pub(super) job_updates: Vec<(Vec<JobUpdate>, JobsReply)>,
}

impl Batch {
    pub(super) fn len(&self) -> usize {
        self.pushes.len() + self.job_updates.len()
    }
}

impl BatchWriter {
    /// Writes and answers what is queued, if anything.
    pub(super) fn commit_batch(&mut self, batch: &mut Batch) {
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
                    self.rollups.discard();
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
    pub(super) fn purge_chunk(&mut self, target: &PurgeTarget) -> Result<PurgeReport, StoreError> {
        self.file.still_there()?;
        let tx = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut report = purge::purge_chunk(&tx, &self.bodies, target, purge::CHUNK, false)?;
        let last = report.calls < purge::CHUNK as u64;
        if last {
            report.rejected_pushes = purge::purge_rejected(&tx, target, false)?;
        }
        self.file.still_there()?;
        tx.commit()?;
        // Merged calls the writer remembers may be among those erased.
        self.recent.forget_all();
        self.bodies.bases.forget_all();
        self.erased_since_emptied |= report.calls > 0 || report.rejected_pushes > 0;
        // Only what was erased needs emptying out of the WAL.
        if last && self.erased_since_emptied {
            self.give_way.ask();
            match purge::checkpoint_truncate(&self.connection) {
                Ok(()) => self.erased_since_emptied = false,
                Err(error) => tracing::warn!(%error, "the WAL was not emptied after a purge"),
            }
        }
        Ok(report)
    }
}

/// The writer thread's state: its connection and what it remembers.
pub(super) struct BatchWriter {
    pub(super) connection: Connection,
    /// Checked before each commit: a `200` must land in the file at `--db`.
    pub(super) file: OpenedFile,
    pub(super) offset: FixedOffset,
    /// How bodies are compressed.
    pub(super) bodies: Arc<Bodies>,
    pub(super) recent: RecentCalls,
    /// The calls merged in the transaction being written.
    pub(super) pending: PendingCalls,
    /// The numbers of calls kept in the transaction being written.
    pub(super) numbers_kept: HashSet<(i64, String)>,
    /// Asked before a purge empties the WAL, which the integrity check's
    /// snapshot would hold up.
    pub(super) give_way: GiveWay,
    /// Whether a purge erased anything since the WAL was last emptied.
    pub(super) erased_since_emptied: bool,
    /// The rollups' changes of the transaction being written.
    pub(super) rollups: RollupChanges,
    pub(super) optimized_at: Instant,
    /// The jobs each stored push gets.
    pub(super) push_jobs: Vec<PushJob>,
    pub(super) jobs_added: watch::Sender<u64>,
    /// Told which calls each commit changed (live updates).
    pub(super) changes: Changes,
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
    pub(super) fn checkpoint(&mut self) {
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
        intakes: &[Queued],
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
        intakes: &[Queued],
        updates: &[JobUpdate],
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        let result = self.try_write_together(intakes, updates);
        if let Err(error) = &result {
            // What was remembered during the failed transaction was never committed.
            self.recent.forget_all();
            self.rollups.discard();
            tracing::error!(%error, pushes = intakes.len(), job_updates = updates.len(),
                "a transaction failed and was rolled back");
        }
        result
    }

    fn try_write_together(
        &mut self,
        intakes: &[Queued],
        updates: &[JobUpdate],
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        let now = Utc::now();
        self.file.still_there()?;
        self.pending.clear();
        self.numbers_kept.clear();
        let tx = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut enqueued = false;
        let mut stored = StoredPushes {
            offset: self.offset,
            bodies: &self.bodies,
            recent: &mut self.recent,
            pending: &mut self.pending,
            numbers_kept: &mut self.numbers_kept,
            push_jobs: &self.push_jobs,
            now,
            enqueued: &mut enqueued,
        };
        let outcomes = intakes
            .iter()
            .map(|intake| stored.apply(&tx, intake))
            .collect::<Result<Vec<_>, _>>()?;
        write_pending(
            &tx,
            &mut self.pending,
            &self.recent,
            &self.bodies,
            self.offset,
            &mut self.rollups,
        )?;
        jobs::record(&tx, updates, now)?;
        self.rollups.flush(&tx)?;
        self.file.still_there()?;
        tx.commit()?;
        self.changes.publish(&outcomes);
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
    bodies: &'a Bodies,
    recent: &'a mut RecentCalls,
    pending: &'a mut PendingCalls,
    numbers_kept: &'a mut HashSet<(i64, String)>,
    push_jobs: &'a [PushJob],
    now: DateTime<Utc>,
    /// Set when a push got jobs.
    enqueued: &'a mut bool,
}

impl StoredPushes<'_> {
    fn apply(&mut self, tx: &Connection, queued: &Queued) -> Result<WriteOutcome, StoreError> {
        let outcome = self.store(tx, queued)?;
        // A stored push only: a duplicate was given its jobs when first
        // stored, and a rejected body is no push to pass on.
        if let WriteOutcome::Stored {
            conversation_id,
            event_id,
        } = &outcome
        {
            for job in self.push_jobs {
                match job.kind {
                    JobKind::Forward => {
                        jobs::enqueue(
                            tx,
                            job.kind,
                            &job.target,
                            Some(*event_id),
                            Some(conversation_id.0),
                            None,
                            self.now,
                        )?;
                        *self.enqueued = true;
                    }
                    JobKind::Recording => {
                        if let Intake::Push(accepted) = &queued.intake {
                            let queued_any = recordings::queue_links(
                                tx,
                                &accepted.push,
                                *event_id,
                                &job.target,
                                self.now,
                            )?;
                            *self.enqueued |= queued_any;
                        }
                    }
                }
            }
        }
        Ok(outcome)
    }

    fn store(&mut self, tx: &Connection, queued: &Queued) -> Result<WriteOutcome, StoreError> {
        match &queued.intake {
            Intake::Rejected {
                rejection,
                http_status,
            } => Ok(WriteOutcome::Rejected {
                rejected_id: insert_rejected(tx, rejection, *http_status)?,
                reason: rejection.reason.clone(),
            }),
            Intake::Push(accepted) => {
                let stored_hash = match count_redelivery(tx, self.bodies, accepted)? {
                    Seen::Before(known) => {
                        // The same bytes: as good a base as the push itself.
                        if let Some(as_base) = &queued.body.as_base {
                            as_base.mark_stored(StoredAs {
                                event_id: known.event_id,
                                stored_hash: known.stored_hash,
                            });
                        }
                        return Ok(WriteOutcome::Duplicate {
                            conversation_id: known.conversation_id,
                            event_id: known.event_id,
                            deliveries: known.deliveries,
                        });
                    }
                    Seen::New { stored_hash } => stored_hash,
                };
                let conversation_id = accepted.push.conversation_id;
                if pushes_held(tx, conversation_id, self.recent, self.pending)?
                    >= MAX_PUSHES_PER_CALL
                {
                    let rejection = Rejection {
                        raw: accepted.raw.clone(),
                        reason: RejectReason::CallFull { conversation_id },
                    };
                    return Ok(WriteOutcome::Rejected {
                        rejected_id: insert_rejected(tx, &rejection, 422)?,
                        reason: rejection.reason,
                    });
                }
                let mut encoded = std::borrow::Cow::Borrowed(&queued.body.encoded);
                let mut base = None;
                if let Some(delta_of) = queued.body.encoded.as_ref().and_then(|e| e.base.as_ref()) {
                    base = stored_base(tx, conversation_id, delta_of)?;
                    if base.is_none() {
                        encoded = std::borrow::Cow::Owned(self.bodies.encode(&accepted.raw.body));
                    }
                }
                let event_id = insert_event(
                    tx,
                    accepted,
                    encoded.as_ref().as_ref(),
                    base,
                    &stored_hash,
                    &queued.body.numbers,
                    self.numbers_kept,
                )?;
                if let Some(as_base) = &queued.body.as_base {
                    as_base.mark_stored(StoredAs {
                        event_id,
                        stored_hash,
                    });
                }
                let arrived = StoredPush {
                    event_id,
                    received_at: accepted.raw.received_at,
                    push: accepted.push.clone(),
                };
                merge_arrived_push(
                    tx,
                    arrived,
                    self.offset,
                    self.bodies,
                    self.recent,
                    self.pending,
                )?;
                Ok(WriteOutcome::Stored {
                    conversation_id: accepted.push.conversation_id,
                    event_id,
                })
            }
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
