//! A steady stream of pushes to a running server from a few concurrent
//! senders, remembering every push that was answered `200`: the load an
//! operator's backup or replica must keep up with.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;

use super::calls::synthetic_call;

pub struct SteadyPushes {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<String>>>,
    senders: JoinSet<()>,
}

impl SteadyPushes {
    /// Starts `senders` senders posting the pushes of fresh synthetic calls
    /// to `address` (`http://host:port`). A sender panics on any answer but
    /// `200`, and stops when the server is gone.
    pub fn start(address: &str, senders: i64) -> SteadyPushes {
        SteadyPushes::start_from(address, senders, 0)
    }

    /// Like [`SteadyPushes::start`], with calls of their own for each
    /// `series` (0 is the series of `start`), so a second run beside the
    /// first sends new pushes, not redeliveries.
    pub fn start_from(address: &str, senders: i64, series: i64) -> SteadyPushes {
        let client = reqwest::Client::new();
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = JoinSet::new();
        for sender in 0..senders {
            let (client, stop, acked) = (client.clone(), stop.clone(), acked.clone());
            let url = format!("{address}/webhooks/udesk/calls");
            tasks.spawn(async move {
                for call in 0.. {
                    let conversation_id =
                        7_000_000 + series * 100_000_000 + sender * 1_000_000 + call;
                    for body in synthetic_call(conversation_id, 3) {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        match client.post(&url).body(body.clone()).send().await {
                            Ok(response) if response.status() == 200 => {
                                acked.lock().unwrap().push(body)
                            }
                            Ok(response) => panic!("a push was answered {}", response.status()),
                            Err(_) => return,
                        }
                    }
                }
            });
        }
        SteadyPushes {
            stop,
            acked,
            senders: tasks,
        }
    }

    /// How many pushes were answered 200 so far.
    pub fn acked_count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// Every push answered 200 so far.
    pub fn acked(&self) -> Vec<String> {
        self.acked.lock().unwrap().clone()
    }

    /// Waits until at least `count` pushes were answered 200 (at most 60 s).
    pub async fn wait_for(&self, count: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while self.acked_count() < count {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {count} pushes were answered 200 in time",
                self.acked_count()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the senders (each finishes the push it is sending); returns
    /// every push answered 200. A sender's panic is raised again here.
    pub async fn stop(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        while let Some(joined) = self.senders.join_next().await {
            if let Err(error) = joined
                && error.is_panic()
            {
                std::panic::resume_unwind(error.into_panic());
            }
        }
        self.acked()
    }
}
