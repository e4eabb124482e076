//! How a destination is doing: one that stops answering (no connection, a
//! `429`, three failures in a row) is paused with backoff; after the pause
//! one job probes it, and full parallelism returns with the first answer.

use std::time::Duration;

use tokio::time::Instant;

use super::attempt::Failure;
use super::backoff::target_backoff;

/// Failures in a row after which a destination is paused, whatever they were.
const PAUSE_AFTER_FAILURES: u32 = 3;

#[derive(Debug, Default)]
pub struct Health {
    /// Failures since the destination last answered.
    failures: u32,
    /// Pauses in a row: each failed probe doubles the next pause.
    pauses: u32,
    pub paused_until: Option<Instant>,
    /// After a pause: one job at a time until one is answered.
    pub probing: bool,
}

impl Health {
    /// How many tries may run now.
    pub fn capacity(&self, concurrency: usize, now: Instant) -> usize {
        match self.paused_until {
            Some(until) if until > now => 0,
            _ if self.probing => 1,
            _ => concurrency,
        }
    }

    /// The destination answered; true when it was paused before.
    pub fn answered(&mut self) -> bool {
        let recovered = self.probing;
        *self = Health::default();
        recovered
    }

    /// A try failed; returns the pause the destination is in, if any.
    pub fn failed(&mut self, failure: Failure, retry_after: Option<Duration>) -> Option<Duration> {
        self.failures += 1;
        let pause = matches!(failure, Failure::Connect | Failure::Throttled)
            || self.failures >= PAUSE_AFTER_FAILURES
            || self.probing;
        if !pause {
            return None;
        }
        let now = Instant::now();
        if let Some(until) = self.paused_until.filter(|until| *until > now) {
            // The other tries in flight when the destination went down
            // fail with it: one pause for them all, not one more each.
            let until = retry_after.map_or(until, |wait| until.max(now + wait));
            self.paused_until = Some(until);
            return Some(until - now);
        }
        self.pauses += 1;
        let wait = retry_after.unwrap_or_else(|| target_backoff(self.pauses));
        self.paused_until = Some(now + wait);
        self.probing = true;
        Some(wait)
    }
}
