//! `GET /metrics`: the service's counters for Prometheus, and the
//! middleware that keeps them.
//!
//! Every served app owns its [`Metrics`] (a `prometheus-client` registry in
//! the app's state), not a process-wide recorder: two apps in one process
//! (the tests run many) count only their own requests. Labels hold closed
//! sets of words and status codes, never a phone number, a token or an id.
//! With API tokens configured, a scrape needs one, like GraphQL.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use serde_json::json;

use super::AppState;
use super::tokens::{bearer_token, token_allowed};
use super::websocket::LiveMetrics;
use crate::jobs::metrics::JobMetrics;
use crate::storage::jobs::JobKind;

/// The OpenMetrics text format, which Prometheus asks for first.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the latency buckets, in seconds: a push is a commit
/// (an fsync, a few ms), a query a few ms to a second.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// What became of a push, as `udesk_calls_pushes_total` counts it.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum PushOutcome {
    Stored,
    Duplicate,
    /// Answered 400 or 422, kept in `rejected_pushes`.
    Rejected,
    Unauthorized,
    TooLarge,
    /// Answered 503 (or another 5xx): not stored, the sender retries.
    Unavailable,
}

impl PushOutcome {
    const ALL: [PushOutcome; 6] = [
        PushOutcome::Stored,
        PushOutcome::Duplicate,
        PushOutcome::Rejected,
        PushOutcome::Unauthorized,
        PushOutcome::TooLarge,
        PushOutcome::Unavailable,
    ];

    fn as_str(self) -> &'static str {
        match self {
            PushOutcome::Stored => "stored",
            PushOutcome::Duplicate => "duplicate",
            PushOutcome::Rejected => "rejected",
            PushOutcome::Unauthorized => "unauthorized",
            PushOutcome::TooLarge => "too_large",
            PushOutcome::Unavailable => "unavailable",
        }
    }

    /// The outcome of an answer the webhook did not label itself (one made
    /// by a layer in front of it): read from its status.
    fn of_status(status: StatusCode) -> PushOutcome {
        match status.as_u16() {
            200..=299 => PushOutcome::Stored,
            401 | 403 => PushOutcome::Unauthorized,
            413 => PushOutcome::TooLarge,
            // The body came too slowly: not stored, the sender retries.
            408 => PushOutcome::Unavailable,
            400..=499 => PushOutcome::Rejected,
            _ => PushOutcome::Unavailable,
        }
    }
}

impl EncodeLabelValue for PushOutcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PushLabels {
    outcome: PushOutcome,
}

/// The statuses a GraphQL request is answered with, exposed at zero from
/// the first scrape so a dashboard or an alert on them has data after every
/// restart (another status, should one occur, appears when it first does).
const GRAPHQL_STATUSES: [u16; 9] = [200, 400, 401, 405, 406, 413, 415, 429, 503];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: u16,
}

/// One app's metrics and the registry that exposes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pushes: Family<PushLabels, Counter>,
    push_duration: Histogram,
    graphql_requests: Family<StatusLabels, Counter>,
    graphql_duration: Histogram,
    writer_queue_depth: Gauge,
    calls_merged_again: Counter,
    database_bytes: Gauge,
    integrity_problems: Gauge,
    integrity_checked: Gauge,
    integrity_check_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    integrity_check_failing: Gauge,
    /// Each kind of job's metrics (`udesk_calls_forward_*`,
    /// `udesk_calls_recordings_*`), kept by its runners.
    pub jobs: Vec<(JobKind, JobMetrics)>,
    /// WebSockets and subscriptions (`websocket`).
    pub live: LiveMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// The metrics of `kind`'s jobs.
    pub fn jobs_of(&self, kind: JobKind) -> JobMetrics {
        self.jobs
            .iter()
            .find(|(each, _)| *each == kind)
            .map(|(_, metrics)| metrics.clone())
            .expect("every kind of job has its metrics")
    }

    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let pushes = Family::<PushLabels, Counter>::default();
        // Every outcome is exposed from the start, so a rate over it exists
        // before the first push of its kind.
        for outcome in PushOutcome::ALL {
            drop(pushes.get_or_create(&PushLabels { outcome }));
        }
        registry.register(
            "udesk_calls_pushes",
            "Pushes received on the webhook, by what became of them",
            pushes.clone(),
        );
        let push_duration = Histogram::new(LATENCY_BUCKETS);
        registry.register_with_unit(
            "udesk_calls_push_duration",
            "Time from receiving a push to answering it (a 200 waits for the commit)",
            Unit::Seconds,
            push_duration.clone(),
        );
        let graphql_requests = Family::<StatusLabels, Counter>::default();
        for status in GRAPHQL_STATUSES {
            drop(graphql_requests.get_or_create(&StatusLabels { status }));
        }
        registry.register(
            "udesk_calls_graphql_requests",
            "GraphQL requests answered, by HTTP status",
            graphql_requests.clone(),
        );
        let graphql_duration = Histogram::new(LATENCY_BUCKETS);
        registry.register_with_unit(
            "udesk_calls_graphql_duration",
            "Time to answer a GraphQL request",
            Unit::Seconds,
            graphql_duration.clone(),
        );
        let writer_queue_depth = Gauge::default();
        registry.register(
            "udesk_calls_writer_queue_depth",
            "Writes waiting for the writer thread",
            writer_queue_depth.clone(),
        );
        let calls_merged_again = Counter::default();
        registry.register(
            "udesk_calls_calls_merged_again",
            "Calls the writer merged again from all their stored pushes, not remembering them (after a start, or past its memory): the only merges whose cost grows with a call's pushes",
            calls_merged_again.clone(),
        );
        let database_bytes = Gauge::default();
        registry.register_with_unit(
            "udesk_calls_database",
            "Size of the database file and its WAL",
            Unit::Bytes,
            database_bytes.clone(),
        );
        let integrity_problems = Gauge::default();
        registry.register(
            "udesk_calls_integrity_problems",
            "Problems the last full integrity check found in the database file (0: sound)",
            integrity_problems.clone(),
        );
        let integrity_checked = Gauge::default();
        registry.register_with_unit(
            "udesk_calls_integrity_checked_timestamp",
            "When the last full integrity check finished (Unix time; 0: none has yet)",
            Unit::Seconds,
            integrity_checked.clone(),
        );
        let integrity_check_seconds = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register_with_unit(
            "udesk_calls_integrity_check_duration",
            "How long the last full integrity check took",
            Unit::Seconds,
            integrity_check_seconds.clone(),
        );
        let integrity_check_failing = Gauge::default();
        registry.register(
            "udesk_calls_integrity_check_failing",
            "1 when the latest integrity check could not run to its end (the log says why), else 0",
            integrity_check_failing.clone(),
        );
        let forward = crate::forward::metrics::register(&mut registry);
        let recordings = crate::recordings::metrics::register(&mut registry);
        let live = LiveMetrics::register(&mut registry);
        Metrics {
            registry,
            pushes,
            push_duration,
            graphql_requests,
            graphql_duration,
            writer_queue_depth,
            calls_merged_again,
            database_bytes,
            integrity_problems,
            integrity_checked,
            integrity_check_seconds,
            integrity_check_failing,
            jobs: vec![
                (JobKind::Forward, forward),
                (JobKind::Recording, recordings),
            ],
            live,
        }
    }

    fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// `GET /metrics`.
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !token_allowed(&state.settings.api_tokens, bearer_token(&headers)) {
        let body = json!({ "error": "a valid `Authorization: Bearer TOKEN` header is required" });
        let mut response = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"udesk-calls\""),
        );
        return response;
    }
    let metrics = &state.metrics;
    let depth = state.store.writer().queue_depth();
    metrics
        .writer_queue_depth
        .set(i64::try_from(depth).unwrap_or(i64::MAX));
    // The writer's own count, taken as the counter's value: never lower
    // than a scrape beside this one already set.
    metrics
        .calls_merged_again
        .inner()
        .fetch_max(state.store.writer().calls_merged_again(), Ordering::Relaxed);
    let store = state.store.clone();
    if let Ok(bytes) = tokio::task::spawn_blocking(move || store.database_bytes()).await {
        metrics
            .database_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }
    let integrity = state.store.integrity();
    metrics
        .integrity_problems
        .set(i64::try_from(integrity.problems.len()).unwrap_or(i64::MAX));
    metrics
        .integrity_check_failing
        .set(i64::from(integrity.failed.is_some()));
    if let Some(finished) = integrity.finished_at {
        let unix = finished
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        metrics
            .integrity_checked
            .set(i64::try_from(unix).unwrap_or(i64::MAX));
        metrics
            .integrity_check_seconds
            .set(integrity.took.as_secs_f64());
    }
    for (kind, job_metrics) in &metrics.jobs {
        let configured = state.store.push_job_targets(*kind);
        if configured.is_empty() {
            continue;
        }
        match state.store.pending_jobs(*kind).await {
            Ok(pending) => job_metrics.set_pending(&configured, &pending),
            Err(error) => {
                tracing::warn!(%error, kind = kind.as_str(), "the pending jobs could not be counted");
            }
        }
    }
    match metrics.encode() {
        Ok(text) => ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Err(error) => {
            tracing::error!(%error, "the metrics could not be encoded");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Counts and times every answer of the webhook route.
pub async fn track_push(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let received = Instant::now();
    let response = next.run(request).await;
    let outcome = response
        .extensions()
        .get::<PushOutcome>()
        .copied()
        .unwrap_or_else(|| PushOutcome::of_status(response.status()));
    metrics.pushes.get_or_create(&PushLabels { outcome }).inc();
    metrics
        .push_duration
        .observe(received.elapsed().as_secs_f64());
    response
}

/// Counts and times GraphQL requests: not the GraphiQL page a browser gets
/// on `/graphql`, its assets, or CORS preflights.
pub async fn track_graphql(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let is_api = request.uri().path() == "/graphql"
        && matches!(*request.method(), Method::GET | Method::POST);
    let received = Instant::now();
    let response = next.run(request).await;
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"text/html"));
    if is_api && !is_page {
        let status = response.status().as_u16();
        metrics
            .graphql_requests
            .get_or_create(&StatusLabels { status })
            .inc();
        metrics
            .graphql_duration
            .observe(received.elapsed().as_secs_f64());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_made_in_front_of_the_webhook_are_read_from_their_status() {
        for (status, outcome) in [
            (200, PushOutcome::Stored),
            (400, PushOutcome::Rejected),
            (422, PushOutcome::Rejected),
            (401, PushOutcome::Unauthorized),
            (403, PushOutcome::Unauthorized),
            (413, PushOutcome::TooLarge),
            (503, PushOutcome::Unavailable),
            (500, PushOutcome::Unavailable),
        ] {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(PushOutcome::of_status(status), outcome, "{status}");
        }
    }
}
