//! Accepting connections and serving HTTP/1.1 on each, within limits.
//!
//! At most `max_connections` are served at once (never so many that they
//! use up the open-files limit), and at most `max_connections_per_address`
//! from one client address ([`super::connection_caps`]). Each connection has
//! the timeouts of [`super::timeouts`] and a bounded request head.
//!
//! HTTP/2 is not served: Udesk and browsers reach this service over
//! HTTP/1.1 (browsers speak HTTP/2 only over TLS, which a proxy in front
//! terminates), and each protocol served is one more set of limits to keep.
//!
//! On shutdown the listener is closed first (new connections are refused),
//! idle connections are closed, and each busy one is closed after its
//! answer; serving ends when the last one is.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

use crate::config::HttpLimits;
use crate::config::http_limits::connection_cap;

use super::body_deadline::DeadlineBody;
use super::connection_caps::{Caps, Place};
use super::forwarded::client_address_of;
use super::timeouts::{Activity, Answering, Watched};

/// Connections the kernel completes and queues before they are accepted.
/// The standard library's 128 overflows under a burst of connections, and a
/// client whose handshake the kernel then drops waits seconds for a retry;
/// the accept loop is quick, so a deeper queue only absorbs bursts. The
/// kernel caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 1024;

/// Listens on `address` (`host:port`; a name is resolved, its first
/// address that can be bound is used).
pub async fn listen(address: &str) -> std::io::Result<TcpListener> {
    let mut last_error = None;
    for candidate in tokio::net::lookup_host(address).await? {
        let socket = match candidate {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        // Lets a restarted service bind while old connections linger.
        socket.set_reuseaddr(true)?;
        match socket.bind(candidate) {
            Ok(()) => return socket.listen(LISTEN_BACKLOG),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{address} names no address"),
        )
    }))
}

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
    let caps = Caps::new(
        cap,
        limits.max_connections_per_address,
        &limits.trusted_proxies,
    );
    let connection = Arc::new(ConnectionConfig::new(app, limits));
    let (stop, stopping) = watch::channel(false);
    // Every connection holds a receiver of `open`; `open.closed()` resolves
    // once all are gone.
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
        let activity = Activity::new(limits.header_read_timeout, limits.keep_alive_timeout);
        let Some(place) = caps.take(peer.ip(), &activity) else {
            caps.refuse(socket);
            continue;
        };
        tracing::trace!("connection accepted");
        let (connection, stopping, held) = (connection.clone(), stopping.clone(), held.clone());
        tokio::spawn(async move {
            // A connection upgraded to a WebSocket keeps its place (and
            // shutdown waits for it) until the WebSocket closes too.
            let hold = ConnectionHold {
                _place: Arc::new((place, held)),
                stopping: stopping.clone(),
                activity: activity.clone(),
            };
            connection
                .serve(socket, peer, activity, stopping, &hold)
                .await;
            tracing::trace!("connection closed");
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

/// A connection's place under the caps and in the shutdown's count, as
/// every request of it carries it: a request upgraded to a WebSocket keeps
/// a clone for as long as the WebSocket is open, so an upgraded connection
/// still counts against the caps and shutdown waits for it to close.
#[derive(Clone)]
pub struct ConnectionHold {
    _place: Arc<(Place, watch::Receiver<()>)>,
    /// Turns `true` when the service begins to shut down.
    pub stopping: watch::Receiver<bool>,
    /// The connection's phase: a WebSocket marks it busy, so it is never
    /// closed to make room as an idle connection would be.
    pub activity: Arc<Activity>,
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
        activity: Arc<Activity>,
        mut stopping: watch::Receiver<bool>,
        hold: &ConnectionHold,
    ) {
        let _ = socket.set_nodelay(true);
        let body_read_timeout = self.limits.body_read_timeout;
        let trusted = self.limits.trusted_proxies.clone();
        let service = {
            let (app, activity, hold) = (self.app.clone(), activity.clone(), hold.clone());
            hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let in_flight = activity.request_began();
                let mut request =
                    request.map(|body| Body::new(DeadlineBody::new(body, body_read_timeout)));
                let client = client_address_of(peer.ip(), request.headers(), &trusted);
                request.extensions_mut().insert(ConnectInfo(peer));
                request.extensions_mut().insert(client);
                request.extensions_mut().insert(hold.clone());
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
