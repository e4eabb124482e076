//! A `graphql-transport-ws` client over a real WebSocket, as the
//! `graphql-ws` npm client speaks it: connects to `/graphql`, initialises
//! (with a token or not), subscribes, and reads what the server sends.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{WebSocketStream, client_async};

use super::TestApp;

/// How long a test waits for one message.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The fields a subscription in these tests asks for.
pub const CALL_FIELDS: &str =
    "conversationId status lastOccasion workflow agentId callResult totalTime eventCount";

/// What the server sent: a message, or the close of the socket.
#[derive(Debug)]
pub enum Received {
    Message(Value),
    Closed(u16, String),
}

pub struct Subscriber {
    socket: WebSocketStream<TcpStream>,
}

/// How to open the socket.
#[derive(Default)]
pub struct Upgrade<'a> {
    pub header_token: Option<&'a str>,
    pub origin: Option<&'a str>,
    /// A small receive buffer, so a client that does not read holds up the
    /// server soon.
    pub receive_buffer: Option<u32>,
}

impl Subscriber {
    /// Opens the WebSocket; the upgrade's status when it is refused.
    pub async fn open(app: &TestApp, upgrade: Upgrade<'_>) -> Result<Subscriber, u16> {
        let mut request = format!("ws://{}/graphql", app.address)
            .into_client_request()
            .unwrap();
        let headers = request.headers_mut();
        headers.insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        if let Some(token) = upgrade.header_token {
            headers.insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
            );
        }
        if let Some(origin) = upgrade.origin {
            headers.insert("origin", HeaderValue::from_str(origin).unwrap());
        }
        let socket = TcpSocket::new_v4().unwrap();
        if let Some(size) = upgrade.receive_buffer {
            socket.set_recv_buffer_size(size).unwrap();
        }
        let stream = socket.connect(app.address).await.unwrap();
        match client_async(request, stream).await {
            Ok((socket, response)) => {
                assert_eq!(
                    response.headers()["sec-websocket-protocol"],
                    "graphql-transport-ws"
                );
                Ok(Subscriber { socket })
            }
            Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(error) => panic!("the upgrade failed: {error}"),
        }
    }

    /// Opens and initialises the connection (with `token` in `connection_init`); must be acknowledged.
    pub async fn connect(app: &TestApp, token: Option<&str>) -> Subscriber {
        let mut subscriber = Subscriber::open(app, Upgrade::default()).await.unwrap();
        subscriber.init(token).await;
        match subscriber.receive().await {
            Received::Message(ack) => assert_eq!(ack["type"], "connection_ack", "{ack}"),
            closed => panic!("not acknowledged: {closed:?}"),
        }
        subscriber
    }

    pub async fn init(&mut self, token: Option<&str>) {
        let payload = match token {
            Some(token) => json!({ "Authorization": format!("Bearer {token}") }),
            None => json!({}),
        };
        self.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
    }

    pub async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
    }

    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.socket
            .send(Message::binary(bytes.to_vec()))
            .await
            .unwrap();
    }

    /// Subscribes to `callUpdated` with `filter` (JSON null for none).
    pub async fn subscribe(&mut self, id: &str, filter: Value) {
        self.subscribe_to(id, CALL_FIELDS, filter).await;
    }

    /// Subscribes to `callUpdated` with `filter`, asking for `fields`.
    pub async fn subscribe_to(&mut self, id: &str, fields: &str, filter: Value) {
        let query = format!(
            "subscription Live($filter: CallFilter) {{ callUpdated(filter: $filter) {{ {fields} }} }}"
        );
        self.send(json!({
            "type": "subscribe",
            "id": id,
            "payload": { "query": query, "variables": { "filter": filter } },
        }))
        .await;
    }

    /// Pings and waits for the pong: the server has then read everything
    /// sent before (subscriptions are running).
    pub async fn sync(&mut self) {
        self.send(json!({ "type": "ping" })).await;
        match self.receive().await {
            Received::Message(pong) if pong["type"] == "pong" => {}
            other => panic!("expected a pong, got {other:?}"),
        }
    }

    /// The next message or close, within [`PATIENCE`].
    pub async fn receive(&mut self) -> Received {
        self.receive_within(PATIENCE)
            .await
            .expect("the server sent nothing in time")
    }

    /// The next message or close within `wait`; `None` when nothing came.
    pub async fn receive_within(&mut self, wait: Duration) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()?;
            return Some(match next {
                Some(Ok(Message::Text(text))) => {
                    Received::Message(serde_json::from_str(&text).unwrap())
                }
                Some(Ok(Message::Close(frame))) => match frame {
                    Some(frame) => {
                        Received::Closed(u16::from(frame.code), frame.reason.to_string())
                    }
                    None => Received::Closed(u16::from(CloseCode::Status), String::new()),
                },
                Some(Ok(_)) => continue,
                Some(Err(error)) => Received::Closed(0, error.to_string()),
                None => Received::Closed(0, "the socket ended".into()),
            });
        }
    }

    /// The next message, which must be `next` for `id`: its call.
    pub async fn next_call(&mut self, id: &str) -> Value {
        match self.receive().await {
            Received::Message(message) if message["type"] == "next" && message["id"] == id => {
                assert!(message["payload"].get("errors").is_none(), "{message}");
                message["payload"]["data"]["callUpdated"].clone()
            }
            other => panic!("expected an update for {id}, got {other:?}"),
        }
    }

    /// Asserts that nothing arrives within `wait`.
    pub async fn expect_quiet(&mut self, wait: Duration) {
        if let Some(received) = self.receive_within(wait).await {
            panic!("expected nothing, got {received:?}");
        }
    }
}

/// A push of one call, as JSON: `end` pushes carry a result and a talk time.
pub fn push(conversation_id: i64, occasion: &str, workflow: &str, second: u32) -> Value {
    json!({
        "conversation_id": conversation_id,
        "occasion": occasion,
        "timestamp": format!("2024-05-06 09:00:{second:02} +0800"),
        "agent_id": 1000 + conversation_id,
        "workflow": workflow,
        "call_result": if occasion == "end" { "客户接听" } else { "进行中" },
        "total_time": if occasion == "end" { json!(42) } else { Value::Null },
    })
}

/// How the socket was closed; panics on a message instead.
pub fn closed(received: Received) -> (u16, String) {
    match received {
        Received::Closed(code, reason) => (code, reason),
        Received::Message(message) => panic!("expected the socket to close, got {message}"),
    }
}
