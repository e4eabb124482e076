//! The HTTP transport: the webhook, GraphQL, health, metrics, and the server
//! around them.
//!
//! Request logs name the method and path only: a push URL carries its token
//! in the query string, and a token must never reach a log line.

pub mod graphiql;
pub mod graphql;
mod graphql_run;
pub mod health;
pub mod metrics;
mod request_log;
mod server;
pub mod tokens;
pub mod webhook;

use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};

use crate::config::Settings;
use crate::storage::Store;

pub use server::{DRAIN_LIMIT, ServeError, serve, serve_opening};

/// What every handler may use; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub settings: Arc<Settings>,
    /// This app's own registry: apps in one process never share counts.
    pub metrics: Arc<metrics::Metrics>,
}

/// The app once its database is open; `/livez` and `/readyz` are served in
/// front of it (see `server`).
pub fn router(state: AppState) -> Router {
    let counted = state.metrics.clone();
    let graphql = graphql::routes(&state)
        .route_layer(from_fn_with_state(counted.clone(), metrics::track_graphql));
    Router::new()
        .route(
            "/webhooks/udesk/calls",
            post(webhook::receive_push)
                .route_layer(from_fn_with_state(counted, metrics::track_push)),
        )
        .route("/metrics", get(metrics::scrape))
        .with_state(state)
        .merge(graphql)
}
