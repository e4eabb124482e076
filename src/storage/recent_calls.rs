//! The writer's memory of recently merged calls.
//!
//! Merging a push needs its call as merged so far ([`MergedCall`]); most
//! pushes belong to a call the writer merged moments ago. Keeping the last
//! thousand calls' merged state spares reading and parsing their earlier
//! pushes again, so a push costs the same however many its call has. It is
//! only a cache: `projection::merge_arrived_push` checks it against the
//! database before use, and the writer forgets everything when a
//! transaction fails, since what it remembers may then never have been
//! committed.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lru::LruCache;

use crate::domain::{ConversationId, MergedCall};

/// How many calls are remembered. 1024 spans the seconds between a call's
/// ring, answer and hang-up at a thousand pushes a second; a call forgotten
/// is read back from its events, as after a restart.
pub const REMEMBERED_CALLS: usize = 1024;

/// How many bytes of merged values are remembered at most: calls whose
/// pushes carry megabytes in their fields would otherwise fill the memory
/// long before the count is reached.
pub const REMEMBERED_BYTES: usize = 16 << 20;

/// A call as the writer last merged and wrote it.
pub struct RecentCall {
    pub merged: MergedCall,
    /// The newest of its events merged.
    pub last_event_id: i64,
    /// About the memory `merged` holds ([`MergedCall::approximate_bytes`]).
    pub bytes: usize,
}

pub struct RecentCalls {
    calls: LruCache<ConversationId, RecentCall>,
    bytes: usize,
    most_bytes: usize,
    merged_again: Arc<AtomicU64>,
}

impl RecentCalls {
    pub fn new(capacity: usize, most_bytes: usize) -> RecentCalls {
        RecentCalls {
            calls: LruCache::new(NonZeroUsize::new(capacity.max(1)).expect("at least one")),
            bytes: 0,
            most_bytes,
            merged_again: Arc::default(),
        }
    }

    /// Counts a call merged again from all its stored pushes because it
    /// was not remembered (or not as the database holds it).
    pub fn note_merged_again(&self) {
        self.merged_again.fetch_add(1, Ordering::Relaxed);
    }

    /// How many calls were merged again from their stored pushes, as it
    /// grows: the writer's cost that grows with a call's history.
    pub fn merged_again(&self) -> Arc<AtomicU64> {
        self.merged_again.clone()
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
        let id = call.merged.call().conversation_id;
        if let Some((_, evicted)) = self.calls.push(id, call) {
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
    use crate::domain::{Push, StoredPush};
    use crate::wire::time::beijing;

    fn call(id: i64, bytes: usize) -> RecentCall {
        let body = serde_json::json!({ "conversation_id": id, "occasion": "end" });
        let push = StoredPush {
            event_id: id,
            received_at: chrono::Utc::now().with_timezone(&beijing()),
            push: Push::from_object(body.as_object().unwrap(), beijing()).unwrap(),
        };
        RecentCall {
            merged: MergedCall::new(&push),
            last_event_id: id,
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
