//! What the session says itself in `graphql-transport-ws`
//! (<https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md>),
//! beside what async-graphql's implementation of it sends: the close
//! codes, `error` messages, and the token of a `connection_init`.

use async_graphql::ServerError;
use serde_json::{Value, json};

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

pub fn error(id: &str, errors: &[ServerError]) -> String {
    json!({ "type": "error", "id": id, "payload": errors }).to_string()
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
    fn the_init_token_is_read_from_authorization_in_any_case() {
        let payload = json!({ "authorization": "Bearer abc " });
        assert_eq!(init_token(Some(&payload)), Some("abc"));
        let payload = json!({ "Authorization": "Basic abc" });
        assert_eq!(init_token(Some(&payload)), None);
        assert_eq!(init_token(Some(&json!("Bearer abc"))), None);
        assert_eq!(init_token(None), None);
    }
}
