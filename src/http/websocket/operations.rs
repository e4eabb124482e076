//! The running subscriptions of one WebSocket session, and what each
//! response of theirs becomes: a `next`, an `error`, a `complete`, or,
//! for a subscriber that fell behind, its last message and the close.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Response, ServerError, Value};
use axum::extract::ws::Message;
use futures_util::stream::{AbortHandle, Abortable, BoxStream, SelectAll};
use futures_util::{StreamExt, stream};

use super::messages::{self, close};
use super::metrics::LiveMetrics;
use super::session::Closing;
use crate::graphql::budget::RequestBudget;
use crate::graphql::error::{
    RESPONSE_TOO_LARGE, SUBSCRIBER_TOO_SLOW, UPDATES_LOST, code_or_bad_input,
};
use crate::graphql::limits::response_too_large;

/// One subscription's responses, each with its id, then its id and `None`.
type Tagged = Abortable<BoxStream<'static, (String, Option<Response>)>>;

/// The running subscriptions of a session.
pub struct Operations {
    streams: SelectAll<Tagged>,
    handles: HashMap<String, AbortHandle>,
    /// Each subscription's budget: what its current update has taken.
    budgets: HashMap<String, Arc<RequestBudget>>,
    metrics: LiveMetrics,
    /// A `next` message larger than this carries an error instead.
    max_message_bytes: usize,
}

impl Operations {
    pub fn new(metrics: LiveMetrics, max_message_bytes: usize) -> Operations {
        Operations {
            streams: SelectAll::new(),
            handles: HashMap::new(),
            budgets: HashMap::new(),
            metrics,
            max_message_bytes,
        }
    }

    pub fn running(&self, id: &str) -> bool {
        self.handles.contains_key(id)
    }

    pub fn count(&self) -> usize {
        self.handles.len()
    }

    pub fn start(
        &mut self,
        id: String,
        responses: BoxStream<'static, Response>,
        budget: Arc<RequestBudget>,
    ) {
        self.budgets.insert(id.clone(), budget);
        let (handle, registration) = AbortHandle::new_pair();
        let ended = id.clone();
        let tagged = responses
            .map({
                let id = id.clone();
                move |response| (id.clone(), Some(response))
            })
            .chain(stream::once(async move { (ended, None) }));
        self.streams
            .push(Abortable::new(tagged.boxed(), registration));
        self.handles.insert(id, handle);
        self.metrics.subscriptions.inc();
    }

    /// Ends a subscription; true if it was running.
    pub fn stop(&mut self, id: &str) -> bool {
        self.budgets.remove(id);
        let Some(handle) = self.handles.remove(id) else {
            return false;
        };
        handle.abort();
        self.metrics.subscriptions.dec();
        true
    }

    /// What subscription `id`'s update just resolved took.
    pub fn work(&self, id: &str) -> Option<Duration> {
        self.budgets.get(id).map(|budget| budget.message_elapsed())
    }

    pub async fn next(&mut self) -> Option<(String, Option<Response>)> {
        if self.streams.is_empty() {
            return std::future::pending().await;
        }
        self.streams.next().await
    }

    /// The message for a subscription's response (or its end), or the
    /// last message and the close of a subscriber that fell behind.
    pub fn outcome(
        &mut self,
        id: &str,
        response: Option<Response>,
    ) -> Result<Option<Message>, (String, Closing)> {
        let Some(mut response) = response else {
            let ended = self.stop(id);
            return Ok(ended.then(|| Message::text(messages::complete(id))));
        };
        response.errors.iter_mut().for_each(code_or_bad_input);
        let code_is = |error: &ServerError, wanted: &str| {
            error
                .extensions
                .as_ref()
                .and_then(|extensions| extensions.get("code"))
                .is_some_and(|code| *code == Value::String(wanted.to_owned()))
        };
        let fell_behind = response
            .errors
            .iter()
            .any(|error| code_is(error, SUBSCRIBER_TOO_SLOW) || code_is(error, UPDATES_LOST));
        if fell_behind {
            self.stop(id);
            self.metrics.too_slow.inc();
            tracing::warn!("a subscriber fell behind the live updates; its connection is closed");
            let reason = "the subscriber fell behind the updates; reconnect".to_owned();
            let last = messages::error(id, &response.errors);
            return Err((last, (close::TRY_AGAIN_LATER, reason)));
        }
        let not_run = response.data == Value::Null
            && !response.errors.is_empty()
            && response.errors.iter().all(|error| error.path.is_empty());
        if not_run {
            self.stop(id);
            return Ok(Some(Message::text(messages::error(id, &response.errors))));
        }
        let too_large = response
            .errors
            .iter()
            .any(|error| code_is(error, RESPONSE_TOO_LARGE));
        if !too_large {
            let payload = serde_json::to_value(&response).unwrap_or_default();
            let message = messages::next(id, &payload);
            if message.len() <= self.max_message_bytes {
                return Ok(Some(Message::text(message)));
            }
        }
        // In its place, an answer of one error: the subscription goes on.
        tracing::warn!(
            limit_bytes = self.max_message_bytes,
            "a subscription's update exceeded the response size limit and was not sent"
        );
        let refusal = Response::from_errors(vec![response_too_large(self.max_message_bytes)]);
        let payload = serde_json::to_value(&refusal).unwrap_or_default();
        Ok(Some(Message::text(messages::next(id, &payload))))
    }
}

impl Drop for Operations {
    fn drop(&mut self) {
        let running = i64::try_from(self.handles.len()).unwrap_or(i64::MAX);
        self.metrics.subscriptions.dec_by(running);
    }
}
