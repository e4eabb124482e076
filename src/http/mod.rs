//! The HTTP transport: the webhook, GraphQL (and its live updates over
//! WebSocket), the wallboard page, health, metrics, and the server around
//! them.
//!
//! Request logs name the method and path only: a push URL carries its token
//! in the query string, and a token must never reach a log line.

pub mod body_deadline;
pub mod browsers;
mod connection_caps;
mod connections;
mod export;
mod forwarded;
pub mod graphiql;
pub mod graphql;
mod graphql_run;
pub mod health;
mod home;
pub mod metrics;
pub mod rate_limit;
mod recordings;
mod request_log;
mod server;
pub mod timeouts;
pub mod tokens;
pub mod wallboard;
pub mod webhook;
pub mod websocket;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};

use crate::config::Settings;
use crate::storage::Store;

pub use connections::listen;
pub use server::{DRAIN_LIMIT, ServeError, serve, serve_opening};

/// What every handler may use; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    /// Where recordings are kept (`--recordings-to`), if anywhere.
    pub archive: Option<Arc<crate::recordings::archive::Archive>>,
    pub settings: Arc<Settings>,
    /// This app's own registry: apps in one process never share counts.
    pub metrics: Arc<metrics::Metrics>,
    /// The address served: the DNS-rebinding rule applies on loopback only.
    pub listening_on: SocketAddr,
}

/// The app once its database is open; `/livez` and `/readyz` are served in
/// front of it (see `server`).
pub fn router(state: AppState) -> Router {
    let counted = state.metrics.clone();
    let settings = &state.settings;
    let mut graphql = graphql::routes(&state);
    if let Some(limit) =
        rate_limit::GraphqlRateLimit::new(&settings.http_limits, &settings.api_tokens)
    {
        graphql = graphql.route_layer(from_fn_with_state(limit, rate_limit::limit_graphql));
    }
    let graphql = graphql
        .route_layer(from_fn_with_state(
            browsers::OtherOrigins::from_settings(&settings.cors_origins),
            browsers::refuse_other_sites,
        ))
        .route_layer(from_fn_with_state(counted.clone(), metrics::track_graphql));
    let mut webhook = post(webhook::receive_push).route_layer(from_fn_with_state(
        browsers::OtherOrigins::None,
        browsers::refuse_other_sites,
    ));
    if browsers::guards_host(settings.webhook_tokens.is_empty(), state.listening_on) {
        webhook = webhook.route_layer(from_fn(browsers::refuse_other_hosts));
    }
    let wallboard = Router::new()
        .route("/wallboard", get(wallboard::page))
        .with_state(settings.default_offset)
        .route("/wallboard/{file}", get(wallboard::asset));
    let export = Router::new()
        .route("/export/{file}", get(export::calls))
        .route_layer(from_fn_with_state(
            browsers::OtherOrigins::from_settings(&settings.cors_origins),
            browsers::refuse_other_sites,
        ))
        .with_state(export::ExportState::new(
            state.store.clone(),
            state.settings.clone(),
        ));
    let recordings = recordings::routes(&state).route_layer(from_fn_with_state(
        browsers::OtherOrigins::from_settings(&settings.cors_origins),
        browsers::refuse_other_sites,
    ));
    let mut api = Router::new()
        .route("/", get(home::page))
        .route("/schema.graphql", get(home::schema))
        .route("/metrics", get(metrics::scrape))
        .with_state(state.clone())
        .merge(graphql)
        .merge(wallboard)
        .merge(export)
        .merge(recordings);
    if browsers::guards_host(settings.api_tokens.is_empty(), state.listening_on) {
        api = api.route_layer(from_fn(browsers::refuse_other_hosts));
    }
    Router::new()
        .route(
            "/webhooks/udesk/calls",
            webhook.route_layer(from_fn_with_state(counted, metrics::track_push)),
        )
        .with_state(state)
        .merge(api)
        .fallback(home::not_found)
}
