//! A push costs the same however many its call already has: the writer
//! merges it into the call as merged so far, never reading the call's
//! earlier pushes again, and a call holds at most 10,000 pushes, the next
//! refused with a clear answer and kept. `reprocess`, merging every call
//! from its stored pushes, gives the same call.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;

use crate::support::TestApp;
use crate::support::binary::{binary, run};
use crate::support::db::{count, open_read_only, projection_dump};

const CALL: i64 = 424_242;
const PUSHES: usize = 10_000;

/// The `index`th push of the call: each distinct, with its own timestamp,
/// and every fifth carrying a value the merge must order.
fn push(index: usize) -> String {
    let mut push = json!({
        "conversation_id": CALL,
        "occasion": if index.is_multiple_of(2) { "agent_incall" } else { "hangup" },
        "timestamp": format!("2024-05-06 {:02}:{:02}:{:02} +0800", index / 3600 % 24, index / 60 % 60, index % 60),
        "x_push": index,
    });
    if index.is_multiple_of(5) {
        push["survey"] = json!(format!("rating {index}"));
        push["ticket_numbers"] = json!([format!("#{index}")]);
    }
    push.to_string()
}

/// A metric's value in a `/metrics` scrape.
fn metric(scrape: &str, name: &str) -> f64 {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in the scrape"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_pushes_to_one_call_never_read_its_history_and_the_next_one_is_refused() {
    let app = TestApp::start().await;
    let started = Instant::now();
    let mut timings: Vec<(usize, Duration)> = futures_util::stream::iter(0..PUSHES)
        .map(|index| {
            let app = &app;
            async move {
                let sent = Instant::now();
                let (status, answer) = app.push(push(index)).await;
                assert_eq!(status, 200, "push {index}: {answer}");
                (index, sent.elapsed())
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let took = started.elapsed();
    timings.sort_by_key(|(index, _)| *index);

    let scrape = app.metrics().await;
    assert_eq!(
        metric(&scrape, "udesk_calls_calls_merged_again_total"),
        0.0,
        "a push read its call's history again"
    );
    let call = app
        .data(
            "query($id: ID!) { call(conversationId: $id) { eventCount lastOccasion survey ticketNumbers } }",
            json!({ "id": CALL.to_string() }),
        )
        .await["call"]
        .clone();
    assert_eq!(call["eventCount"], PUSHES as i64);
    // The latest push by timestamp carrying a survey: index 9,995 (02:46:35).
    assert_eq!(call["survey"], "rating 9995", "{call}");
    assert_eq!(call["ticketNumbers"], json!(["#9995"]), "{call}");

    // The next distinct push is refused and kept; a redelivery is still counted.
    let (status, answer) = app.push(push(PUSHES)).await;
    assert_eq!(status, 422, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(error.contains("10000 pushes"), "{error}");
    assert!(answer["rejected_id"].as_i64().is_some(), "{answer}");
    let (status, answer) = app.push(push(7)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "duplicate");

    let mean = |range: std::ops::Range<usize>| {
        let len = range.len() as u32;
        timings[range]
            .iter()
            .map(|(_, took)| *took)
            .sum::<Duration>()
            / len
    };
    eprintln!(
        "{PUSHES} pushes to one call in {took:.2?}: the first 500 answered in {:.2?} on average, \
         the last 500 in {:.2?}",
        mean(0..500),
        mean(PUSHES - 500..PUSHES)
    );

    // Merged again from every stored push, the call is the same.
    let db = app.db_path.clone();
    let live = projection_dump(&app.db());
    let _dir = app.stop_keeping_files().await;
    let (code, _, stderr) = run(binary().arg("reprocess").arg("--db").arg(&db));
    assert_eq!(code, 0, "{stderr}");
    let rebuilt = open_read_only(&db);
    assert_eq!(projection_dump(&rebuilt), live);
    assert_eq!(
        count(&rebuilt, "SELECT count(*) FROM rejected_pushes"),
        1,
        "the refused push is kept"
    );
}
