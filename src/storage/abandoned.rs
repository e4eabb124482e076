//! Interrupting a read nobody waits for any more.
//!
//! A GraphQL request stopped at its time limit, or whose client went away,
//! drops the future awaiting its read; the read itself runs on a blocking
//! thread, which dropping cannot stop. The [`Caller`] left behind by the
//! dropped future interrupts the statement running on the reader's
//! connection (SQLite's `sqlite3_interrupt`), or keeps a read not yet begun
//! from beginning, so the connection returns to the pool at once instead of
//! after the whole query.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, InterruptHandle};

use super::StoreError;

#[derive(Default)]
struct State {
    /// The connection's handle while the work runs on it.
    running: Option<InterruptHandle>,
    abandoned: bool,
}

type Shared = Arc<Mutex<State>>;

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Held by the awaiting future: interrupts the read when dropped before
/// [`Caller::finished`].
pub(super) struct Caller(Option<Shared>);

/// Moved to the blocking thread: runs the work where it can be interrupted.
pub(super) struct Reader(Shared);

pub(super) fn pair() -> (Caller, Reader) {
    let shared = Shared::default();
    (Caller(Some(shared.clone())), Reader(shared))
}

impl Caller {
    /// The read's result arrived: nothing to interrupt any more.
    pub(super) fn finished(mut self) {
        self.0 = None;
    }
}

impl Drop for Caller {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            let mut state = lock(&shared);
            state.abandoned = true;
            if let Some(handle) = state.running.take() {
                handle.interrupt();
            }
        }
    }
}

impl Reader {
    /// Runs `work` on `connection` unless the caller is gone already. The
    /// handle is cleared before `connection` can return to the pool, so an
    /// interrupt never reaches the next read on it.
    pub(super) fn run<T>(
        self,
        connection: &Connection,
        work: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        {
            let mut state = lock(&self.0);
            if state.abandoned {
                return Err(StoreError::Internal("the read was abandoned".into()));
            }
            state.running = Some(connection.get_interrupt_handle());
        }
        let result = work(connection);
        lock(&self.0).running = None;
        result
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::storage::{DEFAULT_WAL_AUTOCHECKPOINT, Store, StoreError, StoreOptions};

    #[tokio::test]
    async fn a_read_whose_caller_stopped_waiting_is_interrupted_and_frees_its_connection() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreOptions {
            path: dir.path().join("calls.db"),
            default_offset: crate::wire::time::beijing(),
            readers: 1,
            wal_autocheckpoint: DEFAULT_WAL_AUTOCHECKPOINT,
            train_dictionary_after: crate::storage::bodies::TRAIN_AFTER,
        })
        .unwrap();
        // Seconds of work, not endless: should the interrupt fail, the test
        // fails once it ends rather than hanging.
        let long = store.read(|connection| {
            connection
                .query_row(
                    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n \
                     WHERE x < 100000000) SELECT count(*) FROM n",
                    [],
                    |row| row.get::<_, i64>(0),
                )
                .map_err(|error| StoreError::Internal(error.to_string()))
        });
        let gave_up = tokio::time::timeout(Duration::from_millis(200), long).await;
        assert!(gave_up.is_err(), "the long read ended: {gave_up:?}");

        // The pool's only connection is free again as soon as the statement stops.
        let started = Instant::now();
        let next = store
            .read(|connection| {
                connection
                    .query_row("SELECT 41 + 1", [], |row| row.get::<_, i64>(0))
                    .map_err(|error| StoreError::Internal(error.to_string()))
            })
            .await
            .unwrap();
        assert_eq!(next, 42);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the next read waited {:?}",
            started.elapsed()
        );
        store.close().await;
    }
}
