//! Progress bars for the long commands (`import`, `reprocess`, `backup`,
//! `purge`).
//!
//! They are drawn on standard error only when it is a terminal: indicatif's
//! stderr target hides itself otherwise, so what scripts, log collectors and
//! tests capture is exactly what the command prints without them. Messages
//! printed while a bar shows go through [`Bar::println`], so the bar never
//! overwrites them.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::storage::Progress;

/// How often a bar with no news redraws (its spinner and clock).
const TICK: Duration = Duration::from_millis(120);

/// A stage of unknown size.
const SPINNER: &str = "{spinner} {msg} [{elapsed}]";
/// A stage of known size.
const BAR: &str = "{msg:>18} [{wide_bar}] {human_pos}/{human_len} ({percent}%, {eta} left)";

/// A progress bar on standard error, hidden when that is not a terminal.
pub struct Bar {
    bar: ProgressBar,
    /// The stage shown, and whether its total is known.
    stage: Option<(&'static str, bool)>,
}

impl Bar {
    /// A bar that counts `unit`s with no known total (a spinner).
    pub fn counting(unit: &'static str) -> Bar {
        let template = format!("{{spinner}} {{human_pos}} {unit} [{{elapsed}}]");
        Bar {
            bar: ticking(None, &template, "", 0),
            stage: None,
        }
    }

    /// A bar over the `total` bytes of a file being read, with the rate and
    /// the time left.
    pub fn reading(total: u64) -> Bar {
        let template = "reading [{wide_bar}] {binary_bytes}/{binary_total_bytes} ({percent}%, {binary_bytes_per_sec}, {eta} left)";
        Bar {
            bar: ticking(Some(total), template, "", 0),
            stage: None,
        }
    }

    /// A bar for a storage job that reports [`Progress`]; its look follows
    /// the stage reported.
    pub fn staged() -> Bar {
        Bar {
            bar: ticking(None, SPINNER, "opening the database", 0),
            stage: None,
        }
    }

    /// Sets how many units are done.
    pub fn set(&self, done: u64) {
        self.bar.set_position(done);
    }

    /// Counts `units` more.
    pub fn add(&self, units: u64) {
        self.bar.inc(units);
    }

    /// Shows where a storage job is.
    pub fn show(&mut self, progress: Progress) {
        let known = progress.total > 0;
        if self.stage == Some((progress.stage, known)) {
            self.bar.set_position(progress.done);
            return;
        }
        // A new stage gets a new bar, complete before it is first drawn, so
        // no frame mixes two stages.
        self.stage = Some((progress.stage, known));
        self.bar.finish_and_clear();
        self.bar = if known {
            ticking(Some(progress.total), BAR, progress.stage, progress.done)
        } else {
            ticking(None, SPINNER, progress.stage, 0)
        };
    }

    /// Prints a line to standard error above the bar.
    pub fn println(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
    }

    /// Removes the bar, so the summary that follows stands alone.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

fn ticking(
    length: Option<u64>,
    template: &str,
    message: &'static str,
    position: u64,
) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(length, ProgressDrawTarget::stderr())
        .with_style(ProgressStyle::with_template(template).expect("a valid template"))
        .with_message(message)
        .with_position(position);
    bar.enable_steady_tick(TICK);
    bar
}
