//! One live-update session on an upgraded `/graphql`. async-graphql-axum's
//! `GraphQLWebSocket` speaks `graphql-transport-ws` (acks, pongs, `next`
//! and `complete`, many subscriptions at once); around it, a reader and a
//! writer of the session's own keep what its implementation does not:
//!
//! - the reader checks each client message before the protocol sees it:
//!   the token of `connection_init` when the upgrade carried none (else
//!   `4403`), one init (`4429`), no subscribe before the ack (`4401`), no
//!   duplicate id (`4409`), at most `--max-subscriptions-per-connection`
//!   at once and subscriptions only (refused with an `error`), JSON text
//!   only (`4400`);
//! - the writer sends within [`WRITE_TIMEOUT`] (a client that takes
//!   nothing is closed), pings every 30 s, closes with `4408` when no
//!   `connection_init` came within [`INIT_TIMEOUT`], with `1013` when the
//!   connection was closed to make room before its ack, with `1001` when
//!   the service stops, and sends an `error` in place of the `complete`
//!   of a subscription that failed (see [`Ledger`]).
//!
//! Nothing here buffers without bound: each channel holds one message,
//! updates wait in the bounded buffer of `graphql::subscription`, and the
//! protocol reads the client only as fast as it is answered.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::ServerError;
use async_graphql::http::ClientMessage;
use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::FromRequestParts;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::PollSender;

use super::executor::LiveExecutor;
use super::ledger::{Closing, Ledger};
use super::messages::{self, close};
use super::metrics::LiveMetrics;
use crate::graphql::ApiSchema;
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

/// How async-graphql writes the two messages the writer looks out for.
const ACK: &str = r#"{"type":"connection_ack"}"#;
const COMPLETE: &str = r#"{"type":"complete","id":"#;

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

/// What the reader does with a client's message.
enum Decision {
    /// Hand it to the protocol.
    Pass,
    /// Answer it with this message, without the protocol.
    Answer(String),
    Ignore,
    Close(Closing),
}

impl Session {
    /// Serves the socket until either side closes it.
    pub async fn run(self, socket: WebSocket) {
        let ledger = Arc::new(Ledger::new(self.meter.clone()));
        let executor = LiveExecutor {
            schema: self.schema.clone(),
            ledger: ledger.clone(),
            metrics: self.metrics.clone(),
            max_message_bytes: self.max_message_bytes,
            message_time: self.message_time,
        };
        let (to_protocol, from_reader) = mpsc::channel(1);
        let (outgoing, to_socket) = mpsc::channel(1);
        let (socket_sink, socket_stream) = socket.split();
        let protocol_input = futures_util::stream::unfold(from_reader, |mut from_reader| async {
            let message = from_reader.recv().await?;
            Some((Ok::<Message, axum::Error>(message), from_reader))
        });
        let protocol = GraphQLWebSocket::new_with_pair(
            PollSender::new(outgoing.clone()),
            protocol_input,
            executor,
            transport_ws(),
        )
        .serve();
        let reader = self.read(socket_stream, to_protocol, outgoing, &ledger);
        let writer = self.write(socket_sink, to_socket, &ledger);
        tokio::pin!(writer);
        tokio::select! {
            () = &mut writer => {}
            _ = futures_util::future::join(reader, protocol) => writer.await,
        }
    }

    /// Reads the client's messages until it closes, or one closes the
    /// session (then that close is queued for the writer).
    async fn read(
        &self,
        mut incoming: SplitStream<WebSocket>,
        to_protocol: mpsc::Sender<Message>,
        outgoing: mpsc::Sender<Message>,
        ledger: &Ledger,
    ) {
        let mut init_seen = false;
        while let Some(Ok(message)) = incoming.next().await {
            let decision = match &message {
                Message::Text(text) => self.decide(text.as_str(), &mut init_seen, ledger),
                Message::Binary(_) => {
                    Decision::Close((close::BAD_MESSAGE, "messages are JSON text".into()))
                }
                Message::Ping(_) | Message::Pong(_) => Decision::Ignore,
                Message::Close(_) => return,
            };
            let sent = match decision {
                Decision::Pass => to_protocol.send(message).await.is_ok(),
                Decision::Answer(text) => outgoing.send(Message::text(text)).await.is_ok(),
                Decision::Ignore => true,
                Decision::Close(closing) => {
                    let _ = outgoing.send(close_frame(closing)).await;
                    return;
                }
            };
            if !sent {
                return;
            }
        }
    }

    fn decide(&self, text: &str, init_seen: &mut bool, ledger: &Ledger) -> Decision {
        let message = match serde_json::from_str::<ClientMessage>(text) {
            Ok(message) => message,
            Err(error) => {
                return Decision::Close((close::BAD_MESSAGE, format!("Invalid message: {error}")));
            }
        };
        let mut entries = ledger.entries();
        match message {
            ClientMessage::ConnectionInit { payload } => {
                if *init_seen {
                    let reason = "Too many initialisation requests";
                    return Decision::Close((close::TOO_MANY_INITS, reason.into()));
                }
                let presented = messages::init_token(payload.as_ref());
                if !self.authorized && !token_allowed(&self.api_tokens, presented) {
                    let reason = "Forbidden: connection_init must carry {\"Authorization\": \"Bearer TOKEN\"}";
                    return Decision::Close((close::FORBIDDEN, reason.into()));
                }
                *init_seen = true;
                entries.meter = entries
                    .meter
                    .as_ref()
                    .map(|meter| meter.for_token(presented));
                Decision::Pass
            }
            ClientMessage::Start { id, payload } => {
                if !entries.acked {
                    return Decision::Close((close::UNAUTHORIZED, "Unauthorized".into()));
                }
                if entries.running.contains(&id) {
                    let reason = format!("Subscriber for {id} already exists");
                    return Decision::Close((close::DUPLICATE_ID, reason));
                }
                if entries.running.len() >= self.max_subscriptions {
                    let refusal = ServerError::new(
                        format!(
                            "this connection already holds {} subscriptions, the limit \
                             (--max-subscriptions-per-connection); complete one first",
                            self.max_subscriptions
                        ),
                        None,
                    );
                    let refusal = with_code(refusal, TOO_MANY_SUBSCRIPTIONS);
                    return Decision::Answer(messages::error(&id, &[refusal]));
                }
                if let Some(refusal) = not_a_subscription(&payload) {
                    return Decision::Answer(messages::error(&id, &[refusal]));
                }
                entries.running.insert(id.clone());
                entries.starting.push_back(id);
                Decision::Pass
            }
            ClientMessage::Stop { id } => {
                if entries.running.remove(&id) {
                    entries.completed_by_client.insert(id);
                    Decision::Pass
                } else {
                    Decision::Ignore
                }
            }
            // async-graphql answers with a pong.
            ClientMessage::Ping { .. } => Decision::Pass,
            ClientMessage::Pong { .. } => Decision::Ignore,
            ClientMessage::ConnectionTerminate => Decision::Close((
                close::BAD_MESSAGE,
                "connection_terminate is not part of graphql-transport-ws".into(),
            )),
        }
    }

    /// Writes what the reader and the protocol queue, and the session's
    /// own pings and closes, until the session ends.
    async fn write(
        &self,
        mut sink: SplitSink<WebSocket, Message>,
        mut to_socket: mpsc::Receiver<Message>,
        ledger: &Ledger,
    ) {
        let mut busy: Option<InFlight> = None;
        let made_room = made_room(self.activity.clone());
        let init_deadline = tokio::time::sleep(INIT_TIMEOUT);
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        let stopping = stopped(self.stopping.clone());
        tokio::pin!(init_deadline, stopping, made_room);
        let closing: Option<Closing> = loop {
            let acked = busy.is_some() || ledger.acked();
            let (message, then_close) = tokio::select! {
                next = to_socket.recv() => match next {
                    None => break None,
                    Some(Message::Close(frame)) => {
                        break frame.map(|frame| (frame.code, frame.reason.to_string()));
                    }
                    Some(Message::Text(text)) if text.as_str() == ACK => {
                        ledger.entries().acked = true;
                        busy = self.activity.as_ref().map(|activity| activity.request_began());
                        (Some(Message::Text(text)), None)
                    }
                    Some(Message::Text(text)) if text.as_str().starts_with(COMPLETE) => {
                        let id = completed_id(text.as_str());
                        let (send, then_close) = ledger.on_complete(&id, text.to_string());
                        (send.map(Message::text), then_close)
                    }
                    Some(message) => (Some(message), None),
                },
                _ = ping.tick() => (Some(Message::Ping(Default::default())), None),
                () = &mut init_deadline, if !acked => {
                    break Some((close::INIT_TIMEOUT, "Connection initialisation timeout".into()));
                }
                () = &mut made_room, if !acked => {
                    let reason = "too many connections: this one was not initialised yet; retry";
                    break Some((close::TRY_AGAIN_LATER, reason.into()));
                }
                () = &mut stopping => break Some((close::GOING_AWAY, "the service is stopping".into())),
            };
            if let Some(message) = message {
                match send_within_limit(&mut sink, message).await {
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
            if then_close.is_some() {
                break then_close;
            }
        };
        if let Some(closing) = closing {
            let _ = send_within_limit(&mut sink, close_frame(closing)).await;
        }
        drop(busy);
    }
}

/// The protocol async-graphql-axum is to speak. Its value is only made by
/// its extractor, from an upgrade's header; a client that offers no
/// subprotocol (some do not) is spoken to in `graphql-transport-ws` too.
fn transport_ws() -> GraphQLProtocol {
    let (mut parts, ()) = axum::http::Request::builder()
        .header(axum::http::header::SEC_WEBSOCKET_PROTOCOL, super::PROTOCOL)
        .body(())
        .expect("a request of one header")
        .into_parts();
    GraphQLProtocol::from_request_parts(&mut parts, &())
        .now_or_never()
        .and_then(Result::ok)
        .expect("async-graphql-axum speaks graphql-transport-ws")
}

/// The id of async-graphql's `{"type":"complete","id":"…"}`.
fn completed_id(text: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Complete {
        id: String,
    }
    serde_json::from_str::<Complete>(text)
        .map(|complete| complete.id)
        .unwrap_or_default()
}

fn close_frame((code, reason): Closing) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: short(&reason).into(),
    }))
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
async fn send_within_limit(
    sink: &mut SplitSink<WebSocket, Message>,
    message: Message,
) -> Result<(), Unsent> {
    match tokio::time::timeout(WRITE_TIMEOUT, sink.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Unsent::Closed),
        Err(_) => Err(Unsent::TimedOut),
    }
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
