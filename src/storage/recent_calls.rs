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

/// A call as the writer last merged and wrote it.
pub struct RecentCall {
    pub pushes: Vec<StoredPush>,
    pub call: Call,
    pub collections: Collections,
}

pub struct RecentCalls {
    calls: LruCache<ConversationId, RecentCall>,
}

impl RecentCalls {
    pub fn new(capacity: usize) -> RecentCalls {
        RecentCalls {
            calls: LruCache::new(NonZeroUsize::new(capacity.max(1)).expect("at least one")),
        }
    }

    /// Removes and returns what is remembered of a call.
    pub fn take(&mut self, conversation_id: ConversationId) -> Option<RecentCall> {
        self.calls.pop(&conversation_id)
    }

    pub fn put(&mut self, call: RecentCall) {
        self.calls.put(call.call.conversation_id, call);
    }

    pub fn forget_all(&mut self) {
        self.calls.clear();
    }
}
