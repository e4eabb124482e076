//! Live updates: `/graphql` upgraded to a WebSocket speaking
//! `graphql-transport-ws` (the protocol of the `graphql-ws` client).
//!
//! The upgrade request passes the same layers as any GraphQL request
//! (`Origin` and `Host` checks, the rate limit) and counts against the
//! connection caps for as long as the WebSocket is open
//! ([`ConnectionHold`]). At most `--max-websockets` are open at once, and
//! [`MAX_WEBSOCKETS_PER_ADDRESS`] from one client; more are answered `503`. A token in the upgrade's `Authorization` header is
//! checked at once (a wrong one is a `401`); without one, the client
//! presents it in `connection_init` (browsers cannot set headers on a
//! WebSocket), see [`session`]. The session runs on the GraphQL threads,
//! like every query.

mod executor;
mod ledger;
mod messages;
mod metrics;
mod session;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::connections::ConnectionHold;
use super::graphql_run::Runner;
use super::rate_limit::Meter;
use super::tokens::{bearer_token, token_allowed};
use crate::config::HttpLimits;
use crate::graphql::error::{BAD_USER_INPUT, UNAUTHENTICATED};

pub use metrics::LiveMetrics;
pub use session::{INIT_TIMEOUT, MAX_MESSAGE_BYTES, WRITE_TIMEOUT};

/// The subprotocol spoken; a client offering others only is refused.
pub const PROTOCOL: &str = "graphql-transport-ws";

/// The most a message of a subscription may hold (less when
/// `--graphql-max-response-bytes` is less). A wallboard's update is a
/// kilobyte; each of up to `--max-websockets` × 16 subscriptions may have a
/// message being built at once, so this bounds their memory together. A
/// call's pushes in full are read with a query.
pub const MAX_LIVE_MESSAGE_BYTES: usize = 1024 * 1024;

/// WebSockets one client address may hold open. A wallboard holds one; an
/// office behind one address a few. Each is busy once initialised and so
/// never closed to make room: without this bound, one client's WebSockets
/// could take every place its address has under
/// `--max-connections-per-address`, and pushes from it would get `503`.
pub const MAX_WEBSOCKETS_PER_ADDRESS: usize = 16;

/// What the WebSocket side of `/graphql` needs; cheap to clone.
#[derive(Clone)]
pub struct LiveUpdates {
    pub runner: Runner,
    pub api_tokens: Arc<Vec<String>>,
    pub max_websockets: usize,
    pub max_subscriptions: usize,
    pub metrics: LiveMetrics,
    open: Arc<AtomicUsize>,
    by_address: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl LiveUpdates {
    pub fn new(
        runner: Runner,
        api_tokens: Arc<Vec<String>>,
        limits: &HttpLimits,
        metrics: LiveMetrics,
    ) -> LiveUpdates {
        LiveUpdates {
            runner,
            api_tokens,
            max_websockets: limits.max_websockets,
            max_subscriptions: limits.max_subscriptions_per_connection,
            metrics,
            open: Arc::default(),
            by_address: Arc::default(),
        }
    }

    /// Answers an upgrade request: `101` and a session, or why not.
    pub fn accept(
        &self,
        upgrade: WebSocketUpgrade,
        headers: &HeaderMap,
        hold: Option<ConnectionHold>,
        client: Option<IpAddr>,
        meter: Option<Meter>,
    ) -> Response {
        if !offers_protocol(headers) {
            return refusal(
                StatusCode::BAD_REQUEST,
                "this WebSocket speaks graphql-transport-ws only (the graphql-ws client's protocol)",
            );
        }
        let presented = bearer_token(headers);
        if presented.is_some() && !token_allowed(&self.api_tokens, presented) {
            let mut response = refusal(
                StatusCode::UNAUTHORIZED,
                "a valid `Authorization: Bearer TOKEN` header is required",
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"udesk-calls\""),
            );
            return response;
        }
        let place = match WebSocketPlace::take(self, client) {
            Ok(place) => place,
            Err(crowded) => {
                let message = match crowded {
                    Crowded::All => {
                        tracing::warn!(
                            limit = self.max_websockets,
                            "a WebSocket was refused: every place is taken (see --max-websockets)"
                        );
                        "too many WebSocket connections; retry in 5 seconds"
                    }
                    Crowded::Address => {
                        "this address holds too many WebSocket connections; close one, or retry \
                         in 5 seconds"
                    }
                };
                let mut response = refusal(StatusCode::SERVICE_UNAVAILABLE, message);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                return response;
            }
        };
        let session = session::Session {
            schema: self.runner.schema.clone(),
            api_tokens: self.api_tokens.clone(),
            authorized: self.api_tokens.is_empty() || presented.is_some(),
            max_subscriptions: self.max_subscriptions,
            max_message_bytes: self.runner.max_response_bytes.min(MAX_LIVE_MESSAGE_BYTES),
            message_time: self.runner.timeout,
            metrics: self.metrics.clone(),
            stopping: hold.as_ref().map(|hold| hold.stopping.clone()),
            activity: hold.as_ref().map(|hold| hold.activity.clone()),
            meter,
        };
        let runtime = self.runner.runtime.clone();
        upgrade
            .protocols([PROTOCOL])
            .max_message_size(MAX_MESSAGE_BYTES)
            .max_frame_size(MAX_MESSAGE_BYTES)
            .on_upgrade(move |socket| async move {
                // The session marks the connection busy once authenticated.
                let _ = runtime.spawn(session.run(socket)).await;
                drop((hold, place));
            })
    }
}

/// Whether the client offers `graphql-transport-ws`, or no subprotocol.
fn offers_protocol(headers: &HeaderMap) -> bool {
    let mut offered = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .peekable();
    offered.peek().is_none() || offered.any(|protocol| protocol == PROTOCOL)
}

/// A refused upgrade: GraphQL's error shape, with a code.
fn refusal(status: StatusCode, message: &str) -> Response {
    let code = match status {
        StatusCode::UNAUTHORIZED => UNAUTHENTICATED,
        StatusCode::BAD_REQUEST => BAD_USER_INPUT,
        _ => "UNAVAILABLE",
    };
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, axum::Json(body)).into_response()
}

/// Which cap a refused WebSocket met.
enum Crowded {
    All,
    Address,
}

/// One open WebSocket under `--max-websockets` and its address's share;
/// given back when dropped.
struct WebSocketPlace {
    open: Arc<AtomicUsize>,
    metrics: LiveMetrics,
    _share: Option<AddressShare>,
}

impl WebSocketPlace {
    fn take(live: &LiveUpdates, client: Option<IpAddr>) -> Result<WebSocketPlace, Crowded> {
        let share = match client {
            Some(client) => Some(AddressShare::take(&live.by_address, client)?),
            None => None,
        };
        live.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < live.max_websockets).then_some(open + 1)
            })
            .map_err(|_| Crowded::All)?;
        live.metrics.websockets.inc();
        Ok(WebSocketPlace {
            open: live.open.clone(),
            metrics: live.metrics.clone(),
            _share: share,
        })
    }
}

impl Drop for WebSocketPlace {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        self.metrics.websockets.dec();
    }
}

/// One of [`MAX_WEBSOCKETS_PER_ADDRESS`] of a client address; given back
/// when dropped.
struct AddressShare {
    client: IpAddr,
    by_address: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl AddressShare {
    fn take(
        by_address: &Arc<Mutex<HashMap<IpAddr, usize>>>,
        client: IpAddr,
    ) -> Result<AddressShare, Crowded> {
        let mut held = by_address.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(client).or_default();
        if *count >= MAX_WEBSOCKETS_PER_ADDRESS {
            return Err(Crowded::Address);
        }
        *count += 1;
        Ok(AddressShare {
            client,
            by_address: by_address.clone(),
        })
    }
}

impl Drop for AddressShare {
    fn drop(&mut self) {
        let mut held = self
            .by_address
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.client);
            }
        }
    }
}
