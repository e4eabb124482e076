//! Each subscription's stream, as async-graphql's protocol asks for it: the
//! schema's updates within the limits of one message. An update larger
//! than the message limit is replaced by one error (the subscription goes
//! on); a subscription that fails before running, or falls behind the live
//! updates, ends with an `error` message (see [`Ledger`]), and one that
//! fell behind closes the connection with `1013`, which the `graphql-ws`
//! client answers by reconnecting. Each update's work is charged to the
//! client's rate limit, and while the client is in debt its updates wait.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Data, Executor, Request, Response, ServerError, Value};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::ledger::{Ending, Ledger};
use super::messages::{self, close};
use super::metrics::LiveMetrics;
use crate::graphql::ApiSchema;
use crate::graphql::budget::RequestBudget;
use crate::graphql::error::{
    RESPONSE_TOO_LARGE, SUBSCRIBER_TOO_SLOW, UPDATES_LOST, code_or_bad_input,
};
use crate::graphql::limits::response_too_large;

/// The longest an update waits at once while its client is in debt; it
/// then looks again.
const MOST_HELD_BACK: Duration = Duration::from_secs(1);

/// Bytes a `next` message adds around its payload, besides the id.
const NEXT_FRAMING: usize = 40;

#[derive(Clone)]
pub struct LiveExecutor {
    pub schema: ApiSchema,
    pub ledger: Arc<Ledger>,
    pub metrics: LiveMetrics,
    pub max_message_bytes: usize,
    pub message_time: Duration,
}

impl Executor for LiveExecutor {
    /// Never reached: the session refuses whatever is not a subscription
    /// before the protocol sees it.
    async fn execute(&self, request: Request) -> Response {
        self.schema.execute(request).await
    }

    fn execute_stream(
        &self,
        request: Request,
        _session: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        let id = self
            .ledger
            .entries()
            .starting
            .pop_front()
            .unwrap_or_default();
        let budget = RequestBudget::new(1, self.max_message_bytes, self.message_time);
        let updates = self.schema.execute_stream(request.data(budget.clone()));
        self.metrics.subscriptions.inc();
        let running = Running {
            id,
            budget,
            updates,
            executor: self.clone(),
        };
        futures_util::stream::unfold(running, Running::next_update).boxed()
    }
}

struct Running {
    id: String,
    budget: Arc<RequestBudget>,
    updates: BoxStream<'static, Response>,
    executor: LiveExecutor,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.executor.metrics.subscriptions.dec();
    }
}

impl Running {
    async fn next_update(mut self) -> Option<(Response, Running)> {
        let meter = self.executor.ledger.meter();
        while let Some(wait) = meter.as_ref().and_then(|meter| meter.debt()) {
            tokio::time::sleep(wait.min(MOST_HELD_BACK)).await;
        }
        let mut response = self.updates.next().await?;
        if let Some(meter) = &meter {
            meter.charge(self.budget.message_elapsed());
        }
        response.errors.iter_mut().for_each(code_or_bad_input);
        if self.fell_behind(&response) {
            self.executor.metrics.too_slow.inc();
            tracing::warn!("a subscriber fell behind the live updates; its connection is closed");
            let reason = "the subscriber fell behind the updates; reconnect".to_owned();
            self.end(&response, Some((close::TRY_AGAIN_LATER, reason)));
            return None;
        }
        let not_run = response.data == Value::Null
            && !response.errors.is_empty()
            && response.errors.iter().all(|error| error.path.is_empty());
        if not_run {
            self.end(&response, None);
            return None;
        }
        let response = self.within_limit(response);
        Some((response, self))
    }

    fn fell_behind(&self, response: &Response) -> bool {
        response
            .errors
            .iter()
            .any(|error| has_code(error, SUBSCRIBER_TOO_SLOW) || has_code(error, UPDATES_LOST))
    }

    /// Ends the subscription with an `error` message of `response`'s errors.
    fn end(&self, response: &Response, closing: Option<(u16, String)>) {
        let message = messages::error(&self.id, &response.errors);
        let ending = Ending { message, closing };
        self.executor
            .ledger
            .entries()
            .endings
            .insert(self.id.clone(), ending);
    }

    /// `response`, or in its place an answer of one error when its message
    /// would exceed the limit: the subscription goes on.
    fn within_limit(&self, response: Response) -> Response {
        let limit = self.executor.max_message_bytes;
        let too_large = response
            .errors
            .iter()
            .any(|error| has_code(error, RESPONSE_TOO_LARGE))
            || serde_json::to_vec(&response).map_or(true, |json| {
                json.len() + self.id.len() + NEXT_FRAMING > limit
            });
        if !too_large {
            return response;
        }
        tracing::warn!(
            limit_bytes = limit,
            "a subscription's update exceeded the response size limit and was not sent"
        );
        Response::from_errors(vec![response_too_large(limit)])
    }
}

fn has_code(error: &ServerError, wanted: &str) -> bool {
    error
        .extensions
        .as_ref()
        .and_then(|extensions| extensions.get("code"))
        .is_some_and(|code| *code == Value::String(wanted.to_owned()))
}
