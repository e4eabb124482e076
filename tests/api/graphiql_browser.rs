//! GraphiQL in a real browser: headless Chromium opens `GET /graphql` on a
//! machine without internet access, the IDE renders from the scripts the
//! binary embeds, within the page's Content-Security-Policy, and it loads
//! the schema without an error.
//!
//! Needs Chromium (`.ci/run` installs Debian's `chromium`). Without it the
//! test says so and passes, except under CI (`CI` set), where it fails.

use std::path::PathBuf;
use std::process::Command;

use udesk_calls::Settings;

use crate::support::TestApp;
use crate::support::chromium::chromium;

/// The page's DOM after its scripts ran (and the network calls they made),
/// and the browser's log, which holds the page's console messages.
fn rendered_dom(browser: &PathBuf, url: &str) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=15000",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .output()
        .expect("Chromium runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_renders_offline_from_the_binary_and_loads_the_schema() {
    let Some(browser) = chromium() else {
        crate::support::skip::missing_tool(
            "Chromium",
            "apt-get install chromium; .ci/run installs it",
        );
        return;
    };
    let app = TestApp::start_with(Settings::open_local()).await;
    let url = app.url("/graphql");
    let (dom, log) = tokio::task::spawn_blocking(move || rendered_dom(&browser, &url))
        .await
        .unwrap();
    assert!(
        dom.contains("graphiql-container"),
        "GraphiQL did not render: {dom}"
    );
    assert!(
        !dom.contains("Loading GraphiQL"),
        "the scripts did not run: {dom}"
    );
    assert!(
        dom.contains("FirstQuery"),
        "the README's first query is not preloaded"
    );
    // The page runs within its Content-Security-Policy: nothing blocked.
    let blocked: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("Content Security Policy"))
        .collect();
    assert!(blocked.is_empty(), "blocked by the policy: {blocked:#?}");
    // GraphiQL shows a failed schema load in its result pane.
    for failure in ["nested too deep", "QUERY_TOO_COMPLEX", "Failed to fetch"] {
        assert!(!dom.contains(failure), "GraphiQL shows {failure:?}");
    }
}
