//! One `graphql-transport-ws` session on an upgraded `/graphql`.
//!
//! The client has [`INIT_TIMEOUT`] to send `connection_init`; with tokens
//! configured and none accepted in the upgrade's header, its payload must
//! carry `{"Authorization": "Bearer TOKEN"}`, else the socket is closed
//! with `4403`. Only subscriptions are served here (queries and mutations
//! go to `POST /graphql`, with its time and size limits); each is measured
//! by the schema's limits like any request, and a connection holds at most
//! `--max-subscriptions-per-connection` at once.
//!
//! Nothing here buffers without bound: updates wait in the shared,
//! bounded buffer of `graphql::subscription` until this session takes them,
//! one at a time, and a write the client does not take within
//! [`WRITE_TIMEOUT`] closes the connection. A subscription that fell behind
//! sends its `SUBSCRIBER_TOO_SLOW` error and the connection is closed with
//! `1013` (try again later), which the `graphql-ws` client answers by
//! reconnecting.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::ServerError;
use async_graphql::parser::types::{DocumentOperations, OperationType};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use tokio::sync::watch;

use super::messages::{self, ClientMessage, close};
use super::metrics::LiveMetrics;
use super::operations::Operations;
use crate::graphql::ApiSchema;
use crate::graphql::budget::RequestBudget;
use crate::graphql::cost::check_length;
use crate::graphql::error::{BAD_USER_INPUT, with_code};
use crate::http::rate_limit::Meter;
use crate::http::timeouts::{Activity, InFlight};
use crate::http::tokens::token_allowed;

/// How long a client has from the upgrade to its `connection_init`.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one message may wait for the client to take it.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the server pings: keeps proxies from closing a quiet socket.
const PING_EVERY: Duration = Duration::from_secs(30);
/// The largest message a client may send (a query document is at most 64 KiB).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// The code of a subscription refused for the connection's limit.
const TOO_MANY_SUBSCRIPTIONS: &str = "TOO_MANY_SUBSCRIPTIONS";

/// A session's settings, from the upgrade.
pub struct Session {
    pub schema: ApiSchema,
    pub api_tokens: Arc<Vec<String>>,
    /// True when no token is needed, or the upgrade's header carried one.
    pub authorized: bool,
    pub max_subscriptions: usize,
    /// Each message is bounded as one answer is: in bytes and in time.
    pub max_message_bytes: usize,
    pub message_time: Duration,
    pub metrics: LiveMetrics,
    pub stopping: Option<watch::Receiver<bool>>,
    /// The connection's phase under the connection caps: until the client
    /// is acknowledged it may be closed to make room, as a connection
    /// that sent nothing may; from then on it is busy.
    pub activity: Option<Arc<Activity>>,
    /// What the subscriptions' work is charged to (the upgrade's client,
    /// until `connection_init` names a token); `None` without a rate limit.
    pub meter: Option<Meter>,
}

/// The longest a session holds back its updates at once while its client
/// is in debt: it still answers pings and completions between.
const MOST_HELD_BACK: Duration = Duration::from_secs(1);

/// Why a session ends with a close frame: its code and reason.
pub type Closing = (u16, String);

impl Session {
    /// Serves the socket until either side closes it.
    pub async fn run(self, mut socket: WebSocket) {
        let mut state = State {
            acked: false,
            busy: None,
            operations: Operations::new(self.metrics.clone(), self.max_message_bytes),
            meter: self.meter.clone(),
            held_back: None,
        };
        let made_room = made_room(self.activity.clone());
        let init_deadline = tokio::time::sleep(INIT_TIMEOUT);
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        let stopping = stopped(self.stopping.clone());
        tokio::pin!(init_deadline, stopping, made_room);
        let closing: Option<Closing> = loop {
            let reply = tokio::select! {
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Text(text))) => match self.on_message(text.as_str(), &mut state) {
                        Ok(reply) => reply,
                        Err(closing) => break Some(closing),
                    },
                    Some(Ok(Message::Binary(_))) => {
                        break Some((close::BAD_MESSAGE, "messages are JSON text".into()));
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => None,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break None,
                },
                () = held_back(state.held_back), if state.held_back.is_some() => {
                    state.held_back = state.meter.as_ref().and_then(Meter::debt)
                        .map(|wait| tokio::time::Instant::now() + wait.min(MOST_HELD_BACK));
                    None
                }
                Some((id, response)) = state.operations.next(), if state.held_back.is_none() => {
                    if let (Some(meter), Some(work)) = (&state.meter, state.operations.work(&id)) {
                        meter.charge(work);
                        state.held_back = meter.debt()
                            .map(|wait| tokio::time::Instant::now() + wait.min(MOST_HELD_BACK));
                    }
                    match state.operations.outcome(&id, response) {
                        Ok(reply) => reply,
                        Err((last, closing)) => {
                            let _ = send(&mut socket, Message::text(last)).await;
                            break Some(closing);
                        }
                    }
                }
                () = &mut init_deadline, if !state.acked => {
                    break Some((close::INIT_TIMEOUT, "Connection initialisation timeout".into()));
                }
                () = &mut made_room, if !state.acked => {
                    let reason = "too many connections: this one was not initialised yet; retry";
                    break Some((close::TRY_AGAIN_LATER, reason.into()));
                }
                _ = ping.tick() => Some(Message::Ping(Default::default())),
                () = &mut stopping => break Some((close::GOING_AWAY, "the service is stopping".into())),
            };
            if let Some(reply) = reply {
                match send_within_limit(&mut socket, reply).await {
                    Ok(()) => {}
                    Err(Unsent::TimedOut) => {
                        // A client that stopped reading is as slow as a
                        // subscriber that fell behind: counted and told in
                        // the log, though it cannot be told itself.
                        self.metrics.too_slow.inc();
                        tracing::warn!(
                            seconds = WRITE_TIMEOUT.as_secs(),
                            "a WebSocket client took no message in time; its connection was closed"
                        );
                        break None;
                    }
                    Err(Unsent::Closed) => break None,
                }
            }
        };
        if let Some((code, reason)) = closing {
            let frame = CloseFrame {
                code,
                reason: short(&reason).into(),
            };
            let _ = send(&mut socket, Message::Close(Some(frame))).await;
        }
    }

    /// What to answer a client's message with, or why to close.
    fn on_message(&self, text: &str, state: &mut State) -> Result<Option<Message>, Closing> {
        let message: ClientMessage = serde_json::from_str(text)
            .map_err(|error| (close::BAD_MESSAGE, format!("Invalid message: {error}")))?;
        let reply = match message {
            ClientMessage::ConnectionInit { payload } => {
                if state.acked {
                    let reason = "Too many initialisation requests";
                    return Err((close::TOO_MANY_INITS, reason.into()));
                }
                let presented = messages::init_token(payload.as_ref());
                if !self.authorized && !token_allowed(&self.api_tokens, presented) {
                    let reason = "Forbidden: connection_init must carry {\"Authorization\": \"Bearer TOKEN\"}";
                    return Err((close::FORBIDDEN, reason.into()));
                }
                state.meter = state.meter.as_ref().map(|meter| meter.for_token(presented));
                state.acked = true;
                state.busy = self
                    .activity
                    .as_ref()
                    .map(|activity| activity.request_began());
                messages::connection_ack()
            }
            ClientMessage::Ping { .. } => messages::pong(),
            ClientMessage::Pong { .. } => return Ok(None),
            ClientMessage::Subscribe { id, payload } => {
                if !state.acked {
                    return Err((close::UNAUTHORIZED, "Unauthorized".into()));
                }
                if state.operations.running(&id) {
                    let reason = format!("Subscriber for {id} already exists");
                    return Err((close::DUPLICATE_ID, reason));
                }
                if state.operations.count() >= self.max_subscriptions {
                    let refusal = ServerError::new(
                        format!(
                            "this connection already holds {} subscriptions, the limit \
                             (--max-subscriptions-per-connection); complete one first",
                            self.max_subscriptions
                        ),
                        None,
                    );
                    messages::error(&id, &[with_code(refusal, TOO_MANY_SUBSCRIPTIONS)])
                } else if let Some(refusal) = not_a_subscription(&payload) {
                    messages::error(&id, &[refusal])
                } else {
                    let budget = RequestBudget::new(1, self.max_message_bytes, self.message_time);
                    let updates = self.schema.execute_stream(payload.data(budget.clone()));
                    state.operations.start(id, updates, budget);
                    return Ok(None);
                }
            }
            ClientMessage::Complete { id } => {
                state.operations.stop(&id);
                return Ok(None);
            }
        };
        Ok(Some(Message::text(reply)))
    }
}

struct State {
    acked: bool,
    /// Held once acknowledged: the connection is never closed to make room.
    busy: Option<InFlight>,
    operations: Operations,
    meter: Option<Meter>,
    /// Until when updates are held back: the client spent its points.
    held_back: Option<tokio::time::Instant>,
}

async fn held_back(until: Option<tokio::time::Instant>) {
    if let Some(until) = until {
        tokio::time::sleep_until(until).await;
    }
}

/// Resolves once the connection is closed to make room; never without one.
async fn made_room(activity: Option<Arc<Activity>>) {
    match activity {
        Some(activity) => activity.made_room().await,
        None => std::future::pending().await,
    }
}

/// Resolves once the service begins to stop; never without a signal.
async fn stopped(stopping: Option<watch::Receiver<bool>>) {
    match stopping {
        Some(mut stopping) => {
            let _ = stopping.wait_for(|stopping| *stopping).await;
        }
        None => std::future::pending().await,
    }
}

/// Why a message could not be sent.
enum Unsent {
    /// The client took nothing for [`WRITE_TIMEOUT`].
    TimedOut,
    Closed,
}

/// Sends one message, within [`WRITE_TIMEOUT`].
async fn send_within_limit(socket: &mut WebSocket, message: Message) -> Result<(), Unsent> {
    match tokio::time::timeout(WRITE_TIMEOUT, socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Unsent::Closed),
        Err(_) => Err(Unsent::TimedOut),
    }
}

/// Sends one message, within [`WRITE_TIMEOUT`]; false when it could not be.
async fn send(socket: &mut WebSocket, message: Message) -> bool {
    send_within_limit(socket, message).await.is_ok()
}

/// A close reason fits in 123 bytes.
fn short(reason: &str) -> String {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

/// An error for a request that is no subscription; a document that does
/// not parse is left to the schema, which reports why.
fn not_a_subscription(request: &async_graphql::Request) -> Option<ServerError> {
    check_length(&request.query).ok()?;
    let document = async_graphql::parser::parse_query(&request.query).ok()?;
    let kind = match &document.operations {
        DocumentOperations::Single(operation) => Some(operation.node.ty),
        DocumentOperations::Multiple(operations) => request
            .operation_name
            .as_ref()
            .and_then(|name| operations.get(name.as_str()))
            .map(|operation| operation.node.ty),
    };
    if kind == Some(OperationType::Subscription) || kind.is_none() {
        return None;
    }
    let refusal = ServerError::new(
        "only subscriptions are served over WebSocket; send queries to POST /graphql",
        None,
    );
    Some(with_code(refusal, BAD_USER_INPUT))
}
