//! Running fuzz targets: their time budget, a count of executions and of
//! what became of the bodies, and a watchdog for hangs.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The budget of one fuzz target: `UDESK_CALLS_FUZZ_SECONDS`, else `short`.
pub fn budget(short: Duration) -> Duration {
    std::env::var("UDESK_CALLS_FUZZ_SECONDS")
        .ok()
        .and_then(|seconds| seconds.parse().ok())
        .map_or(short, Duration::from_secs)
}

/// Counts executions and watches for hangs: a thread aborts the process,
/// printing the input, once one input runs longer than `limit`. The limits
/// are wall-clock time and generous (an input takes milliseconds): a run
/// under `nice -n 19` on a busy machine can wait seconds for a core.
pub struct Runs {
    name: &'static str,
    started: Instant,
    executions: AtomicU64,
    outcomes: Mutex<BTreeMap<&'static str, u64>>,
    current: Arc<Mutex<Option<(Instant, String)>>>,
}

impl Runs {
    pub fn new(name: &'static str, limit: Duration) -> Runs {
        let current: Arc<Mutex<Option<(Instant, String)>>> = Arc::default();
        let watched = Arc::downgrade(&current);
        std::thread::spawn(move || {
            while let Some(current) = watched.upgrade() {
                if let Some((since, input)) = &*current.lock().unwrap_or_else(|p| p.into_inner())
                    && since.elapsed() > limit
                {
                    eprintln!("fuzz {name}: an input ran over {limit:?} (a hang): {input}");
                    std::process::abort();
                }
                drop(current);
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        Runs {
            name,
            started: Instant::now(),
            executions: AtomicU64::new(0),
            outcomes: Mutex::default(),
            current,
        }
    }

    pub fn run(&self, input: &impl Debug, check: impl FnOnce() -> Vec<&'static str>) {
        /// Clears the watched input however the check ends (a panic is
        /// bolero's to shrink, not a hang).
        struct Done<'a>(&'a Mutex<Option<(Instant, String)>>);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
            }
        }
        *self.current.lock().unwrap() = Some((Instant::now(), format!("{input:?}")));
        let _done = Done(&self.current);
        let outcomes = check();
        self.executions.fetch_add(1, Ordering::Relaxed);
        let mut tally = self.outcomes.lock().unwrap();
        for outcome in outcomes {
            *tally.entry(outcome).or_default() += 1;
        }
    }

    pub fn report(&self) {
        let executions = self.executions.load(Ordering::Relaxed);
        eprintln!(
            "fuzz {}: {executions} executions in {:.1?}, no failure; bodies: {:?}",
            self.name,
            self.started.elapsed(),
            self.outcomes.lock().unwrap()
        );
        assert!(executions > 0, "the fuzz target ran no input");
    }
}
