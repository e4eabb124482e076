//! The wallboard in real headless Chromium: `/wallboard` renders today's
//! figures from the binary's own files, updates without a reload as pushes
//! arrive, and asks for the token when the service has one. A screenshot at
//! 1920×1080 is left at `target/wallboard-screenshot.png` for a person to
//! look at (and one with the player open beside it).

use std::path::PathBuf;
use std::time::Duration;

use chrono::Timelike;
use chrono::Utc;
use serde_json::{Value, json};
use udesk_calls::Settings;
use udesk_calls::config::recordings::{ArchiveTarget, RecordingSettings};

use crate::support::TestApp;
use crate::support::audio_source::AudioSource;
use crate::support::calls::{beijing, udesk_time};
use crate::support::chromium::{Browser, chromium};

const PATIENCE: Duration = Duration::from_secs(20);

/// A call of today (in the service's default offset, +08:00), `seconds_ago`
/// before now: its `end` push.
fn call_today(id: i64, group: i64, seconds_ago: i64, answered: bool) -> Value {
    let now = Utc::now().with_timezone(&beijing());
    // Still today when the test runs just after midnight.
    let since_midnight = i64::from(now.num_seconds_from_midnight());
    let seconds_ago = seconds_ago.min(since_midnight);
    let started = now - chrono::Duration::seconds(seconds_ago);
    json!({
        "conversation_id": id,
        "occasion": "end",
        "timestamp": udesk_time(started + chrono::Duration::seconds(40)),
        "call_start_at": udesk_time(started),
        "workflow": "in",
        "agent_id": 100 + group,
        "agent_nick_name": format!("Agent {}", 100 + group),
        "user_group_id": group,
        "user_group_name": if group == 1 { "Sales" } else { "Support" },
        "customer_phone": format!("1380013{:04}", id % 10_000),
        // 放弃排队: the caller gave up queueing, an abandoned call.
        "call_result": if answered { "客户接听" } else { "放弃排队" },
        "total_time": if answered { 35 } else { 0 },
        "queue_time": 4,
        "ring_time": 3,
    })
}

/// Settings that archive recordings into `dir`.
fn archiving_to(dir: &std::path::Path, api_tokens: Vec<String>) -> Settings {
    Settings {
        api_tokens,
        recordings: Some(RecordingSettings {
            target: ArchiveTarget::Directory(dir.to_owned()),
            concurrency: 2,
            timeout: Duration::from_secs(20),
            max_bytes: 10 * 1024 * 1024,
            max_rate: None,
        }),
        ..Settings::open_local()
    }
}

/// Clicks the play button of call `id` once it shows, and waits until the
/// player has the recording's length and has seeked to 1.5 s in it.
async fn play_and_seek(browser: &mut Browser, id: i64, seconds: f64) {
    let button = format!(
        "document.querySelector('#latest-calls button.play[data-conversation-id=\"{id}\"]')"
    );
    // The button appears once the copy is kept, without a reload.
    browser
        .wait_for(&format!("{button} !== null"), PATIENCE)
        .await;
    browser.eval(&format!("{button}.click(); true")).await;
    browser
        .wait_for(
            "document.getElementById('player').readyState >= 1",
            PATIENCE,
        )
        .await;
    let duration = browser
        .eval("document.getElementById('player').duration")
        .await
        .as_f64()
        .unwrap();
    assert!((duration - seconds).abs() < 0.05, "duration {duration}");
    let seeked = browser
        .eval(
            "new Promise((resolve) => {
               const player = document.getElementById('player');
               player.addEventListener('seeked', () => resolve(player.currentTime), { once: true });
               player.currentTime = 1.5;
             })",
        )
        .await;
    assert_eq!(seeked.as_f64(), Some(1.5));
    assert_eq!(
        browser
            .eval("document.getElementById('player-call').textContent")
            .await,
        format!("Call {id}")
    );
}

/// Where the screenshot goes: `target/`, beside the build.
fn screenshot_path() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("wallboard-screenshot.png")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallboard_shows_today_and_updates_live_without_a_reload_in_chromium() {
    let Some(binary) = chromium() else {
        crate::support::skip::missing_tool(
            "Chromium",
            "apt-get install chromium; .ci/run installs it",
        );
        return;
    };
    let app = TestApp::start_with(Settings::open_local()).await;
    for (id, group, ago, answered) in [
        (1, 1, 3000, true),
        (2, 1, 2400, true),
        (3, 2, 1800, false),
        (4, 2, 1200, true),
        (5, 1, 600, true),
    ] {
        app.push_json(&call_today(id, group, ago, answered)).await;
    }
    let mut browser = Browser::launch(&binary, 1920, 1080).await;
    browser.navigate(&app.url("/wallboard")).await;
    browser
        .wait_for(
            "document.getElementById('live-status')?.textContent === 'Live'",
            PATIENCE,
        )
        .await;
    browser
        .wait_for(
            "document.getElementById('total-calls').textContent === '5'",
            PATIENCE,
        )
        .await;
    // The measures, as the store counts them: 4 of 5 answered, the other
    // abandoned; each answered after 7 s (4 queueing, 3 ringing).
    for (tile, wanted) in [
        ("total-answered", "4"),
        ("total-abandoned", "1"),
        ("total-service-level", "80%"),
        ("total-asa", "7 s"),
    ] {
        let shown = browser
            .eval(&format!("document.getElementById('{tile}').textContent"))
            .await;
        assert_eq!(shown, wanted, "{tile}");
    }
    // One abandoned call of five inbound is an alarm; a group without one is good news.
    let classes = browser
        .eval("[document.getElementById('total-abandoned').className, ...[...document.querySelectorAll('#groups tr')].map(tr => tr.cells[3].className)]")
        .await;
    assert_eq!(classes, json!(["value bad", "num good", "num bad"]));
    // The CSV link hands today's calls to the browser as a download.
    let exported = browser
        .eval(
            "new Promise((resolve) => {
               const real = URL.createObjectURL;
               URL.createObjectURL = (blob) => { blob.arrayBuffer().then((bytes) => resolve([...new Uint8Array(bytes)])); return real(blob); };
               document.getElementById('export-today').click();
             })",
        )
        .await;
    let exported: Vec<u8> = serde_json::from_value(exported).unwrap();
    let exported = String::from_utf8(exported).unwrap();
    assert!(
        exported.starts_with("\u{feff}conversation_id,"),
        "{exported}"
    );
    assert_eq!(
        exported.lines().count(),
        6,
        "a header and today's five calls:\n{exported}"
    );
    let groups = browser
        .eval("[...document.querySelectorAll('#groups tr td.name')].map(td => td.textContent)")
        .await;
    assert_eq!(groups, json!(["Sales", "Support"]));
    let bars = browser
        .eval("document.querySelectorAll('#hours-chart g.bar').length")
        .await;
    assert_eq!(bars, 24);
    // Marks this page load: a reload would lose it.
    browser.eval("window.loadedOnce = 'yes'").await;

    app.push_json(&json!({
        "conversation_id": 777001,
        "occasion": "agent_incall",
        "timestamp": udesk_time(Utc::now().with_timezone(&beijing())),
        "call_start_at": udesk_time(Utc::now().with_timezone(&beijing())),
        "workflow": "in",
        "agent_id": 101,
        "agent_nick_name": "Agent 101",
        "user_group_id": 1,
        "customer_phone": "13912345678",
    }))
    .await;
    let row = "document.querySelector('#latest-calls tr[data-conversation-id=\"777001\"]')";
    browser.wait_for(&format!("{row} !== null"), PATIENCE).await;
    let cells = browser
        .eval(&format!("[...{row}.cells].map(td => td.textContent)"))
        .await;
    assert_eq!(cells[2], "139****5678", "the phone is masked: {cells}");
    assert_eq!(cells[4], "on the line", "{cells}");
    browser
        .wait_for(
            "document.getElementById('total-calls').textContent === '6'",
            PATIENCE,
        )
        .await;

    app.push_json(&call_today(777001, 1, 0, true)).await;
    browser
        .wait_for(
            &format!("{row}.cells[4].textContent === '客户接听'"),
            PATIENCE,
        )
        .await;
    assert_eq!(
        browser.eval("window.loadedOnce").await,
        "yes",
        "the page reloaded"
    );
    // Let the row's highlight fade before the picture.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(screenshot_path(), &png).unwrap();
    let blocked: Vec<String> = browser
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line.contains("Content Security Policy"))
        .cloned()
        .collect();
    assert!(blocked.is_empty(), "blocked by the policy: {blocked:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallboard_asks_for_the_token_and_keeps_it_in_the_tab_only() {
    let Some(binary) = chromium() else {
        crate::support::skip::missing_tool(
            "Chromium",
            "apt-get install chromium; .ci/run installs it",
        );
        return;
    };
    let token = "wallboard-token-0123456789";
    let source = AudioSource::start().await;
    source.add("board.wav", 3, 7);
    let archive = tempfile::tempdir().unwrap();
    let app = TestApp::start_with(archiving_to(archive.path(), vec![token.into()])).await;
    let mut call = call_today(1, 1, 60, true);
    call["record_url"] = json!(source.link("board.wav", 3600));
    app.push_json(&call).await;
    let mut browser = Browser::launch(&binary, 1280, 800).await;
    browser.navigate(&app.url("/wallboard")).await;
    browser
        .wait_for(
            "document.getElementById('token-form').hidden === false",
            PATIENCE,
        )
        .await;
    browser
        .eval(&format!(
            "document.getElementById('token-input').value = '{token}'; \
             document.getElementById('token-form').requestSubmit(); true"
        ))
        .await;
    browser
        .wait_for(
            "document.getElementById('live-status').textContent === 'Live'",
            PATIENCE,
        )
        .await;
    browser
        .wait_for(
            "document.getElementById('total-calls').textContent === '1'",
            PATIENCE,
        )
        .await;
    assert_eq!(
        browser
            .eval("sessionStorage.getItem('udesk-calls:token')")
            .await,
        token
    );
    assert_eq!(browser.eval("localStorage.length").await, 0);
    // The player fetches the copy with the token the tab holds.
    play_and_seek(&mut browser, 1, 3.0).await;
    let src = browser.eval("document.getElementById('player').src").await;
    assert!(src.as_str().unwrap().starts_with("blob:"), "{src}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archived_recording_plays_from_the_latest_calls_and_seeks_with_ranges() {
    let Some(binary) = chromium() else {
        crate::support::skip::missing_tool(
            "Chromium",
            "apt-get install chromium; .ci/run installs it",
        );
        return;
    };
    let source = AudioSource::start().await;
    source.add("open.wav", 4, 9);
    let archive = tempfile::tempdir().unwrap();
    let app = TestApp::start_with(archiving_to(archive.path(), Vec::new())).await;
    let mut browser = Browser::launch(&binary, 1280, 800).await;
    browser.navigate(&app.url("/wallboard")).await;
    browser
        .wait_for(
            "document.getElementById('live-status').textContent === 'Live'",
            PATIENCE,
        )
        .await;
    // The call ends while the board is open; its recording is kept after.
    let mut call = call_today(42, 1, 30, true);
    call["record_url"] = json!(source.link("open.wav", 3600));
    app.push_json(&call).await;
    play_and_seek(&mut browser, 42, 4.0).await;
    // Streamed from the service itself (it answers the player's ranges).
    let src = browser.eval("document.getElementById('player').src").await;
    assert!(src.as_str().unwrap().ends_with("/recordings/42"), "{src}");
    let ranged = browser
        .eval(
            "performance.getEntriesByType('resource')
               .filter((entry) => entry.name.endsWith('/recordings/42')).length",
        )
        .await;
    assert!(ranged.as_u64().unwrap_or(0) >= 1, "{ranged}");
    let png = browser.screenshot().await;
    std::fs::write(
        screenshot_path().with_file_name("wallboard-player-screenshot.png"),
        &png,
    )
    .unwrap();
}
