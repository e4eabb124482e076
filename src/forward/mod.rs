//! Forwarding: every stored push passed on to the systems that already
//! listen (`serve --forward-to URL`), byte for byte with its Content-Type,
//! at least once, in arrival order for each call.
//!
//! A kind of job (`jobs`): the writer enqueues one `forward` job per target
//! in the transaction that stores a push, so a `200` to Udesk means the push
//! will be forwarded, through restarts and `kill -9`. A [`Forwarder`] runs
//! one job runner per target; each try is one `POST` ([`attempt`]) with the
//! Standard Webhooks headers ([`signature`]); the `udesk_calls_forward_*`
//! metrics are in [`metrics`].

pub mod attempt;
pub mod metrics;
pub mod signature;

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use std::time::Duration;

use reqwest::Client;

use crate::config::forwarding::{ForwardSettings, ForwardTarget, SigningSecret};
use crate::jobs::metrics::JobMetrics;
use crate::jobs::{Attempt, Destination, Failure, Failures, JobRunner, JobWork};
use crate::storage::jobs::{Job, JobKind, JobSubject, PushJob};
use crate::storage::{Store, StoreError};

/// One target's work: a try is one `POST` of the push.
struct ForwardWork {
    client: Client,
    target: ForwardTarget,
    secret: Option<SigningSecret>,
    timeout: Duration,
}

impl JobWork for ForwardWork {
    async fn attempt(&self, _job: &Job, subject: JobSubject) -> Attempt {
        let JobSubject::Push(push) = subject else {
            return Attempt::Failed {
                failure: Failure::Gone,
                error: "a forward job without its push".to_owned(),
                retry_after: None,
            };
        };
        attempt::send(
            &self.client,
            &self.target,
            self.secret.as_ref(),
            &push,
            self.timeout,
        )
        .await
    }
}

/// The running job runners, one per target.
pub struct Forwarder {
    workers: Vec<JoinHandle<()>>,
}

impl Forwarder {
    /// Has the store give every push stored from now on a job per target,
    /// then starts the targets' workers; they stop when `stop` turns true.
    pub async fn start(
        store: Arc<Store>,
        settings: &ForwardSettings,
        metrics: JobMetrics,
        stop: watch::Receiver<bool>,
    ) -> Result<Forwarder, StoreError> {
        let mut forwarder = Forwarder {
            workers: Vec::new(),
        };
        if settings.targets.is_empty() {
            return Ok(forwarder);
        }
        let jobs = settings
            .targets
            .iter()
            .map(|target| PushJob {
                kind: JobKind::Forward,
                target: target.as_str().to_owned(),
            })
            .collect();
        store.add_push_jobs(jobs).await?;
        let client = match attempt::client(settings) {
            Ok(client) => client,
            Err(error) => {
                // The pushes are queued all the same, for a restart after a fix.
                tracing::error!(%error, "forwarding cannot start its HTTP client; pushes are kept for it");
                return Ok(forwarder);
            }
        };
        for target in &settings.targets {
            metrics.add_target(target.as_str());
            let runner = JobRunner {
                store: store.clone(),
                destination: Destination {
                    kind: JobKind::Forward,
                    target: target.as_str().to_owned(),
                    shown: target.display(),
                    concurrency: settings.concurrency.max(1),
                    work_name: "forwarding",
                    retry_command: "forward retry",
                    failures: Failures::OneReceiver,
                },
                work: Arc::new(ForwardWork {
                    client: client.clone(),
                    target: target.clone(),
                    secret: settings.signing_key.clone(),
                    timeout: settings.timeout,
                }),
                metrics: metrics.clone(),
            };
            forwarder
                .workers
                .push(tokio::spawn(runner.run(stop.clone())));
            tracing::info!(target = %target.display(), signed = settings.signing_key.is_some(), "forwarding pushes");
        }
        Ok(forwarder)
    }

    /// Waits for the workers to end (after `stop` turned true).
    pub async fn stopped(self) {
        for worker in self.workers {
            if let Err(error) = worker.await
                && error.is_panic()
            {
                tracing::error!("a forwarding worker panicked");
            }
        }
    }
}
