//! The HTTP transport: the webhook, GraphQL, and the server around them.
//!
//! Request logs name the method and path only: a push URL carries its token
//! in the query string, and a token must never reach a log line.

pub mod graphiql;
pub mod graphql;
pub mod tokens;
pub mod webhook;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::http::Request;
use axum::routing::post;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::config::Settings;
use crate::storage::Store;

/// What every handler may use; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub settings: Arc<Settings>,
}

pub fn router(state: AppState) -> Router {
    let graphql = graphql::routes(&state);
    Router::new()
        .route("/webhooks/udesk/calls", post(webhook::receive_push))
        .with_state(state)
        .merge(graphql)
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                tracing::info_span!("http", method = %request.method(), path = %request.uri().path())
            }),
        )
}

/// Serves `store` on `listener` until `shutdown` completes, then lets
/// in-flight requests finish and the writer commit what it holds.
pub async fn serve(
    listener: TcpListener,
    store: Arc<Store>,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = AppState {
        store: store.clone(),
        settings: Arc::new(settings),
    };
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await;
    store.close().await;
    served
}
