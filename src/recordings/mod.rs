//! Archiving the calls' recordings (`serve --recordings-to`), a kind of
//! job (`jobs`): the writer queues a `recording` job for each recording link
//! a stored push brings, in the push's own transaction; a [`Recorder`] runs
//! them, each try one download ([`download`]) kept whole under its content's
//! hash ([`archive`]). Ingest never waits for a download. A link its source
//! refuses (`403`, `404`, `410`) or whose `Expires` has passed is failed at
//! once; connection errors and `5xx` are tried again with backoff.
//!
//! Downloads run on a thread of their own at the lowest CPU priority (nice
//! 19): hashing and writing hundreds of megabytes a second would otherwise
//! take the cores from the webhook. An idle machine archives at full speed;
//! a busy one answers Udesk first and catches up on the recordings after
//! (their links last months).

pub mod archive;
pub mod download;
pub mod metrics;
pub mod pace;

use std::sync::Arc;

use chrono::Utc;
use reqwest::Client;
use tokio::sync::{oneshot, watch};

use crate::config::recordings::RecordingSettings;
use crate::jobs::metrics::JobMetrics;
use crate::jobs::{Attempt, Destination, Failure, Failures, JobRunner, JobWork};
use crate::storage::jobs::{Job, JobKind, JobSubject, PushJob};
use crate::storage::recordings::ArchivedRecording;
use crate::storage::{Store, StoreError};

use archive::Archive;
use download::{archive_trouble, download};
use pace::Pace;

/// A recording that keeps failing (no connection, `5xx`, a timeout) waits
/// at most an hour between tries, and is parked after twenty: some nine
/// hours of its source's trouble (`recordings retry` tries it again).
const RETRY_AT_MOST: std::time::Duration = std::time::Duration::from_secs(3600);
const PARK_AFTER_TRIES: u32 = 20;
/// How long a download may go without a byte from its source.
const SILENT_AT_MOST: std::time::Duration = std::time::Duration::from_secs(30);

/// One try of a `recording` job: download, keep.
struct RecordingWork {
    store: Arc<Store>,
    client: Client,
    archive: Arc<Archive>,
    settings: RecordingSettings,
    pace: Pace,
}

impl JobWork for RecordingWork {
    async fn attempt(&self, _job: &Job, subject: JobSubject) -> Attempt {
        let JobSubject::Recording(source) = subject else {
            return Attempt::Failed {
                failure: Failure::Gone,
                error: "a recording job without its recording".to_owned(),
                retry_after: None,
            };
        };
        if let Some(expired) = source.expires_at.filter(|at| *at <= Utc::now()) {
            return Attempt::Failed {
                failure: Failure::Gone,
                error: format!("the recording's link expired at {}", expired.to_rfc3339()),
                retry_after: None,
            };
        }
        let downloaded = match download(
            &self.client,
            &source.url,
            self.archive.staging(),
            self.settings.max_bytes,
            self.settings.timeout,
            &self.pace,
        )
        .await
        {
            Ok(downloaded) => downloaded,
            Err(failed) => return failed,
        };
        let (bytes, sha256, content_type) = (
            downloaded.bytes,
            downloaded.sha256.clone(),
            downloaded.content_type.clone(),
        );
        match self.archive.keep(downloaded).await {
            Ok(key) if self.erased_meanwhile(source.id, &key).await => Attempt::Failed {
                failure: Failure::Gone,
                error: "its call was erased while it was downloaded".to_owned(),
                retry_after: None,
            },
            Ok(key) => Attempt::Archived(ArchivedRecording {
                id: source.id,
                bytes,
                sha256,
                content_type,
                key,
            }),
            Err(error) => archive_trouble(&error),
        }
    }
}

impl RecordingWork {
    /// Whether the recording was erased (a purge) while it was downloaded;
    /// its copy is then deleted again unless another recording names it.
    async fn erased_meanwhile(&self, id: i64, key: &str) -> bool {
        match self.store.recording_kept(id, key.to_owned()).await {
            Ok((true, _)) | Err(_) => false,
            Ok((false, named_elsewhere)) => {
                if !named_elsewhere {
                    self.archive.forget(vec![key.to_owned()]).await;
                }
                true
            }
        }
    }
}

/// The running archive's job runner.
pub struct Recorder {
    /// Answered when the runner's thread ends.
    runner: Option<oneshot::Receiver<()>>,
    pub archive: Option<Arc<Archive>>,
}

impl Recorder {
    /// Has the store queue every recording link of the pushes stored from
    /// now on, then starts archiving them; it stops when `stop` turns true.
    pub async fn start(
        store: Arc<Store>,
        settings: Option<&RecordingSettings>,
        metrics: JobMetrics,
        stop: watch::Receiver<bool>,
    ) -> Result<Recorder, StoreError> {
        let Some(settings) = settings else {
            return Ok(Recorder {
                runner: None,
                archive: None,
            });
        };
        let archive =
            Arc::new(Archive::open(&settings.target, store.path()).map_err(StoreError::Internal)?);
        archive.clear_staging();
        let target = settings.target.as_target();
        // Recordings queued for the archive under another spelling (`rec/`
        // and `./rec`, a `backfill` given an absolute path, an archive
        // moved) are this archive's: one service keeps one archive.
        let adopted = store.adopt_recording_jobs(target.clone()).await?;
        if adopted > 0 {
            tracing::info!(recordings = adopted, archive = %target, "recordings queued for another spelling of the archive are archived here");
        }
        store
            .add_push_jobs(vec![PushJob {
                kind: JobKind::Recording,
                target: target.clone(),
            }])
            .await?;
        metrics.add_target(&target);
        let client = Client::builder()
            .connect_timeout(settings.timeout.min(std::time::Duration::from_secs(10)))
            // A source that connects and then says nothing holds a slot
            // no longer than this, not the whole --recordings-timeout.
            .read_timeout(settings.timeout.min(SILENT_AT_MOST))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|error| StoreError::Internal(format!("the download client: {error}")))?;
        let runner = JobRunner {
            store: store.clone(),
            destination: Destination {
                kind: JobKind::Recording,
                target: target.clone(),
                shown: target.clone(),
                concurrency: settings.concurrency.max(1),
                work_name: "archiving recordings",
                retry_command: "recordings retry",
                // Links to many hosts: one that fails holds no other back.
                failures: Failures::EachJobItsOwn {
                    most: RETRY_AT_MOST,
                    park_after: PARK_AFTER_TRIES,
                },
            },
            work: Arc::new(RecordingWork {
                store: store.clone(),
                client,
                archive: archive.clone(),
                settings: settings.clone(),
                pace: Pace::new(settings.max_rate),
            }),
            metrics,
        };
        tracing::info!(archive = %target, "archiving recordings");
        Ok(Recorder {
            runner: Some(run_at_low_priority(runner, stop)?),
            archive: Some(archive),
        })
    }

    /// Waits for the runner to end (after `stop` turned true).
    pub async fn stopped(self) {
        if let Some(runner) = self.runner
            && runner.await.is_err()
        {
            tracing::error!("the recordings' job runner panicked");
        }
    }
}

/// Runs `runner` on a runtime of its own, on a thread at nice 19 (its
/// blocking file work too); the receiver is answered when it ends.
fn run_at_low_priority(
    runner: JobRunner<RecordingWork>,
    stop: watch::Receiver<bool>,
) -> Result<oneshot::Receiver<()>, StoreError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("recordings-files")
        .on_thread_start(lowest_priority)
        .build()
        .map_err(|error| StoreError::Internal(format!("the recordings' runtime: {error}")))?;
    let (ended, runner_ended) = oneshot::channel();
    std::thread::Builder::new()
        .name("recordings".into())
        .spawn(move || {
            lowest_priority();
            runtime.block_on(runner.run(stop));
            let _ = ended.send(());
        })
        .map_err(|error| StoreError::Internal(format!("the recordings' thread: {error}")))?;
    Ok(runner_ended)
}

/// Gives the calling thread (alone: Linux keeps a nice value per thread)
/// the lowest CPU priority.
fn lowest_priority() {
    let thread = rustix::thread::gettid();
    if let Err(error) = rustix::process::setpriority_process(Some(thread), 19) {
        tracing::debug!(%error, "the recordings' thread keeps its priority");
    }
}
