//! The `Subscription` root: `callUpdated`, each call as a commit left it,
//! from the schema's [`LiveFeed`]. A subscription that fell behind, or
//! whose updates were lost, ends with an error (`SUBSCRIBER_TOO_SLOW`,
//! `UPDATES_LOST`); the transport then closes its connection (see
//! `http::websocket`).

use std::sync::Arc;

use async_graphql::{Context, Subscription as SubscriptionRoot};
use futures_util::Stream;

use crate::domain::Call;

use super::budget::RequestBudget;
use super::error::ApiError;
use super::filter::CallFilterInput;
use super::live_feed::{Ended, LiveFeed, Updates};

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
        let budget = ctx.data_opt::<Arc<RequestBudget>>().cloned();
        Ok(updates(feed.subscribe(filter), budget))
    }
}

/// The calls of `updates`; ends after telling the subscriber that it fell
/// behind or that updates were lost. Each message starts `budget` afresh:
/// it is bounded in bytes and time as one answer is.
fn updates(
    updates: Updates,
    budget: Option<Arc<RequestBudget>>,
) -> impl Stream<Item = Result<Arc<Call>, ApiError>> {
    futures_util::stream::unfold(Some(updates), move |updates| {
        let budget = budget.clone();
        async move {
            let mut updates = updates?;
            match updates.queue.recv().await {
                Some(live) => {
                    if let Some(budget) = &budget {
                        budget.start_message();
                    }
                    Some((Ok(live.call.clone()), Some(updates)))
                }
                None => match updates.ended() {
                    Ended::Closed => None,
                    Ended::FellBehind => Some((Err(ApiError::FellBehind), None)),
                    Ended::Lost => Some((Err(ApiError::UpdatesLost), None)),
                },
            }
        }
    })
}
