//! Forwarding: every stored push passed on to the systems that already
//! listen (`serve --forward-to URL`), byte for byte with its Content-Type,
//! at least once, in arrival order for each call.
//!
//! A transport over the job queue (`storage::jobs`): the writer enqueues one
//! `forward` job per target in the transaction that stores a push, so a
//! `200` to Udesk means the push will be forwarded, through restarts and
//! `kill -9`. A [`Forwarder`] runs one worker per target ([`worker`]); each
//! try is one `POST` ([`attempt`]) with the Standard Webhooks headers
//! ([`signature`]), retried with backoff ([`backoff`]); the
//! `udesk_calls_forward_*` metrics are in [`metrics`].

pub mod attempt;
pub mod backoff;
pub mod metrics;
pub mod signature;
pub mod worker;

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::forwarding::ForwardSettings;
use crate::storage::jobs::{JobKind, PushJob};
use crate::storage::{Store, StoreError};

pub use metrics::ForwardMetrics;
use worker::TargetWorker;

/// The running workers, one per target.
pub struct Forwarder {
    workers: Vec<JoinHandle<()>>,
}

impl Forwarder {
    /// Has the store give every push stored from now on a job per target,
    /// then starts the targets' workers; they stop when `stop` turns true.
    pub async fn start(
        store: Arc<Store>,
        settings: &ForwardSettings,
        metrics: ForwardMetrics,
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
        store.enqueue_for_every_push(jobs).await?;
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
            let worker = TargetWorker {
                store: store.clone(),
                target: target.clone(),
                client: client.clone(),
                secret: settings.signing_key.clone(),
                timeout: settings.timeout,
                concurrency: settings.concurrency.max(1),
                metrics: metrics.clone(),
            };
            forwarder
                .workers
                .push(tokio::spawn(worker.run(stop.clone())));
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
