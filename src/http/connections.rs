//! Accepting connections and serving HTTP/1.1 on each, within limits.
//!
//! At most `max_connections` are served at once (never so many that they
//! use up the open-files limit), and at most `max_connections_per_address`
//! from one client address; a connection beyond either is answered `503`
//! with `Retry-After` and closed at once, so it holds nothing and Udesk
//! retries its push. Each connection has the timeouts of [`super::timeouts`]
//! and a bounded request head.
//!
//! HTTP/2 is not served: Udesk and browsers reach this service over
//! HTTP/1.1 (browsers speak HTTP/2 only over TLS, which a proxy in front
//! terminates), and each protocol served is one more set of limits to keep.
//!
//! On shutdown the listener is closed first (new connections are refused),
//! idle connections are closed, and each busy one is closed after its
//! answer; serving ends when the last one is.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

use crate::config::HttpLimits;
use crate::config::http_limits::connection_cap;

use super::timeouts::{Activity, Answering, DeadlineBody, Watched};

/// What a connection beyond a cap is told before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: application/json\r\nContent-Length: 52\r\nConnection: close\r\n\r\n{\"error\":\"too many connections; retry in 5 seconds\"}";

/// Serves `app` on `listener` until `shutdown` completes and every
/// connection has been answered and closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &HttpLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let descriptors = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .ok()
        .map(|(soft, _)| soft);
    let cap = connection_cap(limits.max_connections, descriptors);
    if cap < limits.max_connections {
        tracing::warn!(
            asked = limits.max_connections,
            serving = cap,
            open_files_limit = descriptors,
            "the open-files limit allows fewer connections than --max-connections asks"
        );
    }
    let caps = Caps {
        total: Arc::new(Semaphore::new(cap)),
        per_address: Arc::new(PerAddress {
            limit: limits.max_connections_per_address,
            open: Mutex::default(),
        }),
        refusals: Mutex::default(),
    };
    let connection = Arc::new(ConnectionConfig::new(app, limits));
    let (stop, stopping) = watch::channel(false);
    // Every connection holds a receiver; all are gone when `closed` resolves.
    let (open, held) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slots) = caps.take(peer.ip()) else {
            caps.refuse(socket);
            continue;
        };
        let (connection, stopping, held) = (connection.clone(), stopping.clone(), held.clone());
        tokio::spawn(async move {
            connection.serve(socket, peer, stopping).await;
            drop((slots, held));
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drop(held);
    open.closed().await;
    Ok(())
}

/// Errors of `accept` that concern one connection only.
fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        error.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// Anything else (out of descriptors, of memory) is given a moment to pass.
async fn accept_failed(error: std::io::Error) {
    if is_connection_error(&error) {
        return;
    }
    tracing::error!(%error, "accepting a connection failed");
    tokio::time::sleep(Duration::from_millis(250)).await;
}

/// How often refused connections are logged: one line per connection
/// would let a flood fill the disk with log lines.
const REFUSALS_LOGGED_EVERY: Duration = Duration::from_secs(10);

/// The two caps on connections, and the refusals not logged yet.
struct Caps {
    total: Arc<Semaphore>,
    per_address: Arc<PerAddress>,
    refusals: Mutex<Refusals>,
}

#[derive(Default)]
struct Refusals {
    last_logged: Option<Instant>,
    unlogged: u64,
}

impl Caps {
    /// A place for a connection from `ip`, if both caps leave one.
    fn take(&self, ip: IpAddr) -> Option<(OwnedSemaphorePermit, AddressSlot)> {
        let permit = self.total.clone().try_acquire_owned().ok()?;
        let slot = PerAddress::take(&self.per_address, ip)?;
        Some((permit, slot))
    }

    /// Answers a connection beyond a cap without reading it, and closes it.
    fn refuse(&self, socket: TcpStream) {
        // The answer fits any socket buffer; should it not, closing is enough.
        let _ = socket.try_write(BUSY);
        let mut refusals = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
        refusals.unlogged += 1;
        if refusals
            .last_logged
            .is_some_and(|at| at.elapsed() < REFUSALS_LOGGED_EVERY)
        {
            return;
        }
        tracing::warn!(
            refused = refusals.unlogged,
            "connections were refused: too many open (see --max-connections and --max-connections-per-address)"
        );
        refusals.last_logged = Some(Instant::now());
        refusals.unlogged = 0;
    }
}

/// Open connections by client address.
struct PerAddress {
    limit: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerAddress {
    fn take(this: &Arc<PerAddress>, ip: IpAddr) -> Option<AddressSlot> {
        let client = client_address(ip);
        let mut open = this.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(client).or_default();
        if *count >= this.limit {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            client,
            of: this.clone(),
        })
    }
}

/// One open connection of a client address; given back when dropped.
struct AddressSlot {
    client: IpAddr,
    of: Arc<PerAddress>,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.of.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// Whom a connection is counted against: an IPv4 address, or an IPv6 /64,
/// since one IPv6 client commonly holds a whole /64.
pub fn client_address(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let network = u128::from(v6) & !(u128::MAX >> 64);
                IpAddr::V6(network.into())
            }
        },
    }
}

/// What every connection is served with.
struct ConnectionConfig {
    app: Router,
    http: http1::Builder,
    limits: HttpLimits,
}

impl ConnectionConfig {
    fn new(app: Router, limits: &HttpLimits) -> ConnectionConfig {
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            // A backstop only: `Activity` closes a connection sooner.
            .header_read_timeout(limits.header_read_timeout + limits.keep_alive_timeout)
            .keep_alive(!limits.keep_alive_timeout.is_zero())
            .max_header_size(limits.max_header_bytes)
            .max_buf_size(limits.max_header_bytes.max(8192));
        ConnectionConfig {
            app,
            http,
            limits: limits.clone(),
        }
    }

    /// Serves one connection until it closes, overstays a timeout, or
    /// shutdown closes it after its answer.
    async fn serve(
        &self,
        socket: TcpStream,
        peer: SocketAddr,
        mut stopping: watch::Receiver<bool>,
    ) {
        let _ = socket.set_nodelay(true);
        let activity = Activity::new(
            self.limits.header_read_timeout,
            self.limits.keep_alive_timeout,
        );
        let body_read_timeout = self.limits.body_read_timeout;
        let service = {
            let (app, activity) = (self.app.clone(), activity.clone());
            hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let in_flight = activity.request_began();
                let mut request =
                    request.map(|body| Body::new(DeadlineBody::new(body, body_read_timeout)));
                request.extensions_mut().insert(ConnectInfo(peer));
                let answer = app.clone().oneshot(request);
                async move {
                    let response = answer.await.unwrap_or_else(|never| match never {});
                    Ok::<_, Infallible>(
                        response.map(|body| Body::new(Answering::new(body, in_flight))),
                    )
                }
            })
        };
        let io = TokioIo::new(Watched::new(socket, activity.clone()));
        let mut connection = pin!(self.http.serve_connection(io, service).with_upgrades());
        let mut shutting_down = *stopping.borrow();
        if shutting_down {
            connection.as_mut().graceful_shutdown();
        }
        loop {
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(error) = served {
                        tracing::debug!(%error, "a connection ended in error");
                    }
                    return;
                }
                limit = activity.overstayed() => {
                    tracing::debug!("a connection was closed: {}", limit.as_str());
                    return;
                }
                _ = stopping.changed(), if !shutting_down => {
                    shutting_down = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_and_a_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_address(a), client_address(b));
        assert_ne!(client_address(a), client_address(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(
            client_address(mapped),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn the_busy_answer_declares_its_length() {
        let text = std::str::from_utf8(BUSY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{head}"
        );
        serde_json::from_str::<serde_json::Value>(body).unwrap();
    }

    #[test]
    fn an_address_gets_its_share_and_gets_it_back() {
        let per_address = Arc::new(PerAddress {
            limit: 2,
            open: Mutex::default(),
        });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let first = PerAddress::take(&per_address, ip).unwrap();
        let _second = PerAddress::take(&per_address, ip).unwrap();
        assert!(PerAddress::take(&per_address, ip).is_none());
        assert!(PerAddress::take(&per_address, "192.0.2.2".parse().unwrap()).is_some());
        drop(first);
        assert!(PerAddress::take(&per_address, ip).is_some());
    }
}
