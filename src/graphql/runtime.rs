//! The threads GraphQL requests run on, apart from the runtime answering pushes.
//!
//! Parsing, validating and resolving a query, and writing its answer, take
//! CPU; on the service's own runtime a few heavy queries would occupy every
//! worker thread and Udesk's pushes would wait behind them. Each served app
//! owns a small pool of threads for GraphQL instead, each with its own
//! single-threaded runtime: they compete for the cores like any other
//! thread, so the operating system keeps answering pushes on the main
//! runtime while queries run. A request runs on the least busy thread, all
//! of it on that one: its resolvers queue their loads within one poll, so
//! the data loader answers a page's children in one read per kind. The
//! blocking reads run on that thread's runtime's blocking pool.
//!
//! A task spawned here carries the spawner's tracing subscriber and span,
//! so its log lines and spans go where the request's would.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::task::JoinHandle;
use tokio_util::task::LocalPoolHandle;
use tracing::Instrument;
use tracing::instrument::WithSubscriber;

/// The most threads: more cores than this serve GraphQL no faster than the
/// reader pool lets them, and each app of the tests owns a pool.
const MAX_THREADS: usize = 4;

/// The GraphQL threads of one app; they end when it is dropped.
pub struct QueryRuntime {
    pool: LocalPoolHandle,
}

impl QueryRuntime {
    /// A thread per core, at most [`MAX_THREADS`].
    pub fn new() -> QueryRuntime {
        let threads = std::thread::available_parallelism()
            .map_or(2, |cores| cores.get())
            .min(MAX_THREADS);
        QueryRuntime {
            pool: LocalPoolHandle::new(threads),
        }
    }

    /// Runs `future` on the least busy thread; dropping the returned handle
    /// (the client went away) cancels it.
    pub fn spawn<F>(&self, future: F) -> Running<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let future = traced(future);
        Running(self.pool.spawn_pinned(move || future))
    }
}

impl Default for QueryRuntime {
    fn default() -> Self {
        QueryRuntime::new()
    }
}

/// `future` with the current tracing subscriber and span, for another
/// thread to run: the data loader spawns its loads through this too.
pub fn traced<F: Future>(future: F) -> impl Future<Output = F::Output> {
    future.in_current_span().with_current_subscriber()
}

/// A task on a GraphQL thread, aborted when dropped.
pub struct Running<T>(JoinHandle<T>);

impl<T> Future for Running<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for Running<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
