//! A test that cannot run on this machine says so where a person sees it.
//!
//! The test harness captures what a test prints, and shows it only when the
//! test fails: a skip noted with `eprintln!` would read as a plain `ok`.
//! These notes are written to the process's standard error itself, past the
//! capture. A tool that `.ci/run` installs (Chromium, systemd-analyze,
//! DuckDB) is required under CI (`CI` set, as `.ci/run` and CI services
//! set it): there a missing one fails the test instead of skipping it.

use std::io::Write;

/// Notes that the current test is skipped for `reason`; it cannot run here
/// whatever CI installs (root, a file system), so it never fails.
pub fn skipped(reason: &str) {
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
}

/// Notes that `tool` is missing, and fails the test under CI, where
/// `.ci/run` installs it.
pub fn missing_tool(tool: &str, install: &str) {
    let reason = format!("{tool} is not available ({install})");
    assert!(
        std::env::var_os("CI").is_none(),
        "{reason}: under CI this test must run, not skip"
    );
    skipped(&reason);
}
