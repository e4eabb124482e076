//! The writer's memory of recently merged calls.
//!
//! Merging a call needs all its pushes parsed; most pushes belong to a call
//! the writer merged moments ago. Keeping the last few thousand calls' parsed
//! pushes (and what was written for them) spares parsing them again. It is
//! only a cache: `projection::merge_arrived_push` checks it against the
//! database before use, and the writer forgets everything when a
//! transaction fails, since what it remembers may then never have been
//! committed.

use std::num::NonZeroUsize;

use lru::LruCache;

use crate::domain::{Call, Collections, ConversationId, StoredPush};

/// How many calls are remembered. A call of five full pushes (every field
/// Udesk sends) holds tens of KiB parsed: 4096 calls were most of the
/// service's memory under a burst. 1024 still spans the seconds between a
/// call's ring, answer and hang-up at a thousand pushes a second; a call
/// forgotten is read back from its events, as after a restart.
pub const REMEMBERED_CALLS: usize = 1024;

/// How many bytes of pushes (as received; parsed they take two to three
/// times as much) are remembered at most: full pushes of a megabyte each
/// would otherwise fill the memory long before the count is reached.
pub const REMEMBERED_BYTES: usize = 16 << 20;

/// A call as the writer last merged and wrote it.
pub struct RecentCall {
    pub pushes: Vec<StoredPush>,
    pub call: Call,
    pub collections: Collections,
    /// The bodies' bytes as received.
    pub bytes: usize,
}

pub struct RecentCalls {
    calls: LruCache<ConversationId, RecentCall>,
    bytes: usize,
    most_bytes: usize,
}

impl RecentCalls {
    pub fn new(capacity: usize, most_bytes: usize) -> RecentCalls {
        RecentCalls {
            calls: LruCache::new(NonZeroUsize::new(capacity.max(1)).expect("at least one")),
            bytes: 0,
            most_bytes,
        }
    }

    /// Removes and returns what is remembered of a call.
    pub fn take(&mut self, conversation_id: ConversationId) -> Option<RecentCall> {
        let call = self.calls.pop(&conversation_id)?;
        self.bytes -= call.bytes;
        Some(call)
    }

    /// What is remembered of a call, leaving it where it is.
    pub fn peek(&self, conversation_id: ConversationId) -> Option<&RecentCall> {
        self.calls.peek(&conversation_id)
    }

    /// Remembers a call, forgetting the least recently merged ones past the
    /// count or the bytes; a call larger than all the bytes is not kept.
    pub fn put(&mut self, call: RecentCall) {
        if call.bytes > self.most_bytes {
            return;
        }
        self.bytes += call.bytes;
        if let Some((_, evicted)) = self.calls.push(call.call.conversation_id, call) {
            self.bytes -= evicted.bytes;
        }
        while self.bytes > self.most_bytes {
            let Some((_, evicted)) = self.calls.pop_lru() else {
                break;
            };
            self.bytes -= evicted.bytes;
        }
    }

    pub fn forget_all(&mut self) {
        self.calls.clear();
        self.bytes = 0;
    }

    /// The bytes of the calls remembered.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Push, project};
    use crate::wire::time::beijing;

    fn call(id: i64, bytes: usize) -> RecentCall {
        let body = serde_json::json!({ "conversation_id": id, "occasion": "end" });
        let pushes = vec![StoredPush {
            event_id: id,
            received_at: chrono::Utc::now().with_timezone(&beijing()),
            push: Push::from_object(body.as_object().unwrap(), beijing()).unwrap(),
        }];
        let (call, collections) = project(&pushes).unwrap();
        RecentCall {
            pushes,
            call,
            collections,
            bytes,
        }
    }

    #[test]
    fn the_least_recent_calls_are_forgotten_past_the_bytes_and_a_huge_one_is_not_kept() {
        let mut recent = RecentCalls::new(100, 1000);
        for id in 1..=4 {
            recent.put(call(id, 300));
        }
        assert_eq!(recent.bytes(), 900);
        assert!(recent.take(ConversationId(1)).is_none(), "the oldest went");
        assert_eq!(recent.bytes(), 900);
        recent.put(call(5, 2000));
        assert!(
            recent.take(ConversationId(5)).is_none(),
            "larger than all the bytes"
        );
        assert!(recent.take(ConversationId(4)).is_some());
        assert_eq!(recent.bytes(), 600);
        recent.forget_all();
        assert_eq!(recent.bytes(), 0);
    }
}
