//! The server's life: probes from the first moment, the app once the
//! database is open, and a graceful shutdown that ends in bounded time.
//!
//! While the database opens (a migration may take minutes) the listener is
//! already served: `/livez` answers `200`, `/readyz` `503`, and every other
//! path `503` with `Retry-After`, so a supervisor does not kill a migrating
//! service and Udesk retries its pushes. On the shutdown signal, readiness
//! turns to `503` first; then the listener is closed (new connections are
//! refused) and every request already received is answered, a push after its
//! commit. Requests still unanswered after [`DRAIN_LIMIT`] are dropped, so
//! the process exits within 10 s. Forwarding (when configured) starts with
//! the app and stops with the signal, its tries in flight given a moment to
//! finish. Last, the writer commits what it holds, checkpoints the WAL and
//! stops.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::from_fn;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

use crate::config::Settings;
use crate::forward::Forwarder;
use crate::recordings::Recorder;
use crate::storage::jobs::JobKind;
use crate::storage::{Store, StoreError};

use super::health::{self, Readiness};
use super::metrics::Metrics;
use super::{AppState, browsers, connections, request_log, router};

/// How long requests in flight may take to finish once shutdown began; the
/// rest of the 10 s is for the writer's last commit and the checkpoint.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(8);

/// Why serving ended in failure.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("serving HTTP failed: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Open(StoreError),
}

/// Serves an open `store` on `listener` until `shutdown` completes, then
/// drains requests in flight and closes the store.
pub async fn serve(
    listener: TcpListener,
    store: Arc<Store>,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match serve_opening(listener, std::future::ready(Ok(store)), settings, shutdown).await {
        Ok(()) => Ok(()),
        Err(ServeError::Io(error)) => Err(error),
        Err(error) => Err(std::io::Error::other(error)),
    }
}

/// Like [`serve`], but starts answering probes at once and serves the app
/// when `opening` yields the store. Should opening fail, serving stops and
/// the error is returned.
pub async fn serve_opening(
    listener: TcpListener,
    opening: impl Future<Output = Result<Arc<Store>, StoreError>>,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let address = listener.local_addr()?;
    let readiness = Readiness::starting();
    let (stop_forwarding, forwarding_stops) = watch::channel(false);
    let app = App {
        address,
        router: Arc::default(),
        settings: Arc::new(settings),
        metrics: Arc::new(Metrics::new()),
        readiness: readiness.clone(),
        forwarding_stops,
        forwarder: Mutex::default(),
        recorder: Mutex::default(),
    };
    let limits = app.settings.http_limits.clone();
    // A store that is already open is installed before the first request
    // is accepted, so no request of a test or a bench sees "starting".
    let mut opening = pin!(opening);
    let opened_now = tokio::select! {
        biased;
        opened = &mut opening => Some(opened.map_err(ServeError::Open)?),
        () = std::future::ready(()) => None,
    };
    if let Some(store) = &opened_now {
        app.install(store.clone()).await.map_err(ServeError::Open)?;
    }

    let draining = Arc::new(Notify::new());
    let open_failed = Arc::new(Notify::new());
    let signal = {
        let (readiness, draining, open_failed) =
            (readiness.clone(), draining.clone(), open_failed.clone());
        async move {
            tokio::select! {
                () = shutdown => {},
                () = open_failed.notified() => {},
            }
            readiness.draining();
            let _ = stop_forwarding.send(true);
            draining.notify_one();
        }
    };
    let routes = {
        let app = app.router.clone();
        let routes = health::routes(readiness)
            .fallback(move |request: Request| when_open(app.clone(), request));
        browsers::with_security_headers(routes).layer(from_fn(request_log::log_request))
    };
    let server = connections::serve(listener, routes, &limits, signal);
    let serving = async {
        tokio::select! {
            served = server => served,
            () = async { draining.notified().await; tokio::time::sleep(DRAIN_LIMIT).await } => {
                tracing::warn!(
                    limit_s = DRAIN_LIMIT.as_secs(),
                    "requests still unanswered at the drain limit are dropped"
                );
                Ok(())
            }
        }
    };
    let store = async {
        if let Some(store) = opened_now {
            return Ok(store);
        }
        let opened = match opening.await {
            Ok(store) => app.install(store.clone()).await.map(|()| store),
            Err(error) => Err(error),
        };
        if opened.is_err() {
            open_failed.notify_one();
        }
        opened
    };
    let (served, store) = tokio::join!(serving, store);
    let store = store.map_err(ServeError::Open)?;
    let forwarder = app.forwarder.lock().ok().and_then(|mut f| f.take());
    if let Some(forwarder) = forwarder {
        forwarder.stopped().await;
    }
    let recorder = app.recorder.lock().ok().and_then(|mut r| r.take());
    if let Some(recorder) = recorder {
        recorder.stopped().await;
    }
    store.close().await;
    tracing::info!("the database is closed");
    served.map_err(ServeError::Io)
}

/// What the fallback route needs to build and find the app.
struct App {
    address: std::net::SocketAddr,
    router: Arc<OnceLock<Router>>,
    settings: Arc<Settings>,
    metrics: Arc<Metrics>,
    readiness: Readiness,
    /// Turns true when shutdown begins: the job runners stop.
    forwarding_stops: watch::Receiver<bool>,
    forwarder: Mutex<Option<Forwarder>>,
    recorder: Mutex<Option<Recorder>>,
}

impl App {
    /// Starts forwarding and archiving (every push stored from then on gets
    /// its jobs), then serves the app.
    async fn install(&self, store: Arc<Store>) -> Result<(), StoreError> {
        let forwarder = Forwarder::start(
            store.clone(),
            &self.settings.forwarding,
            self.metrics.jobs_of(JobKind::Forward),
            self.forwarding_stops.clone(),
        )
        .await?;
        if let Ok(mut slot) = self.forwarder.lock() {
            *slot = Some(forwarder);
        }
        let recorder = Recorder::start(
            store.clone(),
            self.settings.recordings.as_ref(),
            self.metrics.jobs_of(JobKind::Recording),
            self.forwarding_stops.clone(),
        )
        .await?;
        let archive = recorder.archive.clone();
        if let Ok(mut slot) = self.recorder.lock() {
            *slot = Some(recorder);
        }
        let state = AppState {
            archive,
            store: store.clone(),
            settings: self.settings.clone(),
            metrics: self.metrics.clone(),
            listening_on: self.address,
        };
        let _ = self.router.set(router(state));
        // Whole-file work starts once the service is up, beside it.
        store.check_integrity_in_background()?;
        self.readiness.opened(store);
        tracing::info!(address = %self.address, "udesk-calls is ready");
        Ok(())
    }
}

/// Every path but the probes: the app, or `503` while the database opens.
async fn when_open(app: Arc<OnceLock<Router>>, request: Request) -> Response {
    let Some(router) = app.get() else {
        let body =
            json!({ "error": "the service is starting (opening the database); retry shortly" });
        let mut response = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return response;
    };
    match router.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
