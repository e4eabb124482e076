//! One destination's runner: claims due jobs from the queue, runs up to
//! `concurrency` of them at once, and records how each try ended.
//!
//! What it holds in memory is bounded: the jobs in flight (at most
//! `concurrency`) and their outcomes until the writer commits them (at most
//! a few times `concurrency` in all). A job stays "in hand" until its
//! outcome is committed, so it is never claimed twice, and the next job of
//! its ordering key becomes due only then. The runner looks for work when
//! the writer enqueues some, when a try ends, and at least every second
//! (for retries coming due and for a `retry` command run beside the
//! service).

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::FutureExt;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, sleep_until};

use super::JobWork;
use super::attempt::{Attempt, Failure};
use super::backoff::{job_backoff, push_backoff};
use super::health::Health;
use super::metrics::JobMetrics;
use crate::storage::jobs::{ClaimedJob, Job, JobKind, JobOutcome, JobSubject, JobUpdate};
use crate::storage::{Store, StoreError};

/// Tries a refused job gets before it is parked.
pub const PARK_AFTER_TRIES: u32 = 3;
/// The longest the runner goes without looking at the queue.
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// Jobs in hand (running, or their outcome not yet committed) per slot at most.
const IN_HAND_PER_SLOT: usize = 4;
/// How long tries in flight may still finish once the service stops; the
/// rest are due again after the restart.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Where one runner's jobs go.
pub struct Destination {
    pub kind: JobKind,
    /// As the queue keeps it.
    pub target: String,
    /// As logs show it: nothing secret.
    pub shown: String,
    pub concurrency: usize,
    /// The work in words, for the log ("forwarding").
    pub work_name: &'static str,
    /// What an operator runs to try parked jobs again.
    pub retry_command: &'static str,
    pub failures: Failures,
}

/// What a failed try says.
#[derive(Clone, Copy, Debug)]
pub enum Failures {
    /// The destination is one receiver (forwarding): failing tries mean it
    /// is down, so it is paused and probed, and its jobs are tried until
    /// it is back, however long that takes.
    OneReceiver,
    /// Each job has a source of its own (a recording's link): a failure is
    /// its job's alone, never holding the others back. It is tried again
    /// after a backoff of at most `most`, and parked after `park_after`
    /// tries.
    EachJobItsOwn { most: Duration, park_after: u32 },
}

pub struct JobRunner<W> {
    pub store: Arc<Store>,
    pub destination: Destination,
    pub work: Arc<W>,
    pub metrics: JobMetrics,
}

type Recording = JoinHandle<(Vec<i64>, Result<(), StoreError>)>;

impl<W: JobWork> JobRunner<W> {
    /// Runs until `stop` turns true (or the store closes).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let concurrency = self.destination.concurrency.max(1);
        let mut running: JoinSet<(Job, Attempt)> = JoinSet::new();
        let mut in_hand: HashSet<i64> = HashSet::new();
        let mut finished: Vec<JobUpdate> = Vec::new();
        let mut recording: Option<Recording> = None;
        let mut health = Health::default();
        let mut jobs_added = self.store.jobs_added();
        let mut look = true;
        let mut next_look = Instant::now();
        let mut stopping: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if stopping.is_none() && (look || now >= next_look) {
                look = false;
                next_look = now + LOOK_EVERY;
                // Outcomes waiting for a slow writer count too, so what
                // is held in memory stays bounded whatever the writer does.
                let free = health
                    .capacity(concurrency, now)
                    .saturating_sub(running.len())
                    .min((concurrency * IN_HAND_PER_SLOT).saturating_sub(in_hand.len()));
                if free > 0 {
                    self.claim(free, &mut running, &mut in_hand).await;
                }
                if let Some(until) = health.paused_until {
                    next_look = next_look.min(until.max(now));
                }
            }
            if recording.is_none() && !finished.is_empty() {
                let updates = std::mem::take(&mut finished);
                let ids = updates.iter().map(|update| update.id).collect();
                let store = self.store.clone();
                recording = Some(tokio::spawn(async move {
                    (ids, store.record_jobs(updates).await)
                }));
            }
            if stopping.is_some() && running.is_empty() && recording.is_none() {
                break;
            }
            let grace_over = stopping.map(|since| since + STOP_GRACE);
            tokio::select! {
                _ = stop.changed(), if stopping.is_none() => {
                    stopping = Some(Instant::now());
                }
                Some(joined) = running.join_next(), if !running.is_empty() => {
                    match joined {
                        Ok((job, attempt)) => finished.push(self.judge(&mut health, &job, attempt)),
                        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                        Err(_) => {}
                    }
                    look = true;
                }
                recorded = async { recording.as_mut().expect("guarded").await }, if recording.is_some() => {
                    recording = None;
                    look = true;
                    match recorded {
                        Ok((ids, result)) => {
                            for id in ids {
                                in_hand.remove(&id);
                            }
                            match result {
                                Ok(()) => {}
                                Err(StoreError::ShuttingDown) => {
                                    stopping.get_or_insert_with(Instant::now);
                                }
                                Err(error) => {
                                    // Their jobs are still pending: tried again, not lost.
                                    tracing::warn!(%error, kind = self.destination.kind.as_str(), target = %self.destination.shown,
                                        "outcomes of jobs could not be recorded; they will be tried again");
                                    next_look = Instant::now() + LOOK_EVERY;
                                    look = false;
                                }
                            }
                        }
                        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                        Err(_) => {}
                    }
                }
                changed = jobs_added.changed(), if stopping.is_none() => {
                    match changed {
                        Ok(()) => look = true,
                        // The writer is gone: the store is closing.
                        Err(_) => { stopping = Some(Instant::now()); }
                    }
                }
                () = sleep_until(next_look), if stopping.is_none() => look = true,
                () = sleep_until(grace_over.unwrap_or(next_look)), if grace_over.is_some() && !running.is_empty() => {
                    // Abandoned tries are pending still: due again after the restart.
                    running.abort_all();
                    while running.join_next().await.is_some() {}
                }
            }
        }
    }

    /// Claims up to `free` due jobs and starts them.
    async fn claim(
        &self,
        free: usize,
        running: &mut JoinSet<(Job, Attempt)>,
        in_hand: &mut HashSet<i64>,
    ) {
        let exclude = in_hand.iter().copied().collect();
        let destination = &self.destination;
        let claimed = self
            .store
            .claim_jobs(destination.kind, destination.target.clone(), free, exclude)
            .await;
        match claimed {
            Ok(claimed) => {
                for claimed in claimed {
                    self.start(claimed, running, in_hand);
                }
            }
            Err(error) => {
                tracing::warn!(%error, kind = destination.kind.as_str(), target = %destination.shown,
                    "the job queue could not be read");
            }
        }
    }

    fn start(
        &self,
        claimed: ClaimedJob,
        running: &mut JoinSet<(Job, Attempt)>,
        in_hand: &mut HashSet<i64>,
    ) {
        // Erased since it was queued, and its job with it.
        if claimed.subject == JobSubject::Gone {
            return;
        }
        let (job, subject) = (claimed.job, claimed.subject);
        in_hand.insert(job.id);
        let work = self.work.clone();
        let kind = self.destination.kind.as_str();
        running.spawn(async move {
            // A try that panics fails its job, not the runner of them all.
            let attempt = AssertUnwindSafe(work.attempt(&job, subject))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    tracing::error!(
                        kind,
                        job = job.id,
                        "a job's try panicked; it is tried again later"
                    );
                    Attempt::Failed {
                        failure: Failure::ServerError,
                        error: "an internal error (see the service's log)".to_owned(),
                        retry_after: None,
                    }
                });
            (job, attempt)
        });
    }

    /// What a try means for its job, the destination's health and the metrics.
    fn judge(&self, health: &mut Health, job: &Job, attempt: Attempt) -> JobUpdate {
        let destination = &self.destination;
        let (kind, target, shown) = (
            destination.kind.as_str(),
            destination.target.as_str(),
            &destination.shown,
        );
        let tries = job.attempts + 1;
        let outcome = match attempt {
            Attempt::Delivered | Attempt::Archived(_) => {
                self.metrics.done(target);
                if health.answered() {
                    tracing::info!(kind, target = %shown, "{} works again", destination.work_name);
                }
                match attempt {
                    Attempt::Archived(archived) => JobOutcome::Archived(archived),
                    _ => JobOutcome::Delivered,
                }
            }
            Attempt::Failed {
                failure: Failure::Gone,
                error,
                ..
            } => {
                self.metrics.failed(target, Failure::Gone);
                self.metrics.parked(target);
                health.answered();
                tracing::warn!(kind, job = job.id, %error, "a job cannot succeed and is parked; `udesk-calls {}` tries it again",
                    destination.retry_command);
                JobOutcome::Park { error }
            }
            Attempt::Failed { failure, error, .. } if failure == Failure::Refused => {
                self.metrics.failed(target, failure);
                health.answered();
                if tries >= PARK_AFTER_TRIES {
                    self.metrics.parked(target);
                    tracing::warn!(kind, target = %shown, event_id = job.event_id, conversation_id = job.ordering_key, tries, %error,
                        "a job of {} was refused and is parked; `udesk-calls {}` tries it again",
                        destination.work_name, destination.retry_command);
                    JobOutcome::Park { error }
                } else {
                    JobOutcome::RetryAt {
                        at: Utc::now() + push_backoff(tries),
                        error,
                    }
                }
            }
            Attempt::Failed {
                failure,
                error,
                retry_after,
            } if matches!(destination.failures, Failures::EachJobItsOwn { .. }) => {
                self.metrics.failed(target, failure);
                let Failures::EachJobItsOwn { most, park_after } = destination.failures else {
                    unreachable!("matched above");
                };
                if tries >= park_after {
                    self.metrics.parked(target);
                    tracing::warn!(kind, job = job.id, tries, %error,
                        "a job of {} failed every try and is parked; `udesk-calls {}` tries it again",
                        destination.work_name, destination.retry_command);
                    JobOutcome::Park { error }
                } else {
                    tracing::debug!(kind, job = job.id, %error, tries, "a job's try failed");
                    JobOutcome::RetryAt {
                        at: Utc::now()
                            + job_backoff(tries, most).max(retry_after.unwrap_or_default()),
                        error,
                    }
                }
            }
            Attempt::Failed {
                failure,
                error,
                retry_after,
            } => {
                self.metrics.failed(target, failure);
                let was_paused = health.probing;
                let pause = health.failed(failure, retry_after);
                if let (Some(pause), false) = (pause, was_paused) {
                    tracing::warn!(kind, target = %shown, %error, pause_ms = pause.as_millis() as u64,
                        "{} fails; the destination is paused and tried again with backoff", destination.work_name);
                } else {
                    tracing::debug!(kind, target = %shown, %error, tries, "a job's try failed");
                }
                let wait = match failure {
                    // The destination's trouble, not the job's: its pause
                    // (in memory) spaces the tries, and the job is due again
                    // soon, however often it failed, so it goes with the
                    // first try after the pause, or at once after a restart.
                    Failure::Connect | Failure::Throttled => push_backoff(1),
                    // Maybe the job's own (a body the receiver chokes on):
                    // its own backoff, so it never holds the others back.
                    _ => push_backoff(tries),
                };
                let wait = wait.max(retry_after.unwrap_or_default());
                JobOutcome::RetryAt {
                    at: Utc::now() + wait,
                    error,
                }
            }
        };
        JobUpdate {
            id: job.id,
            outcome,
        }
    }
}
