//! The archive's bandwidth cap (`serve --recordings-max-rate`), shared by
//! every download at once. Archiving a backlog at full speed writes
//! hundreds of megabytes a second; the disk and the kernel's copies are
//! then the webhook's too, and its commits wait. Measured (`cargo bench
//! --bench figures`, section 14): ingest keeps 91% of its rate without
//! archiving under the default cap, and some 60% with none. A cap is counted in KiB, in bursts of a tenth of a second.

use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

pub struct Pace {
    limiter: Option<(DefaultDirectRateLimiter, u32)>,
}

impl Pace {
    /// At most `bytes_per_second`; no cap with `None` (or 0).
    pub fn new(bytes_per_second: Option<u64>) -> Pace {
        let kib = bytes_per_second
            .map(|rate| (rate / 1024).clamp(1, u64::from(u32::MAX)) as u32)
            .and_then(NonZeroU32::new);
        let limiter = kib.map(|kib| {
            let burst = (kib.get() / 10).max(64);
            let quota = Quota::per_second(kib)
                .allow_burst(NonZeroU32::new(burst).expect("a burst of 64 KiB at least"));
            (RateLimiter::direct(quota), burst)
        });
        Pace { limiter }
    }

    /// Waits until `bytes` more may be taken; `carry` keeps what is short
    /// of a KiB between calls of one download.
    pub async fn take(&self, bytes: usize, carry: &mut u64) {
        let Some((limiter, burst)) = &self.limiter else {
            return;
        };
        *carry += bytes as u64;
        let mut kib = *carry / 1024;
        *carry %= 1024;
        while kib > 0 {
            let now = kib.min(u64::from(*burst)) as u32;
            kib -= u64::from(now);
            let cells = NonZeroU32::new(now).expect("at least one KiB");
            // Never more than the burst: cannot be refused.
            let _ = limiter.until_n_ready(cells).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn a_capped_pace_lets_no_more_than_its_rate_through() {
        // 1 MiB/s, a burst of 102 KiB: a megabyte past the burst takes a
        // second at least (a slow machine may take longer, never less).
        let pace = Pace::new(Some(1024 * 1024));
        let began = Instant::now();
        let mut carry = 0;
        for _ in 0..(1024 + 102) {
            pace.take(1024, &mut carry).await;
        }
        let took = began.elapsed().as_secs_f64();
        assert!(took >= 0.95, "{took} s");
    }

    #[tokio::test]
    async fn without_a_cap_nothing_waits_and_carries_count_bytes_short_of_a_kib() {
        let pace = Pace::new(None);
        let mut carry = 0;
        pace.take(10 << 30, &mut carry).await;
        let capped = Pace::new(Some(1 << 30));
        capped.take(1000, &mut carry).await;
        assert_eq!(carry, 1000);
        capped.take(100, &mut carry).await;
        assert_eq!(carry, 76);
    }
}
