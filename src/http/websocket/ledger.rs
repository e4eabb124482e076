//! What the three parts of a live-update session share: the reader (the
//! client's messages, checked before async-graphql's protocol sees them),
//! the executor (each subscription's stream) and the writer (what reaches
//! the socket). async-graphql's `graphql-transport-ws` implementation is
//! lenient where the protocol is strict (it replaces a duplicate id, acks a
//! `complete` the client sent, and ends a failed subscription with `next`
//! and `complete` rather than `error`), so the session keeps its own
//! account of the operations and corrects what is sent.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::http::rate_limit::Meter;

/// Why a session ends with a close frame: its code and reason.
pub type Closing = (u16, String);

/// How a subscription ended on the server's side, when not by running out:
/// the `error` message sent in place of its `complete`, and the close that
/// follows when it fell behind.
pub struct Ending {
    pub message: String,
    pub closing: Option<Closing>,
}

#[derive(Default)]
pub struct Ledger {
    inner: Mutex<Entries>,
}

#[derive(Default)]
pub struct Entries {
    /// The client was sent `connection_ack`.
    pub acked: bool,
    /// Subscriptions handed to the protocol and not yet completed.
    pub running: HashSet<String>,
    /// Subscriptions the client completed: the protocol's `complete` for
    /// them is not sent (the protocol has the server stay silent).
    pub completed_by_client: HashSet<String>,
    /// Ids handed to the protocol whose stream the executor has not made
    /// yet: the protocol asks for streams in the order it reads subscribes.
    pub starting: VecDeque<String>,
    pub endings: HashMap<String, Ending>,
    /// What the subscriptions' work is charged to; `None` without a limit.
    pub meter: Option<Meter>,
}

impl Ledger {
    pub fn new(meter: Option<Meter>) -> Ledger {
        Ledger {
            inner: Mutex::new(Entries {
                meter,
                ..Entries::default()
            }),
        }
    }

    pub fn entries(&self) -> MutexGuard<'_, Entries> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn acked(&self) -> bool {
        self.entries().acked
    }

    pub fn meter(&self) -> Option<Meter> {
        self.entries().meter.clone()
    }

    /// What to send for the protocol's `complete` of `id`: itself, an
    /// `error` in its place (and maybe a close after), or nothing.
    pub fn on_complete(&self, id: &str, complete: String) -> (Option<String>, Option<Closing>) {
        let mut entries = self.entries();
        if entries.completed_by_client.remove(id) {
            return (None, None);
        }
        entries.running.remove(id);
        match entries.endings.remove(id) {
            Some(ending) => (Some(ending.message), ending.closing),
            None => (Some(complete), None),
        }
    }
}
