//! Running the job queue's work (the queue itself is `storage::jobs`): one
//! [`runner::JobRunner`] per destination claims due jobs, runs up to its
//! concurrency of them at once, keeps each ordering key's jobs in order,
//! retries with backoff and jitter ([`backoff`]), parks what the
//! destination keeps refusing, pauses a destination that stops answering
//! ([`health`]), counts it all ([`metrics`]) and stops gracefully.
//!
//! A kind of job says only what one try does ([`JobWork`]) and what its
//! answers mean ([`attempt`]); forwarding (`forward/`) is one.

pub mod attempt;
pub mod backoff;
pub mod health;
pub mod metrics;
pub mod runner;

use std::future::Future;

use crate::storage::jobs::{Job, JobSubject};

pub use attempt::{Attempt, Failure};
pub use runner::{Destination, Failures, JobRunner};

/// What one kind of job does with a claimed job.
pub trait JobWork: Send + Sync + 'static {
    /// One try of `job`, on what it is about. (A job whose subject was
    /// erased since it was queued is dropped by the runner, never tried.)
    fn attempt(&self, job: &Job, subject: JobSubject) -> impl Future<Output = Attempt> + Send;
}
