//! Running a GraphQL request, or a batch, within its limits, and writing
//! its answer.
//!
//! Everything from the parse to the serialized body happens on the app's
//! GraphQL runtime ([`QueryRuntime`]), never on the threads answering
//! pushes. A batch is measured as a whole before anything runs (its
//! documents' sizes added up) and its requests share one [`RequestBudget`]:
//! the complexity they may cost together (all run or none), the bytes of
//! their answer and the time.
//!
//! Execution stops at the time limit: a request waiting is dropped, so no
//! resolver issues another read and the read in flight is interrupted (see
//! `Store::read`); a request busy resolving has every further field
//! refused. An answer over the byte limit is replaced by one error, so its
//! bytes are never sent.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{BatchRequest, BatchResponse, ServerError};

use crate::graphql::budget::RequestBudget;
use crate::graphql::error::{INTERNAL, code_or_bad_input, with_code};
use crate::graphql::limits::{measure_request, refusal_error, response_too_large, timed_out};
use crate::graphql::runtime::QueryRuntime;
use crate::graphql::{ApiSchema, cost};

/// The schema, the runtime it runs on, and the limits of one HTTP request.
#[derive(Clone)]
pub struct Runner {
    pub schema: ApiSchema,
    pub runtime: Arc<QueryRuntime>,
    pub timeout: Duration,
    pub max_response_bytes: usize,
}

/// An answer, serialized.
pub struct Answer {
    pub body: Vec<u8>,
    /// Whether a request failed before running, or was stopped, so has no
    /// `data`: a `400` under `application/graphql-response+json`.
    pub not_run: bool,
}

impl Runner {
    /// Runs the batch `read` reads, on the GraphQL runtime; the error is why
    /// there is none. Dropping the future (the client went away) stops it
    /// there too.
    pub async fn run(
        &self,
        read: impl FnOnce() -> Result<BatchRequest, String> + Send + 'static,
    ) -> Result<Answer, String> {
        let runner = self.clone();
        let running = self
            .runtime
            .spawn(async move { Ok(runner.run_here(read()?).await) });
        match running.await {
            Ok(answer) => answer,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => {
                tracing::warn!("a GraphQL request was cancelled: the service is stopping");
                let refusal = ServerError::new("the service is stopping; retry shortly", None);
                Ok(refused(&with_code(refusal, INTERNAL), None))
            }
        }
    }

    async fn run_here(self, mut batch: BatchRequest) -> Answer {
        let batch_len = match &batch {
            BatchRequest::Single(_) => None,
            BatchRequest::Batch(requests) => Some(requests.len()),
        };
        if let Err(refusal) = measure_batch(&mut batch) {
            return refused(&refusal, batch_len);
        }
        let budget = RequestBudget::new(
            batch_len.unwrap_or(1),
            self.max_response_bytes,
            self.timeout,
        );
        let batch = batch.data(budget.clone());
        // The timeout stops a request waiting (for reads); the budget's
        // deadline one busy resolving (see `limits`).
        let executed = tokio::time::timeout(self.timeout, self.schema.execute_batch(batch)).await;
        let Some(executed) = executed.ok().filter(|_| !budget.past_deadline()) else {
            tracing::warn!(
                limit = ?self.timeout,
                "a GraphQL request ran past the time limit and was stopped"
            );
            return refused(&timed_out(self.timeout), batch_len);
        };
        let too_large = || {
            tracing::warn!(
                limit_bytes = self.max_response_bytes,
                "a GraphQL answer exceeded the response size limit and was not sent"
            );
            refused(&response_too_large(self.max_response_bytes), batch_len)
        };
        if budget.response_too_large() {
            return too_large();
        }
        match serialize(executed) {
            Ok(answer) if answer.body.len() > self.max_response_bytes => too_large(),
            Ok(answer) => answer,
            Err(error) => {
                tracing::error!(%error, "a GraphQL response could not be serialized");
                let internal =
                    ServerError::new("internal error; the server log has the details", None);
                refused(&with_code(internal, INTERNAL), batch_len)
            }
        }
    }
}

/// Refuses a batch whose documents together exceed the limits one
/// document has (each is also measured alone, by the schema's extension).
fn measure_batch(batch: &mut BatchRequest) -> Result<(), ServerError> {
    let BatchRequest::Batch(requests) = batch else {
        return Ok(());
    };
    let total = requests
        .iter_mut()
        .filter_map(|request| measure_request(request).ok())
        .fold(cost::Measure::default(), |total, measure| total + measure);
    cost::check(&total, "the batch's queries together").map_err(refusal_error)
}

/// `error` as the whole answer: one result, or one per request of a batch.
fn refused(error: &ServerError, batch_len: Option<usize>) -> Answer {
    let result = serde_json::json!({ "errors": [error] });
    let json = match batch_len {
        None => result,
        Some(count) => serde_json::Value::Array(vec![result; count]),
    };
    Answer {
        body: serde_json::to_vec(&json).unwrap_or_default(),
        not_run: true,
    }
}

fn serialize(batch: BatchResponse) -> serde_json::Result<Answer> {
    let mut not_run = false;
    let json = match batch {
        BatchResponse::Single(response) => result_json(response, &mut not_run)?,
        BatchResponse::Batch(responses) => serde_json::Value::Array(
            responses
                .into_iter()
                .map(|response| result_json(response, &mut not_run))
                .collect::<Result<_, _>>()?,
        ),
    };
    Ok(Answer {
        body: serde_json::to_vec(&json)?,
        not_run,
    })
}

/// One execution result as JSON, with the codes of its errors. A request that
/// failed before execution (errors without a path and no data: a syntax
/// error, a validation error, a bad variable) has no `data` entry at all, as
/// the GraphQL spec says, and sets `not_run`.
fn result_json(
    mut response: async_graphql::Response,
    not_run: &mut bool,
) -> serde_json::Result<serde_json::Value> {
    response.errors.iter_mut().for_each(code_or_bad_input);
    let failed_before_execution = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| error.path.is_empty());
    *not_run |= failed_before_execution;
    let mut json = serde_json::to_value(&response)?;
    if failed_before_execution && let Some(result) = json.as_object_mut() {
        result.remove("data");
    }
    Ok(json)
}
