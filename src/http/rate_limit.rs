//! How much of the service's work one client may take through GraphQL.
//!
//! The limit weighs what requests cost, not how many there are: each client
//! has a budget of points, a point being a millisecond of the service's work
//! on its requests (from reading the request to its serialized answer),
//! refilled at a steady rate up to a ceiling, as GitHub's and Shopify's
//! GraphQL APIs keep points. A request is let in while its client's budget is
//! above zero, and is charged what it took once answered (what it earned
//! meanwhile counted before the ceiling applies), so a long request may
//! leave the budget in debt only when others ran beside it. With the
//! default of 1,000 points a second, a client sending one request after
//! another can never spend faster than its budget refills, however fast or
//! slow each is answered: ordinary use is never refused. Clients running
//! many heavy queries at once are, once their ceiling (30 s of work) is
//! spent; and at most [`IN_FLIGHT_PER_CLIENT`] of one client's requests run
//! at once, the others waiting their turn, so a burst let in on a full
//! budget cannot take every core and the memory of many heavy queries.
//! The static cost model (`graphql::limits`) still bounds any single
//! request.
//!
//! A client is an API token; a request without an accepted token (every
//! request of an open API, and those about to be answered `401`) counts
//! against its client address (an IPv6 /64). Past the budget the answer is
//! `429` with `Retry-After`, the request body read first so that the
//! connection stays usable. Only `/graphql` counts: GraphiQL's scripts are
//! files, cheap to send.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::config::HttpLimits;

use super::forwarded::client_of;
use super::tokens::{bearer_token, matching_token};

/// The code of a GraphQL request refused for coming too often.
pub const RATE_LIMITED: &str = "RATE_LIMITED";

/// Past this many clients remembered, those whose budget is full again are
/// forgotten, so that a scan from many addresses cannot grow memory.
const CLIENTS_REMEMBERED: usize = 10_000;

/// The most of a refused request's body read so that its connection can
/// carry the next request; a longer one is answered with `Connection: close`.
const DRAINED_BODY_BYTES: usize = 2 * 1024 * 1024;

/// How many of one client's GraphQL requests run at once; more wait. A
/// dashboard's page fires a handful; the GraphQL runtime has at most four
/// threads, so more at once only add memory.
pub const IN_FLIGHT_PER_CLIENT: usize = 4;

/// The service's work on one GraphQL request, set on its response by the
/// handler for the limit to charge.
#[derive(Clone, Copy, Debug)]
pub struct WorkDone(pub Duration);

/// Whom a request is counted against.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Client {
    /// The index of the configured token it carries.
    Token(usize),
    Address(IpAddr),
}

/// A client's points, as of `at`, and its requests running.
#[derive(Clone, Debug)]
struct Budget {
    points: f64,
    at: Instant,
    running: Arc<Semaphore>,
}

impl Budget {
    fn idle(&self) -> bool {
        self.running.available_permits() == IN_FLIGHT_PER_CLIENT
    }
}

/// The budgets of one served app.
pub struct GraphqlRateLimit {
    budgets: Mutex<HashMap<Client, Budget>>,
    per_second: f64,
    ceiling: f64,
    tokens: Arc<Vec<String>>,
}

impl GraphqlRateLimit {
    /// `None` when the limits turn rate limiting off.
    pub fn new(limits: &HttpLimits, tokens: &[String]) -> Option<Arc<GraphqlRateLimit>> {
        if limits.graphql_points_per_second == 0 {
            return None;
        }
        let per_second = f64::from(limits.graphql_points_per_second);
        Some(Arc::new(GraphqlRateLimit {
            budgets: Mutex::new(HashMap::new()),
            per_second,
            ceiling: f64::from(limits.graphql_points_ceiling.max(1)),
            tokens: Arc::new(tokens.to_vec()),
        }))
    }

    fn client(&self, request: &Request) -> Client {
        match matching_token(&self.tokens, bearer_token(request.headers())) {
            Some(index) => Client::Token(index),
            None => Client::Address(client_of(request)),
        }
    }

    /// `client`'s budget with what it earned until `now` less `spent`
    /// points, then held to the ceiling; created full.
    fn settle<'a>(
        &self,
        budgets: &'a mut HashMap<Client, Budget>,
        client: &Client,
        now: Instant,
        spent: f64,
    ) -> &'a mut Budget {
        let budget = budgets.entry(client.clone()).or_insert_with(|| Budget {
            points: self.ceiling,
            at: now,
            running: Arc::new(Semaphore::new(IN_FLIGHT_PER_CLIENT)),
        });
        let earned = now.saturating_duration_since(budget.at).as_secs_f64() * self.per_second;
        // Spent before the ceiling applies: a request that ran for a minute
        // earned its client a minute of points while it ran.
        budget.points = (budget.points + earned - spent).min(self.ceiling);
        budget.at = now;
        budget
    }

    /// Its turn to run while `client` has points left, else how long until
    /// it has.
    fn admit(&self, client: &Client) -> Result<Arc<Semaphore>, Duration> {
        let now = Instant::now();
        let mut budgets = self.budgets.lock().unwrap_or_else(PoisonError::into_inner);
        if budgets.len() > CLIENTS_REMEMBERED {
            let ceiling = self.ceiling;
            let per_second = self.per_second;
            budgets.retain(|_, budget| {
                let earned = now.saturating_duration_since(budget.at).as_secs_f64() * per_second;
                budget.points + earned < ceiling || !budget.idle()
            });
        }
        let budget = self.settle(&mut budgets, client, now, 0.0);
        if budget.points > 0.0 {
            return Ok(budget.running.clone());
        }
        Err(Duration::from_secs_f64(
            (-budget.points + 1.0) / self.per_second,
        ))
    }

    /// Takes `work` (in points: milliseconds) from `client`'s budget.
    fn charge(&self, client: &Client, work: Duration) {
        let now = Instant::now();
        let mut budgets = self.budgets.lock().unwrap_or_else(PoisonError::into_inner);
        self.settle(&mut budgets, client, now, work.as_secs_f64() * 1000.0);
    }
}

/// Where a WebSocket session's subscriptions charge their work: each
/// update sent costs its client what resolving it took, as an answer does,
/// and a client in debt gets its next update only once it has points
/// again (falling behind the updates, it is closed as a slow subscriber).
#[derive(Clone)]
pub struct Meter {
    limit: Arc<GraphqlRateLimit>,
    client: Client,
}

impl Meter {
    /// The meter of the client that `token` (from `connection_init`)
    /// names, when it is a configured one; else this one.
    pub fn for_token(&self, token: Option<&str>) -> Meter {
        match matching_token(&self.limit.tokens, token) {
            Some(index) => Meter {
                limit: self.limit.clone(),
                client: Client::Token(index),
            },
            None => self.clone(),
        }
    }

    pub fn charge(&self, work: Duration) {
        self.limit.charge(&self.client, work);
    }

    /// How long until the client has points again; `None` while it has.
    pub fn debt(&self) -> Option<Duration> {
        self.limit.admit(&self.client).err()
    }
}

/// Middleware: lets a GraphQL request through if its client has points
/// left, and charges it what it took.
pub async fn limit_graphql(
    State(limit): State<Arc<GraphqlRateLimit>>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path() != "/graphql" || request.method() == Method::OPTIONS {
        return next.run(request).await;
    }
    let client = limit.client(&request);
    let running = match limit.admit(&client) {
        Ok(running) => running,
        Err(wait) => {
            let declared = request
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
            // A body declared too long to read is not waited for.
            let drained = declared.is_none_or(|length| length <= DRAINED_BODY_BYTES)
                && axum::body::to_bytes(request.into_body(), DRAINED_BODY_BYTES)
                    .await
                    .is_ok();
            return too_many(wait.as_secs_f64().ceil().max(1.0) as u64, drained);
        }
    };
    let mut request = request;
    request.extensions_mut().insert(Meter {
        limit: limit.clone(),
        client: client.clone(),
    });
    // Closed only when the app is dropped: a permit is always had in time.
    let Ok(_turn) = running.acquire_owned().await else {
        return next.run(request).await;
    };
    let response = next.run(request).await;
    if let Some(WorkDone(work)) = response.extensions().get::<WorkDone>() {
        limit.charge(&client, *work);
    }
    response
}

/// The `429`; with `Connection: close` when the request's body could not be
/// read to its end, since the connection then cannot carry another request.
fn too_many(retry_after_s: u64, drained: bool) -> Response {
    let message = format!(
        "too many GraphQL requests: this client's budget of query work is spent; retry in \
         {retry_after_s} s"
    );
    let body =
        json!({ "errors": [{ "message": message, "extensions": { "code": RATE_LIMITED } }] });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
    if !drained {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(per_second: u32, ceiling: u32) -> Arc<GraphqlRateLimit> {
        let limits = HttpLimits {
            graphql_points_per_second: per_second,
            graphql_points_ceiling: ceiling,
            ..HttpLimits::default()
        };
        GraphqlRateLimit::new(&limits, &[]).unwrap()
    }

    #[test]
    fn a_client_is_let_in_until_its_work_spends_its_budget() {
        let limit = limit(1, 100);
        let client = Client::Token(0);
        assert!(limit.admit(&client).is_ok());
        limit.charge(&client, Duration::from_millis(60));
        // Charged at once, as when others ran beside it.
        assert!(limit.admit(&client).is_ok());
        limit.charge(&client, Duration::from_millis(60));
        let wait = limit.admit(&client).unwrap_err();
        assert!(wait > Duration::from_secs(10), "{wait:?}");
        assert!(limit.admit(&Client::Token(1)).is_ok());
    }

    #[test]
    fn a_request_longer_than_the_ceiling_does_not_leave_its_client_in_debt() {
        let limit = limit(1_000, 20);
        let client = Client::Token(0);
        assert!(limit.admit(&client).is_ok());
        std::thread::sleep(Duration::from_millis(50));
        limit.charge(&client, Duration::from_millis(50));
        assert!(limit.admit(&client).is_ok());
    }

    #[test]
    fn requests_one_after_another_never_spend_faster_than_the_budget_refills() {
        // 60 requests of 2 ms spend six times the ceiling of 20 points: only
        // the refill keeps the budget above zero.
        let limit = limit(1_000, 20);
        let client = Client::Token(0);
        for _ in 0..60 {
            let started = Instant::now();
            assert!(limit.admit(&client).is_ok());
            std::thread::sleep(Duration::from_millis(2));
            limit.charge(&client, started.elapsed());
        }
    }
}
