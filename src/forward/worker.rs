//! One target's worker: claims due pushes from the queue, sends up to
//! `concurrency` of them at once, and records how each try ended.
//!
//! What it holds in memory is bounded: the pushes in flight (at most
//! `concurrency`) and their outcomes until the writer commits them (at most
//! a few times `concurrency` in all). A job
//! stays "in hand" until its outcome is committed, so it is never claimed
//! twice, and the next push of its call becomes due only then. A target that
//! stops answering (no connection, a `429`, three failures in a row) is
//! paused with backoff; after the pause one push probes it, and full
//! parallelism returns with the first answer. The worker looks for work when
//! the writer enqueues some, when a try ends, and at least every second
//! (for retries coming due and for `forward retry` run beside the service).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use reqwest::Client;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, sleep_until};

use super::attempt::{self, Attempt, Failure};
use super::backoff::{push_backoff, target_backoff};
use super::metrics::ForwardMetrics;
use crate::config::forwarding::{ForwardTarget, SigningSecret};
use crate::storage::jobs::{ClaimedJob, Job, JobKind, JobOutcome, JobUpdate};
use crate::storage::{Store, StoreError};

/// Tries a refused push gets before it is parked.
pub const PARK_AFTER_TRIES: u32 = 3;
/// Failures in a row after which a target is paused, whatever they were.
const PAUSE_AFTER_FAILURES: u32 = 3;
/// The longest the worker goes without looking at the queue.
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// Pushes in hand (sent, or their outcome not yet committed) per request
/// slot at most.
const IN_HAND_PER_SLOT: usize = 4;
/// How long tries in flight may still finish once the service stops; the
/// rest are sent again after the restart.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Everything one target's worker needs.
pub struct TargetWorker {
    pub store: Arc<Store>,
    pub target: ForwardTarget,
    pub client: Client,
    pub secret: Option<SigningSecret>,
    pub timeout: Duration,
    pub concurrency: usize,
    pub metrics: ForwardMetrics,
}

/// How a target is doing.
#[derive(Debug, Default)]
struct Health {
    /// Failures since the target last answered.
    failures: u32,
    /// Pauses in a row: each failed probe doubles the next pause.
    pauses: u32,
    paused_until: Option<Instant>,
    /// After a pause: one push at a time until one is answered.
    probing: bool,
}

impl Health {
    fn capacity(&self, concurrency: usize, now: Instant) -> usize {
        match self.paused_until {
            Some(until) if until > now => 0,
            _ if self.probing => 1,
            _ => concurrency,
        }
    }

    /// The target answered; true when it was paused before.
    fn answered(&mut self) -> bool {
        let recovered = self.probing;
        *self = Health::default();
        recovered
    }

    /// A try failed; returns the pause the target is in, if any.
    fn failed(&mut self, failure: Failure, retry_after: Option<Duration>) -> Option<Duration> {
        self.failures += 1;
        let pause = matches!(failure, Failure::Connect | Failure::Throttled)
            || self.failures >= PAUSE_AFTER_FAILURES
            || self.probing;
        if !pause {
            return None;
        }
        let now = Instant::now();
        if let Some(until) = self.paused_until.filter(|until| *until > now) {
            // The other tries in flight when the target went down fail
            // with it: one pause for them all, not one more each.
            let until = retry_after.map_or(until, |wait| until.max(now + wait));
            self.paused_until = Some(until);
            return Some(until - now);
        }
        self.pauses += 1;
        let wait = retry_after.unwrap_or_else(|| target_backoff(self.pauses));
        self.paused_until = Some(now + wait);
        self.probing = true;
        Some(wait)
    }
}

type Recording = JoinHandle<(Vec<i64>, Result<(), StoreError>)>;

impl TargetWorker {
    /// Runs until `stop` turns true (or the store closes).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let target = self.target.as_str().to_owned();
        let mut sending: JoinSet<(Job, Attempt)> = JoinSet::new();
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
                    .capacity(self.concurrency, now)
                    .saturating_sub(sending.len())
                    .min((self.concurrency * IN_HAND_PER_SLOT).saturating_sub(in_hand.len()));
                if free > 0 {
                    let exclude = in_hand.iter().copied().collect();
                    match self
                        .store
                        .claim_jobs(JobKind::Forward, target.clone(), free, exclude)
                        .await
                    {
                        Ok(claimed) => {
                            for claimed in claimed {
                                self.start_sending(claimed, &mut sending, &mut in_hand);
                            }
                        }
                        Err(error) => {
                            tracing::warn!(%error, target = %self.target.display(), "the forwarding queue could not be read");
                        }
                    }
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
            if stopping.is_some() && sending.is_empty() && recording.is_none() {
                break;
            }
            let grace_over = stopping.map(|since| since + STOP_GRACE);
            tokio::select! {
                _ = stop.changed(), if stopping.is_none() => {
                    stopping = Some(Instant::now());
                }
                Some(joined) = sending.join_next(), if !sending.is_empty() => {
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
                                    tracing::warn!(%error, target = %self.target.display(), "outcomes of forwarded pushes could not be recorded; they will be sent again");
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
                () = sleep_until(grace_over.unwrap_or(next_look)), if grace_over.is_some() && !sending.is_empty() => {
                    // Abandoned tries are pending still: sent again after the restart.
                    sending.abort_all();
                    while sending.join_next().await.is_some() {}
                }
            }
        }
    }

    fn start_sending(
        &self,
        claimed: ClaimedJob,
        sending: &mut JoinSet<(Job, Attempt)>,
        in_hand: &mut HashSet<i64>,
    ) {
        // No push: it was erased since the claim, and its jobs with it.
        let Some(push) = claimed.push else { return };
        let job = claimed.job;
        in_hand.insert(job.id);
        let (client, target, secret, timeout) = (
            self.client.clone(),
            self.target.clone(),
            self.secret.clone(),
            self.timeout,
        );
        sending.spawn(async move {
            let attempt = attempt::send(&client, &target, secret.as_ref(), &push, timeout).await;
            (job, attempt)
        });
    }

    /// What a try means for its job, the target's health and the metrics.
    fn judge(&self, health: &mut Health, job: &Job, attempt: Attempt) -> JobUpdate {
        let target = self.target.as_str();
        let shown = self.target.display();
        let tries = job.attempts + 1;
        let outcome = match attempt {
            Attempt::Delivered => {
                self.metrics.delivered(target);
                if health.answered() {
                    tracing::info!(target = %shown, "forwarding works again");
                }
                JobOutcome::Delivered
            }
            Attempt::Failed { failure, error, .. } if failure == Failure::Refused => {
                self.metrics.failed(target, failure);
                health.answered();
                if tries >= PARK_AFTER_TRIES {
                    self.metrics.parked(target);
                    tracing::warn!(target = %shown, event_id = job.event_id, conversation_id = job.ordering_key, tries, %error,
                        "a push was refused and is parked; `udesk-calls forward retry` sends it again");
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
            } => {
                self.metrics.failed(target, failure);
                let was_paused = health.probing;
                let pause = health.failed(failure, retry_after);
                if let (Some(pause), false) = (pause, was_paused) {
                    tracing::warn!(target = %shown, %error, pause_ms = pause.as_millis() as u64,
                        "forwarding fails; the target is paused and tried again with backoff");
                } else {
                    tracing::debug!(target = %shown, %error, tries, "a forwarded push failed");
                }
                let wait = match failure {
                    // The target's trouble, not the push's: the target's
                    // pause (in memory) spaces the tries, and the push is due
                    // again soon, however often it failed, so it goes with
                    // the first try after the pause, or at once after a
                    // restart.
                    Failure::Connect | Failure::Throttled => push_backoff(1),
                    // Maybe the push's own (a body the receiver chokes on):
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
