//! Limits on what one HTTP client may hold or ask of the service: how long
//! it may take to send a request, how many connections it may keep open,
//! how large a request head may be, how much GraphQL work it may ask for,
//! how many WebSockets and subscriptions it may hold, and which reverse
//! proxies may say who the client is.
//!
//! Each is a flag of `serve` (`cli::http_limits`); `SECURITY.md` ("HTTP
//! limits and browsers") says why each default is what it is.

use std::net::IpAddr;
use std::time::Duration;

/// The longest a client may take to send a request head: 10 s, ample for a
/// head of a few hundred bytes, short enough that slow clients cannot pile up.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The most a header read timeout may be set to.
pub const MAX_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a client may take to send a request body after its head.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connection may wait, idle, for its next request.
pub const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest request head (request line and headers), in bytes.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
/// Connections served at once, all clients together.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Connections served at once from one client address (an IPv6 /64).
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 128;
/// Points of GraphQL work one token (one address in open mode) earns a
/// second, a point being a millisecond of the service's work: one request
/// after another, however fast, never spends faster than this refills.
pub const DEFAULT_GRAPHQL_POINTS_PER_SECOND: u32 = 1_000;
/// The most points one token may hold: 30 s of work, the time limit of a
/// few queries, spent in a burst before the rate applies.
pub const DEFAULT_GRAPHQL_POINTS_CEILING: u32 = 30_000;
/// WebSocket connections (live updates) open at once, all clients together:
/// a wallboard holds one, and each counts against `max_connections` too.
pub const DEFAULT_MAX_WEBSOCKETS: usize = 256;
/// Subscriptions one WebSocket connection may hold at once: a wallboard
/// needs one or two.
pub const DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION: usize = 16;

/// The limits a server applies; `Default` is what `serve` uses unflagged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// From a connection's opening, or from the first byte of a request
    /// after an idle wait, to the end of the request head.
    pub header_read_timeout: Duration,
    /// From a request's head to the end of its body.
    pub body_read_timeout: Duration,
    /// How long a connection may stay open with no request; zero closes
    /// each connection after its answer.
    pub keep_alive_timeout: Duration,
    /// A larger request head is answered `431`.
    pub max_header_bytes: usize,
    /// Connections beyond these are answered `503` and closed.
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    /// Points (milliseconds of work) a token, or a client address when the
    /// API is open, earns per second; 0 turns rate limiting off.
    pub graphql_points_per_second: u32,
    /// The most points a token may hold.
    pub graphql_points_ceiling: u32,
    /// WebSocket connections beyond this are answered `503` at the upgrade.
    pub max_websockets: usize,
    /// A subscription beyond this on one connection is refused with an
    /// `error` message (the connection stays open).
    pub max_subscriptions_per_connection: usize,
    /// Reverse proxies whose forwarding headers name the client; their
    /// own connections count against `max_connections` only.
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            keep_alive_timeout: DEFAULT_KEEP_ALIVE_TIMEOUT,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_address: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
            graphql_points_per_second: DEFAULT_GRAPHQL_POINTS_PER_SECOND,
            graphql_points_ceiling: DEFAULT_GRAPHQL_POINTS_CEILING,
            max_websockets: DEFAULT_MAX_WEBSOCKETS,
            max_subscriptions_per_connection: DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Descriptors kept free of connections: the database files of every
/// connection to it, the log, the runtime's own, a backup's copy.
pub const RESERVED_DESCRIPTORS: u64 = 256;

/// How many connections may be open at once: what was asked, but never so
/// many that connections alone use up `descriptor_limit` (the process's
/// soft `RLIMIT_NOFILE`), since a service out of descriptors cannot open
/// its database files nor accept the next push.
pub fn connection_cap(asked: usize, descriptor_limit: Option<u64>) -> usize {
    let Some(limit) = descriptor_limit else {
        return asked;
    };
    let available = limit.saturating_sub(RESERVED_DESCRIPTORS).max(16);
    asked.min(usize::try_from(available).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_leaves_descriptors_for_the_database() {
        assert_eq!(connection_cap(1024, Some(20_000)), 1024);
        assert_eq!(connection_cap(1024, Some(1024)), 768);
        assert_eq!(connection_cap(1024, Some(100)), 16);
        assert_eq!(connection_cap(50, None), 50);
    }
}
