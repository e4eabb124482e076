//! The `Subscription` root: `callUpdated`, each call as a commit left it.
//!
//! One fan-out task per schema listens to the store's changes (see
//! `storage::changes`), reads each changed call once (one read for all the
//! changes waiting) and hands it, shared, to every subscriber through a
//! bounded `broadcast` ([`SUBSCRIBER_BUFFER`] updates). Each subscriber
//! matches its own filter against the call in memory. Sending never waits:
//! a subscriber that falls further behind than the buffer is told so
//! (`SUBSCRIBER_TOO_SLOW`) and its subscription ends; it holds no memory of
//! its own meanwhile, and ingest never waits for it. The transport closes
//! its connection then (see `http::websocket`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::{Context, Subscription as SubscriptionRoot};
use futures_util::Stream;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

use crate::domain::{Call, ConversationId};
use crate::storage::Store;
use crate::storage::changes::ChangedCalls;
use crate::storage::read::{CallFilter, LiveCall};

use super::error::ApiError;
use super::filter::CallFilterInput;

/// Updates one subscriber may fall behind by before it is dropped: a
/// second of ingest at 1,000 pushes/s. The buffer is shared by all
/// subscribers (each update is kept once), so it costs the same for one
/// subscriber as for thousands.
pub const SUBSCRIBER_BUFFER: usize = 1024;

/// The most changed calls read together; more wait for the next read.
const IDS_PER_READ: usize = 2048;

/// What the fan-out sends every subscriber.
#[derive(Clone, Debug)]
enum Update {
    /// A call one stored push changed, as committed.
    Call(Arc<LiveCall>),
    /// Changes were lost before they could be read: every subscriber is
    /// told, rather than left believing it saw every change.
    Lost,
}

/// The fan-out of one schema: started by the first subscriber.
pub struct LiveFeed {
    store: Arc<Store>,
    updates: broadcast::Sender<Update>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl LiveFeed {
    pub fn new(store: Arc<Store>) -> LiveFeed {
        LiveFeed {
            store,
            updates: broadcast::channel(SUBSCRIBER_BUFFER).0,
            task: Mutex::default(),
        }
    }

    /// A receiver of every update from now on; starts the fan-out (on the
    /// runtime of the caller, a GraphQL thread) unless it runs.
    fn subscribe(&self) -> broadcast::Receiver<Update> {
        let receiver = self.updates.subscribe();
        let mut task = self.task.lock().unwrap_or_else(|p| p.into_inner());
        if task.as_ref().is_none_or(|task| task.is_finished()) {
            let fan_out = fan_out(
                self.store.clone(),
                self.store.changes(),
                self.updates.clone(),
            );
            *task = Some(tokio::spawn(super::runtime::traced(fan_out)));
        }
        receiver
    }
}

impl Drop for LiveFeed {
    fn drop(&mut self) {
        if let Some(task) = self.task.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}

/// Reads what each commit changed and sends it on, one update per stored push.
async fn fan_out(
    store: Arc<Store>,
    mut changes: broadcast::Receiver<ChangedCalls>,
    updates: broadcast::Sender<Update>,
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
        if updates.receiver_count() == 0 {
            continue;
        }
        if lost {
            tracing::warn!("live updates fell behind the writer; subscribers are told");
            let _ = updates.send(Update::Lost);
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
                for id in changed {
                    if let Some(call) = by_id.get(&id) {
                        let _ = updates.send(Update::Call(call.clone()));
                    }
                }
            }
            Err(error) => {
                tracing::error!(%error, "the changed calls could not be read for live updates");
                let _ = updates.send(Update::Lost);
            }
        }
    }
}

/// The live side of udesk-calls, over WebSocket (`graphql-transport-ws`).
pub struct Subscription;

#[SubscriptionRoot]
impl Subscription {
    /// Each call matching `filter`, as soon as a push that changes it is
    /// committed: one update per stored push (a redelivered duplicate sends
    /// none), with the call as it stands when the update is read (pushes of
    /// one call committed in quick succession may each show the latest of
    /// them), matched against the filter as such. A subscriber that falls more
    /// than 1,024 updates behind gets the error `SUBSCRIBER_TOO_SLOW` and
    /// its connection is closed: subscribe again, and read what was missed
    /// with `calls`.
    async fn call_updated(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which calls; every call when absent.")] filter: Option<CallFilterInput>,
    ) -> Result<impl Stream<Item = Result<Arc<Call>, ApiError>> + use<>, ApiError> {
        let filter = Arc::new(CallFilterInput::validate(filter.as_ref())?);
        let feed = ctx.data::<Arc<LiveFeed>>().map_err(|_| {
            tracing::error!("the GraphQL schema was built without a live feed");
            ApiError::Internal
        })?;
        Ok(matching(feed.subscribe(), filter))
    }
}

/// The updates of `receiver` that `filter` matches; ends after telling the
/// subscriber that it fell behind or that updates were lost.
fn matching(
    receiver: broadcast::Receiver<Update>,
    filter: Arc<CallFilter>,
) -> impl Stream<Item = Result<Arc<Call>, ApiError>> {
    futures_util::stream::unfold(Some(receiver), move |receiver| {
        let filter = filter.clone();
        async move {
            let mut receiver = receiver?;
            loop {
                match receiver.recv().await {
                    Ok(Update::Call(live)) if filter.matches(&live) => {
                        return Some((Ok(live.call.clone()), Some(receiver)));
                    }
                    Ok(Update::Call(_)) => {}
                    Ok(Update::Lost) => return Some((Err(ApiError::UpdatesLost), None)),
                    Err(RecvError::Lagged(missed)) => {
                        return Some((Err(ApiError::FellBehind(missed)), None));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    })
}
