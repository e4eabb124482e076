//! How long to wait before trying again: exponential backoff with jitter,
//! for a push and for a whole target, and the receiver's `Retry-After`.
//!
//! Each wait is drawn between half and all of its exponential bound, so the
//! pushes that failed together (a target that went down) do not all come
//! back at the same instant.

use std::time::{Duration, SystemTime};

use axum::http::HeaderValue;

/// A push's first retry comes after about this long.
const PUSH_FIRST: Duration = Duration::from_secs(1);
/// A push waits at most this long between tries (its call waits with it).
const PUSH_MOST: Duration = Duration::from_secs(60);
/// A target that stopped answering is tried again after about this long.
const TARGET_FIRST: Duration = Duration::from_millis(500);
/// A target that stays down is tried at least this often, so it is found
/// again within this long once it is back.
const TARGET_MOST: Duration = Duration::from_secs(30);
/// A `Retry-After` beyond this is read as this.
const RETRY_AFTER_MOST: Duration = Duration::from_secs(3600);

/// The wait before the next try of a push that failed `failures` times.
pub fn push_backoff(failures: u32) -> Duration {
    jittered(exponential(PUSH_FIRST, PUSH_MOST, failures))
}

/// The wait before the next try of a job that failed `failures` times, at
/// most `most` (a job whose failures are its own: a recording's link).
pub fn job_backoff(failures: u32, most: Duration) -> Duration {
    jittered(exponential(PUSH_FIRST, most, failures))
}

/// The pause of a target after `failures` failures in a row.
pub fn target_backoff(failures: u32) -> Duration {
    jittered(exponential(TARGET_FIRST, TARGET_MOST, failures))
}

/// `first`, doubled for each failure after the first, at most `most`.
fn exponential(first: Duration, most: Duration, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(20);
    first.saturating_mul(1 << doublings).min(most)
}

/// A wait between half and all of `bound`.
fn jittered(bound: Duration) -> Duration {
    let half = bound / 2;
    half + half.mul_f64(fastrand::f64())
}

/// A `Retry-After` value: seconds, or an HTTP date; at most an hour.
pub fn retry_after(value: &HeaderValue, now: SystemTime) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    let wait = match text.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => httpdate(text)?
            .duration_since(now)
            .unwrap_or(Duration::ZERO),
    };
    Some(wait.min(RETRY_AFTER_MOST))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form HTTP uses.
fn httpdate(text: &str) -> Option<SystemTime> {
    let parsed = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(parsed.timestamp()).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_within_their_bounds_and_never_exceed_the_cap() {
        for failures in 1..=30 {
            let bound = exponential(PUSH_FIRST, PUSH_MOST, failures);
            for _ in 0..20 {
                let wait = push_backoff(failures);
                assert!(wait >= bound / 2 && wait <= bound, "{failures}: {wait:?}");
            }
        }
        assert_eq!(exponential(PUSH_FIRST, PUSH_MOST, 1), PUSH_FIRST);
        assert_eq!(exponential(PUSH_FIRST, PUSH_MOST, 3), PUSH_FIRST * 4);
        assert_eq!(exponential(PUSH_FIRST, PUSH_MOST, 30), PUSH_MOST);
        assert!(target_backoff(100) <= TARGET_MOST);
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date_and_capped() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        let read = |text: &'static str| retry_after(&HeaderValue::from_static(text), now);
        assert_eq!(read("3"), Some(Duration::from_secs(3)));
        assert_eq!(read("999999"), Some(RETRY_AFTER_MOST));
        assert_eq!(
            read("Sun, 06 Nov 1994 08:49:47 GMT"),
            Some(Duration::from_secs(10))
        );
        assert_eq!(read("Sun, 06 Nov 1994 08:00:00 GMT"), Some(Duration::ZERO));
        assert_eq!(read("soon"), None);
    }
}
