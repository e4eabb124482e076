//! The flags of `serve` that bound what one HTTP client may hold or ask;
//! `config::http_limits` holds the defaults and why.

use std::net::IpAddr;
use std::time::Duration;

use clap::Args;

use crate::config::HttpLimits;
use crate::config::http_limits::{
    DEFAULT_BODY_READ_TIMEOUT, DEFAULT_GRAPHQL_POINTS_CEILING, DEFAULT_GRAPHQL_POINTS_PER_SECOND,
    DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_KEEP_ALIVE_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION, DEFAULT_MAX_WEBSOCKETS, MAX_HEADER_READ_TIMEOUT,
};

#[derive(Debug, Clone, Args)]
pub struct HttpLimitArgs {
    /// Seconds a client has to send a whole request head, counted from its
    /// connecting (or from the first byte of its next request); then the
    /// connection is closed. At most 30.
    #[arg(
        long,
        env = "UDESK_CALLS_HEADER_READ_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = DEFAULT_HEADER_READ_TIMEOUT.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..=MAX_HEADER_READ_TIMEOUT.as_secs())
    )]
    pub header_read_timeout: u64,

    /// Seconds a client has to send a request body once its head is read;
    /// a push whose body is late is answered 408 and not stored.
    #[arg(
        long,
        env = "UDESK_CALLS_BODY_READ_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = DEFAULT_BODY_READ_TIMEOUT.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub body_read_timeout: u64,

    /// Seconds a kept-alive connection may wait, idle, for its next request
    /// before it is closed; 0 closes every connection after its answer.
    #[arg(
        long,
        env = "UDESK_CALLS_KEEP_ALIVE_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = DEFAULT_KEEP_ALIVE_TIMEOUT.as_secs(),
        value_parser = clap::value_parser!(u64).range(0..=3600)
    )]
    pub keep_alive_timeout: u64,

    /// The largest request head (request line and headers) accepted, in
    /// bytes; a larger one is answered 431.
    #[arg(
        long,
        env = "UDESK_CALLS_MAX_HEADER_BYTES",
        value_name = "BYTES",
        default_value_t = DEFAULT_MAX_HEADER_BYTES as u64,
        value_parser = clap::value_parser!(u64).range(1024..=1024 * 1024)
    )]
    pub max_header_bytes: u64,

    /// Connections served at once; the next ones are answered 503 and
    /// closed. Lowered at start to what the open-files limit allows.
    #[arg(
        long,
        env = "UDESK_CALLS_MAX_CONNECTIONS",
        value_name = "N",
        default_value_t = DEFAULT_MAX_CONNECTIONS as u64,
        value_parser = clap::value_parser!(u64).range(1..=1_000_000)
    )]
    pub max_connections: u64,

    /// Connections served at once from one client address (one IPv6 /64);
    /// the next ones are answered 503 and closed. Behind a reverse proxy
    /// every connection comes from the proxy: raise it there.
    #[arg(
        long,
        env = "UDESK_CALLS_MAX_CONNECTIONS_PER_ADDRESS",
        value_name = "N",
        default_value_t = DEFAULT_MAX_CONNECTIONS_PER_ADDRESS as u64,
        value_parser = clap::value_parser!(u64).range(1..=1_000_000)
    )]
    pub max_connections_per_address: u64,

    /// GraphQL work allowed per API token (per client address when no
    /// --api-token is set), in points a second; a point is a millisecond
    /// of the service's work on the token's requests. A request is let in
    /// while its token has points left and charged what it took; past that
    /// it is answered 429 with Retry-After. One request after another never
    /// spends faster than 1,000 a second. 0 turns the limit off.
    #[arg(
        long,
        env = "UDESK_CALLS_GRAPHQL_POINTS_PER_SECOND",
        value_name = "POINTS",
        default_value_t = DEFAULT_GRAPHQL_POINTS_PER_SECOND
    )]
    pub graphql_points_per_second: u32,

    /// The most points a token may hold (and spend in a burst) before
    /// --graphql-points-per-second applies.
    #[arg(
        long,
        env = "UDESK_CALLS_GRAPHQL_POINTS_CEILING",
        value_name = "POINTS",
        default_value_t = DEFAULT_GRAPHQL_POINTS_CEILING,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub graphql_points_ceiling: u32,

    /// WebSocket connections (live updates on /graphql) open at once, all
    /// clients together; the next upgrade is answered 503. Each also counts
    /// against --max-connections.
    #[arg(
        long,
        env = "UDESK_CALLS_MAX_WEBSOCKETS",
        value_name = "N",
        default_value_t = DEFAULT_MAX_WEBSOCKETS as u64,
        value_parser = clap::value_parser!(u64).range(0..=1_000_000)
    )]
    pub max_websockets: u64,

    /// Subscriptions one WebSocket connection may hold at once; the next is
    /// refused with an error message.
    #[arg(
        long,
        env = "UDESK_CALLS_MAX_SUBSCRIPTIONS_PER_CONNECTION",
        value_name = "N",
        default_value_t = DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION as u64,
        value_parser = clap::value_parser!(u64).range(1..=10_000)
    )]
    pub max_subscriptions_per_connection: u64,

    /// A reverse proxy in front of the service (an IP address; several may
    /// be given, comma-separated in the variable). Its `Forwarded` or
    /// `X-Forwarded-For` header then names the client for the rate limit
    /// and the logs, and its connections count against --max-connections
    /// only. The same headers from any other address are ignored. Without
    /// it, every request counts as coming from its connection's address.
    #[arg(
        long = "trust-proxy",
        env = "UDESK_CALLS_TRUST_PROXY",
        value_name = "ADDR",
        value_delimiter = ','
    )]
    pub trust_proxy: Vec<IpAddr>,
}

impl HttpLimitArgs {
    pub fn limits(&self) -> HttpLimits {
        let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        HttpLimits {
            header_read_timeout: Duration::from_secs(self.header_read_timeout),
            body_read_timeout: Duration::from_secs(self.body_read_timeout),
            keep_alive_timeout: Duration::from_secs(self.keep_alive_timeout),
            max_header_bytes: count(self.max_header_bytes),
            max_connections: count(self.max_connections),
            max_connections_per_address: count(self.max_connections_per_address),
            graphql_points_per_second: self.graphql_points_per_second,
            graphql_points_ceiling: self.graphql_points_ceiling,
            max_websockets: count(self.max_websockets),
            max_subscriptions_per_connection: count(self.max_subscriptions_per_connection),
            trusted_proxies: self.trust_proxy.clone(),
        }
    }
}
