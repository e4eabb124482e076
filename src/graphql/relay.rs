//! Relay's object identification: `interface Node { id: ID! }`, the opaque
//! ids that name an object of any type, and `Query.node(id:)` to refetch one.
//!
//! An id is base64 of `Type:key` (`Call:54093`), as graphql-relay-js makes
//! them: derived from the key alone, so it is the same after a restart, a
//! `reprocess` or a restore. Clients treat it as opaque; an id that does
//! not decode, names another type or a call that is not stored names
//! nothing, and `node` answers null.

use async_graphql::{ID, Interface};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::domain::{Call, ConversationId};

/// An object with an id that `Query.node` fetches again (Relay's refetching,
/// a normalized cache's key).
#[derive(Interface)]
#[graphql(field(
    name = "id",
    ty = "ID",
    desc = "An opaque id, stable across restarts: give it to `node(id:)` to fetch this object again."
))]
pub enum Node {
    Call(Call),
}

/// What an id names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKey {
    Call(ConversationId),
}

/// The id of the call `conversation_id`.
pub fn call_id(conversation_id: ConversationId) -> ID {
    ID(STANDARD.encode(format!("Call:{}", conversation_id.0)))
}

/// What `id` names, if it is one of ours.
/// Only the very id served reads back: another spelling of the same key
/// (`Call:054093`, a space around it) names nothing, so the object `node`
/// gives always carries the id it was asked for.
pub fn read_id(id: &str) -> Option<NodeKey> {
    let decoded = STANDARD.decode(id).ok()?;
    let text = std::str::from_utf8(&decoded).ok()?;
    let (kind, key) = text.split_once(':')?;
    let key = match kind {
        "Call" => NodeKey::Call(ConversationId(key.parse().ok()?)),
        _ => return None,
    };
    let NodeKey::Call(conversation_id) = key;
    (call_id(conversation_id).as_str() == id).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_calls_id_reads_back_as_the_call_and_others_read_as_nothing() {
        let id = call_id(ConversationId(54093));
        assert_eq!(id.as_str(), "Q2FsbDo1NDA5Mw==");
        assert_eq!(read_id(&id), Some(NodeKey::Call(ConversationId(54093))));
        let other_spellings = [
            STANDARD.encode("Call:054093"),
            STANDARD.encode("Call:+54093"),
            format!(" {}", id.as_str()),
        ];
        let others = ["", "54093", "Q2FsbDo=", "QWdlbnQ6NQ==", "not base64!"];
        for other in others
            .iter()
            .copied()
            .chain(other_spellings.iter().map(String::as_str))
        {
            assert_eq!(read_id(other), None, "{other}");
        }
    }
}
