//! The fan-out of live updates: one task per schema listens to the store's
//! changes (see `storage::changes`), reads each changed call once (one read
//! for all the changes waiting) and hands it, shared, to every subscriber
//! whose filter it matches.
//!
//! The filters are matched here, in one task, so a subscriber is woken only
//! for the updates it wants: thousands of narrow wallboards cost a filter
//! check each per update, not a task wake-up each. Each subscriber has a
//! bounded queue ([`SUBSCRIBER_BUFFER`] updates, each a shared pointer);
//! nothing here ever waits for one. A subscriber whose queue is full has
//! fallen behind: its queue is closed and, once it has drained it, it is
//! told so. When changes were lost before they could be read (the fan-out
//! fell behind the writer, or a read failed), every subscriber is told.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::sync::mpsc;

use crate::domain::ConversationId;
use crate::storage::Store;
use crate::storage::changes::ChangedCalls;
use crate::storage::read::{CallFilter, LiveCall, LiveFilter};

/// Updates one subscriber may fall behind by before it is dropped: a
/// second of ingest at 1,000 pushes/s. An update is a pointer to a call
/// all subscribers share.
pub const SUBSCRIBER_BUFFER: usize = 1024;

/// The most changed calls read together; more wait for the next read.
const IDS_PER_READ: usize = 2048;

/// Why a subscriber's queue was closed.
const OPEN: u8 = 0;
const FELL_BEHIND: u8 = 1;
const LOST: u8 = 2;

/// The end of a subscriber's queue.
pub struct Updates {
    pub queue: mpsc::Receiver<Arc<LiveCall>>,
    ended: Arc<AtomicU8>,
}

/// How a subscriber's updates ended.
pub enum Ended {
    /// The feed stopped (the service is stopping).
    Closed,
    FellBehind,
    Lost,
}

impl Updates {
    /// Why the queue ended, once it has.
    pub fn ended(&self) -> Ended {
        match self.ended.load(Ordering::Acquire) {
            FELL_BEHIND => Ended::FellBehind,
            LOST => Ended::Lost,
            _ => Ended::Closed,
        }
    }
}

struct Subscriber {
    filter: LiveFilter,
    queue: mpsc::Sender<Arc<LiveCall>>,
    ended: Arc<AtomicU8>,
}

type Registry = Arc<Mutex<Vec<Subscriber>>>;

/// The fan-out of one schema: started by the first subscriber.
pub struct LiveFeed {
    store: Arc<Store>,
    subscribers: Registry,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl LiveFeed {
    pub fn new(store: Arc<Store>) -> LiveFeed {
        LiveFeed {
            store,
            subscribers: Registry::default(),
            task: Mutex::default(),
        }
    }

    /// The updates matching `filter` from now on; starts the fan-out (on
    /// the runtime of the caller, a GraphQL thread) unless it runs.
    pub fn subscribe(&self, filter: Arc<CallFilter>) -> Updates {
        let (sender, queue) = mpsc::channel(SUBSCRIBER_BUFFER);
        let ended = Arc::new(AtomicU8::new(OPEN));
        let mut subscribers = lock(&self.subscribers);
        // Those gone since the last update are forgotten here too.
        subscribers.retain(|subscriber| !subscriber.queue.is_closed());
        subscribers.push(Subscriber {
            filter: filter.for_live_updates(),
            queue: sender,
            ended: ended.clone(),
        });
        drop(subscribers);
        let mut task = self.task.lock().unwrap_or_else(|p| p.into_inner());
        if task.as_ref().is_none_or(|task| task.is_finished()) {
            let fan_out = fan_out(
                self.store.clone(),
                self.store.changes(),
                self.subscribers.clone(),
            );
            *task = Some(tokio::spawn(super::runtime::traced(fan_out)));
        }
        Updates { queue, ended }
    }
}

impl Drop for LiveFeed {
    fn drop(&mut self) {
        if let Some(task) = self.task.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}

fn lock(registry: &Registry) -> std::sync::MutexGuard<'_, Vec<Subscriber>> {
    registry.lock().unwrap_or_else(|p| p.into_inner())
}

/// Reads what each commit changed and hands it on, one update per stored push.
async fn fan_out(
    store: Arc<Store>,
    mut changes: broadcast::Receiver<ChangedCalls>,
    subscribers: Registry,
) {
    loop {
        let mut lost = false;
        let mut changed: Vec<ConversationId> = match changes.recv().await {
            Ok(changed) => changed.0.to_vec(),
            Err(RecvError::Lagged(_)) => {
                lost = true;
                Vec::new()
            }
            Err(RecvError::Closed) => return,
        };
        // Whatever else is waiting is read in the same go.
        while changed.len() < IDS_PER_READ {
            match changes.try_recv() {
                Ok(more) => changed.extend(more.0.iter()),
                Err(TryRecvError::Lagged(_)) => lost = true,
                Err(_) => break,
            }
        }
        if lock(&subscribers).is_empty() {
            continue;
        }
        if lost {
            tracing::warn!("live updates fell behind the writer; subscribers are told");
            end_all(&subscribers, LOST);
            continue;
        }
        let mut distinct = changed.clone();
        distinct.sort_unstable();
        distinct.dedup();
        match store.live_calls(distinct).await {
            Ok(calls) => {
                let by_id: HashMap<ConversationId, Arc<LiveCall>> = calls
                    .into_iter()
                    .map(|call| (call.call.conversation_id, Arc::new(call)))
                    .collect();
                let mut subscribers = lock(&subscribers);
                for id in changed {
                    if let Some(call) = by_id.get(&id) {
                        subscribers.retain(|subscriber| hand_over(subscriber, call));
                    }
                }
            }
            Err(error) => {
                tracing::error!(%error, "the changed calls could not be read for live updates");
                end_all(&subscribers, LOST);
            }
        }
    }
}

/// Queues `call` for `subscriber` if it wants it; false when the
/// subscriber is to be dropped (gone, or fallen behind).
fn hand_over(subscriber: &Subscriber, call: &Arc<LiveCall>) -> bool {
    if !subscriber.filter.matches(call) {
        return !subscriber.queue.is_closed();
    }
    match subscriber.queue.try_send(call.clone()) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            subscriber.ended.store(FELL_BEHIND, Ordering::Release);
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

/// Drops every subscriber, each told `why` once it has drained its queue.
fn end_all(subscribers: &Registry, why: u8) {
    for subscriber in lock(subscribers).drain(..) {
        subscriber.ended.store(why, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Call, CallStatus, Scalars, UdeskId};

    fn live(agent: i64) -> Arc<LiveCall> {
        let time = chrono::DateTime::parse_from_rfc3339("2024-05-01T08:00:00+08:00").unwrap();
        let scalars = Scalars {
            agent_id: Some(UdeskId(agent)),
            ..Scalars::default()
        };
        Arc::new(LiveCall {
            call: Arc::new(Call {
                conversation_id: ConversationId(1),
                status: CallStatus::Ended,
                last_occasion: "end".into(),
                started_at: time,
                first_received_at: time,
                last_received_at: time,
                last_event_at: None,
                event_count: 1,
                warning_count: 0,
                scalars,
            }),
            ticket_count: 0,
        })
    }

    fn subscriber(agent: i64, room: usize) -> (Subscriber, Updates) {
        let (sender, queue) = mpsc::channel(room);
        let ended = Arc::new(AtomicU8::new(OPEN));
        let filter = CallFilter {
            agent_ids: Some(vec![UdeskId(agent)]),
            ..CallFilter::default()
        };
        let subscriber = Subscriber {
            filter: filter.for_live_updates(),
            queue: sender,
            ended: ended.clone(),
        };
        (subscriber, Updates { queue, ended })
    }

    #[test]
    fn a_call_is_queued_only_for_the_filters_it_matches() {
        let (wants, mut wanted) = subscriber(7, 4);
        let (other, mut unwanted) = subscriber(8, 4);
        assert!(hand_over(&wants, &live(7)));
        assert!(hand_over(&other, &live(7)));
        assert!(wanted.queue.try_recv().is_ok());
        assert!(unwanted.queue.try_recv().is_err());
    }

    #[test]
    fn a_subscriber_whose_queue_is_full_is_dropped_and_told_once_drained() {
        let (slow, mut updates) = subscriber(7, 2);
        assert!(hand_over(&slow, &live(7)));
        assert!(hand_over(&slow, &live(7)));
        assert!(!hand_over(&slow, &live(7)), "the third does not fit");
        drop(slow);
        assert!(updates.queue.try_recv().is_ok());
        assert!(updates.queue.try_recv().is_ok());
        assert!(updates.queue.try_recv().is_err());
        assert!(matches!(updates.ended(), Ended::FellBehind));
    }

    #[test]
    fn a_subscriber_gone_is_forgotten_even_when_nothing_matches_it() {
        let (gone, updates) = subscriber(8, 2);
        drop(updates);
        assert!(!hand_over(&gone, &live(7)));
    }
}
