//! Ids that Udesk gives, as their own types so one cannot stand for another.
//!
//! Both are 64-bit: Udesk's ids exceed 32 bits, which is why the GraphQL API
//! serves them as `ID` strings rather than `Int`.

use std::fmt;

/// Udesk's id of one call (`conversation_id`): the key every push of the
/// call carries, and the key of the call everywhere in this service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConversationId(pub i64);

/// Any other id Udesk gives: an agent, a group, a task, a note, a customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UdeskId(pub i64);

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for UdeskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
