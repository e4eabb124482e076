//! How long one connection may keep the service waiting.
//!
//! A connection is always in one phase: sending a request head (from its
//! opening, or from the first byte after an idle wait), busy with requests,
//! or idle between them. The head must be complete within the header read
//! timeout, and an idle connection is closed after the keep-alive timeout;
//! a busy one has no deadline of its own, but its request body must arrive
//! within the body read timeout ([`super::body_deadline`]). This is what hyper's own
//! header timeout cannot tell apart: it runs from the end of one answer, so
//! it would be the idle limit too.
//!
//! The phase is told by the socket (a byte read, [`Watched`]), the service
//! (a request began) and the answer's body (dropped once written,
//! [`Answering`]).

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Which limit a connection overstayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overstayed {
    /// Its request head was not complete in time.
    HeaderRead,
    /// It sent no new request in time.
    KeepAlive,
    /// It waited longest when the connection cap was reached.
    MadeRoom,
}

impl Overstayed {
    pub fn as_str(self) -> &'static str {
        match self {
            Overstayed::HeaderRead => {
                "its request head was not complete within the header read timeout"
            }
            Overstayed::KeepAlive => "it was idle for the keep-alive timeout",
            Overstayed::MadeRoom => "it had waited longest when every place was taken",
        }
    }
}

#[derive(Clone, Copy)]
enum Phase {
    Head { since: Instant },
    Busy,
    Idle { since: Instant },
}

/// One connection's phase and the timeouts that apply to it.
pub struct Activity {
    header_read_timeout: Duration,
    keep_alive_timeout: Duration,
    state: Mutex<State>,
    /// Set while idle, so that reads need not lock until a new request starts.
    idle: AtomicBool,
    /// Set when the connection is to be closed to make room for another.
    evicted: AtomicBool,
    /// Requests it has carried: a connection that carried several is a
    /// client's, kept over ones that only hold a place.
    served: AtomicU32,
    /// Whether any byte has come in on it.
    heard: AtomicBool,
    changed: Notify,
}

struct State {
    phase: Phase,
    in_flight: usize,
}

impl Activity {
    /// A connection just opened: its first request head is awaited.
    pub fn new(header_read_timeout: Duration, keep_alive_timeout: Duration) -> Arc<Activity> {
        Arc::new(Activity {
            header_read_timeout,
            keep_alive_timeout,
            state: Mutex::new(State {
                phase: Phase::Head {
                    since: Instant::now(),
                },
                in_flight: 0,
            }),
            idle: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            served: AtomicU32::new(0),
            heard: AtomicBool::new(false),
            changed: Notify::new(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent whatever panicked while holding it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Bytes came in: after an idle wait, a new request head has begun.
    pub(super) fn bytes_read(&self) {
        if !self.heard.load(Ordering::Relaxed) {
            self.heard.store(true, Ordering::Relaxed);
        }
        if !self.idle.swap(false, Ordering::AcqRel) {
            return;
        }
        let mut state = self.state();
        if let Phase::Idle { .. } = state.phase {
            state.phase = Phase::Head {
                since: Instant::now(),
            };
            self.changed.notify_one();
        }
    }

    /// A request head was read; the connection is busy until the returned
    /// guard is dropped with the answer.
    pub fn request_began(self: &Arc<Self>) -> InFlight {
        self.served.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state();
        state.in_flight += 1;
        state.phase = Phase::Busy;
        self.idle.store(false, Ordering::Release);
        self.changed.notify_one();
        InFlight(self.clone())
    }

    fn request_ended(&self) {
        let mut state = self.state();
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight == 0 {
            state.phase = Phase::Idle {
                since: Instant::now(),
            };
            self.idle.store(true, Ordering::Release);
            self.changed.notify_one();
        }
    }

    /// Since when the connection has waited for a request head (sending
    /// one, or idle); `None` while a request is in progress.
    pub fn waiting_since(&self) -> Option<Instant> {
        match self.state().phase {
            Phase::Head { since } | Phase::Idle { since } => Some(since),
            Phase::Busy => None,
        }
    }

    /// Where the connection stands when one must make room, lowest first,
    /// and since when it has waited; `None` while a request is in progress.
    /// First go those that never sent a byte; then those idle after a
    /// request or two, or holding a WebSocket not yet initialised; then
    /// those sending a request head (a push arriving); last, idle
    /// connections that carried many requests (a client's keep-alive).
    pub fn give_way_rank(&self, served_enough: u32) -> Option<(u8, Instant)> {
        let (sending, since) = match self.state().phase {
            Phase::Head { since } => (true, since),
            Phase::Idle { since } => (false, since),
            Phase::Busy => return None,
        };
        let served = self.served.load(Ordering::Relaxed);
        let rank = if !self.heard.load(Ordering::Relaxed) {
            0
        } else if !sending && served < served_enough {
            1
        } else if sending {
            2
        } else {
            3
        };
        Some((rank, since))
    }

    /// Closes the connection, to give its place to another.
    pub fn make_room(&self) {
        self.evicted.store(true, Ordering::Release);
        self.changed.notify_one();
    }

    /// Resolves once the connection is to be closed to make room: what an
    /// upgraded connection not yet authenticated waits for, since it no
    /// longer reads requests and so has no other phase to overstay.
    pub async fn made_room(&self) {
        loop {
            // As in `overstayed`: a change between the load and the wait
            // leaves a permit.
            if self.evicted.load(Ordering::Acquire) {
                return;
            }
            self.changed.notified().await;
        }
    }

    fn deadline(&self) -> Option<(Instant, Overstayed)> {
        if self.evicted.load(Ordering::Acquire) {
            return Some((Instant::now(), Overstayed::MadeRoom));
        }
        match self.state().phase {
            Phase::Head { since } => {
                Some((since + self.header_read_timeout, Overstayed::HeaderRead))
            }
            Phase::Idle { since } => Some((since + self.keep_alive_timeout, Overstayed::KeepAlive)),
            Phase::Busy => None,
        }
    }

    /// Resolves once the connection has overstayed a limit of its phase.
    pub async fn overstayed(&self) -> Overstayed {
        loop {
            match self.deadline() {
                // A change between reading the phase and waiting leaves a
                // permit in `changed`, so it is never missed.
                None => self.changed.notified().await,
                Some((deadline, limit)) => {
                    if deadline <= Instant::now() {
                        return limit;
                    }
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => {}
                        () = self.changed.notified() => {}
                    }
                }
            }
        }
    }
}

/// A request being answered; dropped when its answer is written.
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

/// A socket that tells its connection's [`Activity`] when bytes arrive.
pub struct Watched<S> {
    socket: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    pub fn new(socket: S, activity: Arc<Activity>) -> Watched<S> {
        Watched { socket, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.socket).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.socket).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.socket).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.socket.is_write_vectored()
    }
}

/// An answer's body, which ends its request's [`InFlight`] when dropped.
pub struct Answering {
    body: Body,
    _in_flight: InFlight,
}

impl Answering {
    pub fn new(body: Body, in_flight: InFlight) -> Answering {
        Answering {
            body,
            _in_flight: in_flight,
        }
    }
}

impl http_body::Body for Answering {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: Duration = Duration::from_secs(2);
    const IDLE: Duration = Duration::from_secs(5);

    #[tokio::test(start_paused = true)]
    async fn a_new_connection_must_finish_its_head_within_the_header_timeout() {
        let activity = Activity::new(HEAD, IDLE);
        let started = Instant::now();
        assert_eq!(activity.overstayed().await, Overstayed::HeaderRead);
        assert_eq!(started.elapsed(), HEAD);
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_connection_never_overstays_and_an_idle_one_does_after_the_keep_alive() {
        let activity = Activity::new(HEAD, IDLE);
        let request = activity.request_began();
        let waiting = tokio::time::timeout(Duration::from_secs(3600), activity.overstayed());
        assert!(waiting.await.is_err(), "a busy connection overstayed");
        drop(request);
        let idle_since = Instant::now();
        assert_eq!(activity.overstayed().await, Overstayed::KeepAlive);
        assert_eq!(idle_since.elapsed(), IDLE);
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_byte_after_an_idle_wait_starts_the_header_timeout() {
        let activity = Activity::new(HEAD, IDLE);
        drop(activity.request_began());
        tokio::time::sleep(Duration::from_secs(4)).await;
        activity.bytes_read();
        let head_since = Instant::now();
        assert_eq!(activity.overstayed().await, Overstayed::HeaderRead);
        assert_eq!(head_since.elapsed(), HEAD);
    }
}
