//! Which calls each commit changed, told to whoever listens: the live
//! updates (`callUpdated`) start here.
//!
//! The writer publishes, after `commit`, the conversation ids of the pushes
//! it stored (one entry per stored push: a duplicate or a rejected body
//! changes no call and is not published). The channel is a bounded
//! `broadcast`: sending never waits, so a listener that falls behind never
//! slows ingest; it misses changes instead, and is told so by the channel
//! (`Lagged`). With no listener, nothing is even collected.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::domain::ConversationId;

use super::WriteOutcome;

/// Commits a listener may fall behind by before it misses changes. A commit
/// holds up to `MAX_BATCH` pushes, so this is ample for a listener that
/// keeps up at all.
pub const CHANGE_BUFFER: usize = 1024;

/// The calls one commit changed: the conversation id of each push it
/// stored, in order (a call pushed twice in the commit appears twice).
#[derive(Clone, Debug)]
pub struct ChangedCalls(pub Arc<[ConversationId]>);

/// The sending side, held by the store and its writer.
#[derive(Clone)]
pub struct Changes {
    sender: broadcast::Sender<ChangedCalls>,
}

impl Default for Changes {
    fn default() -> Self {
        Changes {
            sender: broadcast::channel(CHANGE_BUFFER).0,
        }
    }
}

impl Changes {
    /// A receiver of every commit's changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ChangedCalls> {
        self.sender.subscribe()
    }

    /// Tells listeners which calls a committed transaction changed; called
    /// by the writer right after `commit`.
    pub(crate) fn publish(&self, outcomes: &[WriteOutcome]) {
        if self.sender.receiver_count() == 0 {
            return;
        }
        let stored: Arc<[ConversationId]> = outcomes
            .iter()
            .filter_map(|outcome| match outcome {
                WriteOutcome::Stored {
                    conversation_id, ..
                } => Some(*conversation_id),
                _ => None,
            })
            .collect();
        if !stored.is_empty() {
            // An error only means the last listener just left.
            let _ = self.sender.send(ChangedCalls(stored));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RejectReason;

    #[test]
    fn only_stored_pushes_are_published_once_each() {
        let changes = Changes::default();
        changes.publish(&[WriteOutcome::Stored {
            conversation_id: ConversationId(9),
            event_id: 1,
        }]);
        let mut listener = changes.subscribe();
        changes.publish(&[
            WriteOutcome::Stored {
                conversation_id: ConversationId(1),
                event_id: 2,
            },
            WriteOutcome::Duplicate {
                conversation_id: ConversationId(2),
                event_id: 1,
                deliveries: 2,
            },
            WriteOutcome::Rejected {
                rejected_id: 1,
                reason: RejectReason::Unusable(crate::domain::PushError::MissingConversationId),
            },
            WriteOutcome::Stored {
                conversation_id: ConversationId(1),
                event_id: 3,
            },
        ]);
        changes.publish(&[WriteOutcome::Duplicate {
            conversation_id: ConversationId(2),
            event_id: 1,
            deliveries: 3,
        }]);
        let changed = listener.try_recv().unwrap();
        assert_eq!(&*changed.0, &[ConversationId(1), ConversationId(1)]);
        assert!(listener.try_recv().is_err(), "nothing else was published");
    }
}
