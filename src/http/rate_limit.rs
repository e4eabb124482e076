//! How often one client may query GraphQL.
//!
//! Each API token has its own allowance (a GCRA bucket from `governor`): a
//! burst, refilled at a steady rate. A request without an accepted token
//! (every request of an open API, and those about to be answered `401`) is
//! counted against its client address (an IPv6 /64), so one client cannot
//! crowd out the others, nor a token guesser try fast. Past the allowance
//! the answer is `429` with `Retry-After`. Only `/graphql` counts: GraphiQL's
//! scripts are files, cheap to send.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;

use crate::config::HttpLimits;

use super::connection_caps::client_address;
use super::tokens::{bearer_token, matching_token};

/// The code of a GraphQL request refused for coming too often.
pub const RATE_LIMITED: &str = "RATE_LIMITED";

/// Past this many clients remembered, those whose bucket is full again are
/// forgotten, so that a scan from many addresses cannot grow memory.
const CLIENTS_REMEMBERED: usize = 10_000;

/// Whom a request is counted against.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Client {
    /// The index of the configured token it carries.
    Token(usize),
    Address(IpAddr),
}

/// The allowances of one served app.
pub struct GraphqlRateLimit {
    limiter: DefaultKeyedRateLimiter<Client>,
    clock: DefaultClock,
    tokens: Arc<Vec<String>>,
}

impl GraphqlRateLimit {
    /// `None` when the limits turn rate limiting off.
    pub fn new(limits: &HttpLimits, tokens: &[String]) -> Option<Arc<GraphqlRateLimit>> {
        let rate = NonZeroU32::new(limits.graphql_rate_limit)?;
        let burst = NonZeroU32::new(limits.graphql_burst).unwrap_or(rate);
        Some(Arc::new(GraphqlRateLimit {
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            clock: DefaultClock::default(),
            tokens: Arc::new(tokens.to_vec()),
        }))
    }

    fn client(&self, request: &Request) -> Client {
        if let Some(index) = matching_token(&self.tokens, bearer_token(request.headers())) {
            return Client::Token(index);
        }
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
        Client::Address(client_address(peer))
    }
}

/// Middleware: lets a GraphQL request through if its client has allowance left.
pub async fn limit_graphql(
    State(limit): State<Arc<GraphqlRateLimit>>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path() != "/graphql" || request.method() == Method::OPTIONS {
        return next.run(request).await;
    }
    let client = limit.client(&request);
    if limit.limiter.len() > CLIENTS_REMEMBERED {
        limit.limiter.retain_recent();
    }
    match limit.limiter.check_key(&client) {
        Ok(()) => next.run(request).await,
        Err(not_until) => {
            let wait = not_until.wait_time_from(limit.clock.now());
            too_many(wait.as_secs_f64().ceil().max(1.0) as u64)
        }
    }
}

fn too_many(retry_after_s: u64) -> Response {
    let message = format!("too many GraphQL requests; retry in {retry_after_s} s");
    let body =
        json!({ "errors": [{ "message": message, "extensions": { "code": RATE_LIMITED } }] });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
    response
}
