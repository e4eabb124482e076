//! The messages of `graphql-transport-ws`
//! (<https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md>):
//! what a client sends, read strictly, and what the server sends.

use async_graphql::ServerError;
use serde::Deserialize;
use serde_json::{Value, json};

/// A message from the client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<Value>,
    },
    Ping {
        #[serde(default)]
        #[allow(dead_code, reason = "read to accept it; a pong carries none")]
        payload: Option<Value>,
    },
    Pong {
        #[serde(default)]
        #[allow(dead_code, reason = "read to accept it, then ignored")]
        payload: Option<Value>,
    },
    Subscribe {
        id: String,
        payload: Box<async_graphql::Request>,
    },
    Complete {
        id: String,
    },
}

/// The close codes of the protocol, with their reasons.
pub mod close {
    pub const BAD_MESSAGE: u16 = 4400;
    pub const UNAUTHORIZED: u16 = 4401;
    pub const FORBIDDEN: u16 = 4403;
    pub const INIT_TIMEOUT: u16 = 4408;
    pub const DUPLICATE_ID: u16 = 4409;
    pub const TOO_MANY_INITS: u16 = 4429;
    /// WebSocket's own "going away": the service is stopping.
    pub const GOING_AWAY: u16 = 1001;
    /// WebSocket's own "try again later": a subscriber fell behind; the
    /// `graphql-ws` client reconnects after it.
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

pub fn connection_ack() -> String {
    json!({ "type": "connection_ack" }).to_string()
}

pub fn pong() -> String {
    json!({ "type": "pong" }).to_string()
}

pub fn next(id: &str, payload: &Value) -> String {
    json!({ "type": "next", "id": id, "payload": payload }).to_string()
}

pub fn error(id: &str, errors: &[ServerError]) -> String {
    json!({ "type": "error", "id": id, "payload": errors }).to_string()
}

pub fn complete(id: &str) -> String {
    json!({ "type": "complete", "id": id }).to_string()
}

/// The token of a `connection_init` payload's `Authorization` (any case of
/// the key) when it reads `Bearer TOKEN`.
pub fn init_token(payload: Option<&Value>) -> Option<&str> {
    payload?
        .as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("authorization"))?
        .1
        .as_str()?
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_are_read_by_their_type() {
        let read = |text: &str| serde_json::from_str::<ClientMessage>(text);
        assert!(matches!(
            read(r#"{"type":"connection_init"}"#),
            Ok(ClientMessage::ConnectionInit { payload: None })
        ));
        assert!(matches!(
            read(r#"{"type":"subscribe","id":"1","payload":{"query":"subscription { callUpdated { conversationId } }"}}"#),
            Ok(ClientMessage::Subscribe { id, .. }) if id == "1"
        ));
        assert!(read(r#"{"type":"subscribe","id":"1"}"#).is_err());
        assert!(read(r#"{"type":"start","id":"1"}"#).is_err());
        assert!(read("[]").is_err());
    }

    #[test]
    fn the_init_token_is_read_from_authorization_in_any_case() {
        let payload = json!({ "authorization": "Bearer abc " });
        assert_eq!(init_token(Some(&payload)), Some("abc"));
        let payload = json!({ "Authorization": "Basic abc" });
        assert_eq!(init_token(Some(&payload)), None);
        assert_eq!(init_token(Some(&json!("Bearer abc"))), None);
        assert_eq!(init_token(None), None);
    }
}
