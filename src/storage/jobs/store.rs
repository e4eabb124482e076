//! The queue as typed methods of [`Store`], for the workers and the API:
//! reads run on the reader pool, writes go through the writer thread.

use chrono::Utc;
use tokio::sync::watch;

use super::summary::{self, JobTargetSummary};
use super::{Job, JobKind, JobSubject, JobUpdate, PushJob, claim_due, stored_body};
use crate::storage::recordings::recording_source;
use crate::storage::{Store, StoreError};

/// A claimed job with the push it concerns.
#[derive(Clone, Debug)]
pub struct ClaimedJob {
    pub job: Job,
    pub subject: JobSubject,
}

impl Store {
    /// From now on, stored pushes also get `jobs` (as their kind says);
    /// GraphQL and the metrics show their targets.
    pub async fn add_push_jobs(&self, jobs: Vec<PushJob>) -> Result<(), StoreError> {
        let all = {
            let mut all = self.push_jobs.write().unwrap_or_else(|p| p.into_inner());
            all.extend(jobs);
            all.clone()
        };
        self.writer.set_push_jobs(all).await
    }

    /// The targets every stored push gets a job of `kind` for.
    pub fn push_job_targets(&self, kind: JobKind) -> Vec<String> {
        self.push_jobs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|job| job.kind == kind)
            .map(|job| job.target.clone())
            .collect()
    }

    /// A receiver that changes after each commit that enqueued jobs.
    pub fn jobs_added(&self) -> watch::Receiver<u64> {
        self.writer.jobs_added()
    }

    /// Up to `limit` due jobs of `kind` for `target` (see
    /// [`claim_due`](super::claim_due)), each with its push.
    pub async fn claim_jobs(
        &self,
        kind: JobKind,
        target: String,
        limit: usize,
        exclude: Vec<i64>,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let bodies = self.bodies.clone();
        self.read(move |conn| {
            // One snapshot: a delta and its base are read as they were together.
            let snapshot = conn.unchecked_transaction()?;
            claim_due(&snapshot, kind, &target, Utc::now(), limit, &exclude)?
                .into_iter()
                .map(|job| {
                    let subject = match (kind, job.event_id, job.subject) {
                        (JobKind::Forward, Some(event_id), _) => {
                            stored_body(&snapshot, &bodies, event_id)?.map(JobSubject::Push)
                        }
                        (JobKind::Recording, _, Some(id)) => {
                            recording_source(&snapshot, id)?.map(JobSubject::Recording)
                        }
                        _ => None,
                    };
                    let subject = subject.unwrap_or(JobSubject::Gone);
                    Ok(ClaimedJob { job, subject })
                })
                .collect()
        })
        .await
    }

    /// Records the outcomes of jobs' tries; returns once committed.
    pub async fn record_jobs(&self, updates: Vec<JobUpdate>) -> Result<(), StoreError> {
        self.writer.record_jobs(updates).await
    }

    /// What the queue holds for each target of `kind`: the configured ones
    /// first, then any other with jobs left.
    pub async fn job_targets(&self, kind: JobKind) -> Result<Vec<JobTargetSummary>, StoreError> {
        let configured = self.push_job_targets(kind);
        self.read(move |conn| summary::summaries(conn, kind, &configured))
            .await
    }

    /// Pending jobs of `kind` for each target every push gets them for.
    pub async fn pending_jobs(&self, kind: JobKind) -> Result<Vec<(String, i64)>, StoreError> {
        let targets = self.push_job_targets(kind);
        self.read(move |conn| summary::pending_counts(conn, kind, &targets))
            .await
    }
}
