//! What the requests of one HTTP request (a batch, or a single request)
//! share: the complexity they may cost together, the bytes of their answer
//! and the time they may take.
//!
//! A batch is judged as a whole. Each of its requests, once validated,
//! reports what it may cost and waits until every request of the batch
//! has reported (one refused before validation reports nothing, when it
//! ends); then all run if their costs together stay within
//! [`MAX_COMPLEXITY`](super::limits::MAX_COMPLEXITY), and none does
//! otherwise. Validation is bounded by the document limits, so the wait is
//! short.

use std::any::TypeId;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_graphql::Request;
use tokio::sync::watch;

/// Attached to every request of one HTTP request (see [`RequestBudget::attach`]).
#[derive(Debug)]
pub struct RequestBudget {
    requests: usize,
    /// How many requests reported, and their costs together.
    reported: Mutex<(usize, usize)>,
    /// The batch's total cost, once every request reported.
    total: watch::Sender<Option<usize>>,
    response_bytes: AtomicUsize,
    max_response_bytes: usize,
    response_too_large: AtomicBool,
    /// Bytes of pushes' bodies read for the answer: each field asking for a
    /// call's events with bodies gets its own copy.
    bodies_loaded: AtomicUsize,
    /// The time each answer (each message of a subscription) may take.
    time: Duration,
    started: Instant,
    /// Milliseconds after `started`.
    deadline_ms: AtomicU64,
    past_deadline: AtomicBool,
    /// When the current message of a subscription began, in microseconds
    /// after `started`.
    message_started_us: AtomicU64,
}

impl RequestBudget {
    /// The budget of `requests` requests whose answers may take
    /// `max_response_bytes` together, and which may run for `time` from now.
    pub fn new(requests: usize, max_response_bytes: usize, time: Duration) -> Arc<RequestBudget> {
        Arc::new(RequestBudget {
            requests,
            reported: Mutex::new((0, 0)),
            total: watch::Sender::new(None),
            response_bytes: AtomicUsize::new(0),
            max_response_bytes,
            response_too_large: AtomicBool::new(false),
            bodies_loaded: AtomicUsize::new(0),
            time,
            started: Instant::now(),
            deadline_ms: AtomicU64::new(millis(time)),
            past_deadline: AtomicBool::new(false),
            message_started_us: AtomicU64::new(0),
        })
    }

    /// Whether the time is up (and from then on, whether it was).
    pub fn past_deadline(&self) -> bool {
        if !self.past_deadline.load(Ordering::Relaxed)
            && millis(self.started.elapsed()) >= self.deadline_ms.load(Ordering::Relaxed)
        {
            self.past_deadline.store(true, Ordering::Relaxed);
        }
        self.past_deadline.load(Ordering::Relaxed)
    }

    /// Starts the budget of a subscription's next message afresh: its bytes
    /// and its time are its own. A subscription resolves one message at a
    /// time, so the previous one is done.
    pub fn start_message(&self) {
        self.message_started_us
            .store(micros(self.started.elapsed()), Ordering::Relaxed);
        self.response_bytes.store(0, Ordering::Relaxed);
        self.bodies_loaded.store(0, Ordering::Relaxed);
        self.response_too_large.store(false, Ordering::Relaxed);
        let deadline = millis(self.started.elapsed()).saturating_add(millis(self.time));
        self.deadline_ms.store(deadline, Ordering::Relaxed);
        self.past_deadline.store(false, Ordering::Relaxed);
    }

    /// How long the current message has taken so far: a subscription's
    /// work on one update, once it is resolved.
    pub fn message_elapsed(&self) -> Duration {
        let started = self.message_started_us.load(Ordering::Relaxed);
        Duration::from_micros(micros(self.started.elapsed()).saturating_sub(started))
    }

    /// The budget attached to `request`, if any.
    pub fn of(request: &Request) -> Option<Arc<RequestBudget>> {
        request
            .data
            .get(&TypeId::of::<Arc<RequestBudget>>())
            .and_then(|data| data.downcast_ref::<Arc<RequestBudget>>())
            .cloned()
    }

    /// Whether the answer outgrew the limit while being resolved.
    pub fn response_too_large(&self) -> bool {
        self.response_too_large.load(Ordering::Relaxed)
    }

    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    /// Counts `bytes` more of bodies copied into the answer; `false` once
    /// over the answer's limit, before they are copied: many aliases of one
    /// call's events must not each copy megabytes of bodies.
    pub fn add_bodies_loaded(&self, bytes: usize) -> bool {
        let total = self
            .bodies_loaded
            .fetch_add(bytes, Ordering::Relaxed)
            .saturating_add(bytes);
        total <= self.max_response_bytes
    }

    /// Counts `bytes` more of the answer; `false` once over the limit.
    pub fn add_response_bytes(&self, bytes: usize) -> bool {
        let total = self
            .response_bytes
            .fetch_add(bytes, Ordering::Relaxed)
            .saturating_add(bytes);
        if total > self.max_response_bytes {
            self.response_too_large.store(true, Ordering::Relaxed);
        }
        !self.response_too_large()
    }

    fn report(&self, cost: usize) {
        let mut reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
        reported.0 += 1;
        reported.1 = reported.1.saturating_add(cost);
        if reported.0 == self.requests {
            self.total.send_replace(Some(reported.1));
        }
    }

    /// The batch's total cost, once every request reported.
    async fn total(&self) -> usize {
        let mut total = self.total.subscribe();
        match total.wait_for(Option::is_some).await {
            Ok(total) => total.unwrap_or_default(),
            // The sender lives in `self`: never reached.
            Err(_) => usize::MAX,
        }
    }
}

fn millis(time: Duration) -> u64 {
    u64::try_from(time.as_millis()).unwrap_or(u64::MAX)
}

fn micros(time: Duration) -> u64 {
    u64::try_from(time.as_micros()).unwrap_or(u64::MAX)
}

/// One request's report still to make; made with a cost of nothing when
/// dropped unmade (the request was refused or failed before validation).
#[derive(Debug)]
pub struct Report(Option<Arc<RequestBudget>>);

impl Report {
    pub fn new(budget: Arc<RequestBudget>) -> Report {
        Report(Some(budget))
    }

    /// Reports `cost` and waits for the batch's total.
    pub async fn cost(mut self, cost: usize) -> usize {
        let Some(budget) = self.0.take() else {
            return cost;
        };
        budget.report(cost);
        budget.total().await
    }
}

impl Drop for Report {
    fn drop(&mut self) {
        if let Some(budget) = self.0.take() {
            budget.report(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_request_learns_the_batch_total_once_all_reported() {
        let budget = RequestBudget::new(3, 1024, Duration::from_secs(1));
        let refused = Report::new(budget.clone());
        let (first, second) = (Report::new(budget.clone()), Report::new(budget.clone()));
        let waiting = tokio::spawn(first.cost(10));
        drop(refused);
        assert_eq!(second.cost(5).await, 15);
        assert_eq!(waiting.await.unwrap(), 15);
    }

    #[test]
    fn the_answer_is_too_large_once_its_bytes_exceed_the_limit() {
        let budget = RequestBudget::new(1, 100, Duration::from_secs(1));
        assert!(budget.add_response_bytes(60));
        assert!(budget.add_response_bytes(40));
        assert!(!budget.add_response_bytes(1));
        assert!(budget.response_too_large());
    }

    #[test]
    fn each_message_of_a_subscription_has_its_own_bytes_and_time() {
        let budget = RequestBudget::new(1, 100, Duration::from_millis(20));
        assert!(!budget.add_response_bytes(101));
        std::thread::sleep(Duration::from_millis(30));
        assert!(budget.past_deadline());
        budget.start_message();
        assert!(!budget.response_too_large());
        assert!(!budget.past_deadline());
        assert!(budget.add_response_bytes(100));
    }

    #[test]
    fn the_deadline_passes_once_and_stays_passed() {
        let budget = RequestBudget::new(1, 100, Duration::from_millis(20));
        assert!(!budget.past_deadline());
        std::thread::sleep(Duration::from_millis(30));
        assert!(budget.past_deadline());
        assert!(budget.past_deadline());
    }
}
