//! `callStats` is charged by the groups it can return and the calls it must
//! read: on 30,000 calls of 50 agents over 30 days, 250 aliases of the
//! heaviest grouping are refused at once with flat memory however they are
//! written (a variable's default, a filter the rollups cannot answer), one
//! is answered, and a narrow range costs what it returns.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Duration as Days;
use serde_json::{Value, json};

use crate::support::binary::{Server, binary, post_graphql, run, status_kib};
use crate::support::calls::generate_calls;

const CALLS: usize = 30_000;
const AGENTS: i64 = 50;

/// Imports `CALLS` calls, one push each, of `AGENTS` agents spread over 30
/// days, into a new database at `db`.
fn import_a_month(db: &Path) {
    let mut calls = generate_calls(CALLS, 41);
    for (index, call) in calls.iter_mut().enumerate() {
        call.agent_id = 1_000 + index as i64 % AGENTS;
        call.started_at += Days::minutes((index as i64 * 97) % (30 * 24 * 60));
    }
    let lines: Vec<String> = calls
        .iter()
        .map(|call| call.pushes().pop().unwrap().to_string())
        .collect();
    let file = db.with_extension("ndjson");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let (code, _, stderr) = run(binary().arg("import").arg(&file).arg("--db").arg(db));
    assert_eq!(code, 0, "{stderr}");
}

/// The peak resident memory of `pid`, in MiB.
fn peak_mib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM") / 1024
}

async fn query(client: &reqwest::Client, server: &Server, query: &str) -> (Value, Duration) {
    let started = Instant::now();
    let answer = post_graphql(client, &server.address, &json!({ "query": query })).await;
    (answer, started.elapsed())
}

fn aliases(count: usize, each: &str) -> String {
    let fields: Vec<String> = (0..count).map(|n| format!("a{n}: {each}")).collect();
    format!("{{ {} }}", fields.join(" "))
}

const HEAVIEST: &str = "callStats(groupBy: [DAY, HOUR, AGENT]) { count }";

#[tokio::test]
async fn two_hundred_fifty_aliases_of_the_heaviest_call_stats_are_refused_at_once_with_flat_memory()
{
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    import_a_month(&db);
    let server = Server::start(&db, &["--graphql-points-per-second", "0"]);
    let client = reqwest::Client::new();
    let (one, one_took) = query(&client, &server, &format!("{{ {HEAVIEST} }}")).await;
    eprintln!("one {HEAVIEST} over the month: {one_took:.2?}");
    let rows = one["data"]["callStats"]
        .as_array()
        .expect("one is answered");
    assert!(rows.len() > 10_000, "{} groups", rows.len());
    let before = peak_mib(server.child.id());

    let refused = |answer: &Value| {
        assert_eq!(
            answer["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
            "{answer:#}"
        );
        let message = answer["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("callStats"), "{message}");
        assert!(answer.get("data").is_none(), "{answer:#}");
    };
    let (answer, took) = query(&client, &server, &aliases(250, HEAVIEST)).await;
    refused(&answer);
    let by_default = format!(
        "query($by: [CallDimension!] = [DAY, HOUR, AGENT]) {}",
        aliases(250, "callStats(groupBy: $by) { count }")
    );
    refused(&query(&client, &server, &by_default).await.0);
    // The rollups keep no talk times: each alias reads the month's calls.
    let reading = "callStats(filter: { talkTime: { min: 0 } }) { count answeredCount totalTime }";
    refused(&query(&client, &server, &aliases(250, reading)).await.0);
    refused(&query(&client, &server, &aliases(2, HEAVIEST)).await.0);
    // A day of it costs what a day returns: 24 hours × 51 agents at most.
    let day = "callStats(groupBy: [DAY, HOUR, AGENT], filter: { startedAt: { \
               from: \"2024-05-03T00:00:00+08:00\", to: \"2024-05-04T00:00:00+08:00\" } }) { count }";
    let (days, _) = query(&client, &server, &aliases(40, day)).await;
    assert!(days.get("errors").is_none(), "{days:#}");
    // A dashboard's month by outcome, every measure asked, costs its few
    // outcomes, not its 30,000 calls.
    for by in ["CALL_RESULT", "WORKFLOW", "CATEGORY", "DEFEAT_CAUSE"] {
        let month = format!(
            "{{ callStats(groupBy: [{by}]) {{ callResult workflow category defeatCause count \
             answeredCount totalTime avgTotalTime avgQueueTime avgRingTime maxTotalTime \
             answerRate inboundCount abandonedCount abandonRate avgSpeedOfAnswer }} }}"
        );
        let (answer, _) = query(&client, &server, &month).await;
        assert!(answer.get("errors").is_none(), "{by}: {answer:#}");
    }

    let after = peak_mib(server.child.id());
    assert!(
        after < before + 300,
        "peak RSS grew from {before} to {after} MiB"
    );
    eprintln!("30,000 calls: 250 aliases refused in {took:.2?}; peak RSS {before} → {after} MiB");
}
