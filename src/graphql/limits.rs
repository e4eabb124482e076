//! The bounds on what one query may cost, enforced as a schema extension so
//! that a refusal carries its own code (`QUERY_TOO_COMPLEX`,
//! `RESPONSE_TOO_LARGE`) rather than one guessed from a message.
//!
//! Three stages, cheapest first. Before parsing and validation, the
//! document's length and its size once fragments are expanded
//! ([`super::cost`]), in one linear walk, so that no fragment fan-out ever
//! reaches async-graphql's own walks, which expand every spread. After
//! validation, async-graphql's depth and complexity (plus what `callStats`
//! may cost, [`super::stats_cost`]) against [`MAX_DEPTH`] and
//! [`MAX_COMPLEXITY`], for the request and for its batch together
//! (see [`super::budget`]). While resolving, the bytes of the answer
//! against the budget its batch shares.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextResolve, NextValidation,
    ResolveInfo,
};
use async_graphql::{Request, ServerError, ServerResult, ValidationResult, Value};

use super::budget::{Report, RequestBudget};
use super::cost::{self, Refusal};
use super::error::{
    BAD_USER_INPUT, QUERY_TIMEOUT, QUERY_TOO_COMPLEX, RESPONSE_TOO_LARGE, with_code,
};
use super::stats_cost;

/// How deep a query may nest. A dashboard query (calls → edges → node →
/// events → payload, or one level of related calls) needs about 6; the
/// introspection query GraphiQL sends when it opens needs 15, and the IDE
/// shows no schema without it. Cost is bounded by [`MAX_COMPLEXITY`].
pub const MAX_DEPTH: usize = 15;

/// The most a query, or the requests of a batch together, may cost. A page
/// costs its children once per call it may return and a call's lists (its
/// events, collections, warnings) several times their fields, so a page of
/// 500 calls with every field and child (126,501) fits; ten such pages
/// in one batch, or 500 calls with their related calls' related calls, do not.
pub const MAX_COMPLEXITY: usize = 250_000;

/// The refusal of an answer over `max_bytes`, as the client sees it.
pub fn response_too_large(max_bytes: usize) -> ServerError {
    with_code(
        ServerError::new(
            format!(
                "Response too large: the answer would exceed {max_bytes} bytes; ask for fewer \
                 items or fields (smaller pages, no `payload`) and walk the pages"
            ),
            None,
        ),
        RESPONSE_TOO_LARGE,
    )
}

/// The refusal of a request still running at its time limit.
pub fn timed_out(limit: std::time::Duration) -> ServerError {
    with_code(
        ServerError::new(
            format!(
                "Query timeout: the request ran longer than {limit:?} and was stopped; ask for \
                 less at once (smaller pages, fewer fields, a narrower filter)"
            ),
            None,
        ),
        QUERY_TIMEOUT,
    )
}

/// The extension enforcing the limits above.
pub struct QueryLimits;

impl ExtensionFactory for QueryLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestLimits::default())
    }
}

/// The limits of one request (async-graphql creates one per request).
#[derive(Default)]
struct RequestLimits {
    /// Its report to its batch's budget, when it has one.
    report: Mutex<Option<Report>>,
    /// What its `callStats` may cost, beyond async-graphql's complexity.
    stats_cost: AtomicUsize,
}

impl RequestLimits {
    fn take_report(&self) -> Option<Report> {
        self.report
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// `refusal` as the error a client sees.
pub fn refusal_error(refusal: Refusal) -> ServerError {
    match refusal {
        Refusal::TooComplex(message) => {
            with_code(ServerError::new(message, None), QUERY_TOO_COMPLEX)
        }
        Refusal::FragmentCycle(message) => {
            with_code(ServerError::new(message, None), BAD_USER_INPUT)
        }
    }
}

/// Measures `request`'s document (parsing it once; async-graphql reuses the
/// parse) and refuses it over the limits. A document that does not parse is
/// left to async-graphql, which reports the syntax error.
pub fn measure_request(request: &mut Request) -> Result<cost::Measure, ServerError> {
    cost::check_length(&request.query).map_err(refusal_error)?;
    match request.parsed_query() {
        Ok(document) => cost::measure(document).map_err(refusal_error),
        Err(_) => Ok(cost::Measure::default()),
    }
}

#[async_trait::async_trait]
impl Extension for RequestLimits {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        // Taken first: refused below, the request still reports (nothing).
        *self.report.lock().unwrap_or_else(PoisonError::into_inner) =
            RequestBudget::of(&request).map(Report::new);
        let measure = measure_request(&mut request)?;
        cost::check(&measure, "the query").map_err(refusal_error)?;
        let stats_cost = stats_cost::charge(ctx, &mut request).await?;
        self.stats_cost.store(stats_cost, Ordering::Relaxed);
        next.run(ctx, request).await
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let validated = next.run(ctx).await;
        let report = self.take_report();
        let mut result = validated?;
        let stats_cost = self.stats_cost.load(Ordering::Relaxed);
        result.complexity = result.complexity.saturating_add(stats_cost);
        let refusal = if result.complexity > MAX_COMPLEXITY {
            let advice = if stats_cost > 0 {
                "callStats is charged by the groups it may return (days with calls × 24 hours × \
                 agents over its range, at most its calls) times the fields asked of each: ask \
                 for a narrower range, fewer groupBy keys or fewer callStats at once"
            } else {
                "ask for fewer items or fields"
            };
            format!(
                "Query is too complex: it may cost {}, the limit is {MAX_COMPLEXITY}; {advice}",
                result.complexity
            )
        } else if result.depth > MAX_DEPTH {
            format!(
                "Query is nested too deep: {} levels, the limit is {MAX_DEPTH}",
                result.depth
            )
        } else {
            let total = match report {
                Some(report) => report.cost(result.complexity).await,
                None => result.complexity,
            };
            if total <= MAX_COMPLEXITY {
                return Ok(result);
            }
            format!(
                "Query is too complex: the requests of this batch may cost {total} together, the \
                 limit is {MAX_COMPLEXITY}; send fewer or smaller requests"
            )
        };
        Err(vec![with_code(
            ServerError::new(refusal, None),
            QUERY_TOO_COMPLEX,
        )])
    }

    /// Counts the answer's bytes as its fields are resolved, and refuses
    /// every field once over the limit or past the time limit, so that no
    /// more is read or built. The time is checked here, not only where the
    /// request waits: resolving a page of ready values may take seconds
    /// without ever waiting.
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let Some(budget) = ctx.data_opt::<Arc<RequestBudget>>() else {
            return next.run(ctx, info).await;
        };
        if budget.response_too_large() {
            return Err(response_too_large(budget.max_response_bytes()));
        }
        if budget.past_deadline() {
            return Err(with_code(
                ServerError::new("Query timeout", None),
                QUERY_TIMEOUT,
            ));
        }
        let leaf = info.field.selection_set.node.items.is_empty();
        let list_item = info.parent_type.starts_with('[');
        let value = next.run(ctx, info).await?;
        let bytes = match (&value, leaf, list_item) {
            // A leaf list's items are counted with the list.
            (_, true, true) => 0,
            (Some(value), true, false) => value_bytes(value),
            // An object's keys here; its fields' values where they resolve.
            (Some(value), false, _) => keys_bytes(value),
            (None, _, _) => 0,
        };
        if !budget.add_response_bytes(bytes) {
            return Err(response_too_large(budget.max_response_bytes()));
        }
        Ok(value)
    }
}

/// About the bytes of `value` in JSON.
fn value_bytes(value: &Value) -> usize {
    match value {
        Value::Null => 4,
        Value::Boolean(_) => 5,
        Value::Number(_) => 8,
        Value::String(text) => text.len() + 2,
        Value::Binary(bytes) => bytes.len() + 2,
        Value::Enum(name) => name.len() + 2,
        Value::List(items) => {
            items
                .iter()
                .map(|item| value_bytes(item) + 1)
                .sum::<usize>()
                + 2
        }
        Value::Object(map) => keys_bytes(value) + map.values().map(value_bytes).sum::<usize>(),
    }
}

/// The bytes of an object's keys (quoted, with their colon and comma), or
/// of a list's brackets and commas: what a composite value adds to its
/// fields' values. A `__typename` is resolved without this extension, so
/// each key counts a few bytes more to stand for it.
fn keys_bytes(value: &Value) -> usize {
    match value {
        Value::Object(map) => map.keys().map(|key| key.len() + 8).sum::<usize>() + 2,
        Value::List(items) => items.len() + 2,
        _ => 0,
    }
}
