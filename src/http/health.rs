//! `GET /livez` and `GET /readyz`: what a supervisor or a load balancer asks.
//!
//! Liveness is the process answering at all, and holds while a long
//! migration runs: a supervisor that restarted a migrating service would
//! never let it finish. Readiness is whether a push sent now would be
//! committed: the database is open, the writer thread runs, and the service
//! is not shutting down (the flag is set before requests drain), and the
//! background integrity check has found nothing wrong. Neither needs
//! a token, and neither answer says anything about the data.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::storage::Store;

const STARTING: u8 = 0;
const OPEN: u8 = 1;
const DRAINING: u8 = 2;

/// Where the service is in its life, shared by the server and the probes.
#[derive(Clone, Default)]
pub struct Readiness(Arc<Life>);

#[derive(Default)]
struct Life {
    phase: AtomicU8,
    store: OnceLock<Arc<Store>>,
}

/// What `/readyz` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadyState {
    /// The database is being opened or migrated.
    Starting,
    Ready,
    /// Open, but the writer no longer runs or the store is closing.
    Unavailable,
    /// The background integrity check found the file damaged: pushes are
    /// still committed where they can be, but it needs restoring.
    Corrupt,
    ShuttingDown,
}

impl ReadyState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReadyState::Starting => "starting",
            ReadyState::Ready => "ready",
            ReadyState::Unavailable => "unavailable",
            ReadyState::Corrupt => "corrupt",
            ReadyState::ShuttingDown => "shutting down",
        }
    }
}

impl Readiness {
    /// A service whose database is not open yet.
    pub fn starting() -> Readiness {
        Readiness::default()
    }

    /// The database is open and migrated. Has no effect once draining began.
    pub fn opened(&self, store: Arc<Store>) {
        let _ = self.0.store.set(store);
        let _ = self
            .0
            .phase
            .compare_exchange(STARTING, OPEN, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Shutdown began: from now on the service is not ready.
    pub fn draining(&self) {
        self.0.phase.store(DRAINING, Ordering::SeqCst);
    }

    pub fn state(&self) -> ReadyState {
        match self.0.phase.load(Ordering::SeqCst) {
            STARTING => ReadyState::Starting,
            DRAINING => ReadyState::ShuttingDown,
            _ => match self.0.store.get() {
                Some(store) if !store.takes_writes() => ReadyState::Unavailable,
                Some(store) if store.integrity().is_corrupt() => ReadyState::Corrupt,
                Some(_) => ReadyState::Ready,
                _ => ReadyState::Unavailable,
            },
        }
    }
}

/// The probes, with their own state: they answer before the app exists.
pub fn routes(readiness: Readiness) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .with_state(readiness)
}

async fn livez() -> Response {
    answer(StatusCode::OK, "live")
}

async fn readyz(State(readiness): State<Readiness>) -> Response {
    let state = readiness.state();
    let status = if state == ReadyState::Ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    answer(status, state.as_str())
}

fn answer(status: StatusCode, state: &str) -> Response {
    let mut response = (status, Json(json!({ "status": state }))).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
