use chrono::Duration;

use super::summary::summary;
use super::*;
use crate::storage::DEFAULT_WAL_AUTOCHECKPOINT;

const A: &str = "https://a.example/hook?token=1";
const B: &str = "https://b.example/hook";

fn database() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_writer(&dir.path().join("jobs.db"), DEFAULT_WAL_AUTOCHECKPOINT).unwrap();
    (dir, conn)
}

fn add(conn: &Connection, target: &str, key: i64) -> i64 {
    enqueue(
        conn,
        JobKind::Forward,
        target,
        None,
        Some(key),
        None,
        Utc::now(),
    )
    .unwrap()
}

fn claimed(conn: &Connection, target: &str, exclude: &[i64]) -> Vec<i64> {
    claim_due(conn, JobKind::Forward, target, Utc::now(), 100, exclude)
        .unwrap()
        .into_iter()
        .map(|job| job.id)
        .collect()
}

fn outcome(conn: &Connection, id: i64, outcome: JobOutcome) {
    record(conn, &[JobUpdate { id, outcome }], Utc::now()).unwrap();
}

#[test]
fn a_later_job_of_a_key_waits_for_the_earlier_one_while_other_keys_go_ahead() {
    let (_dir, conn) = database();
    let first = add(&conn, A, 1);
    let second = add(&conn, A, 1);
    let other_call = add(&conn, A, 2);
    let other_target = add(&conn, B, 1);
    assert_eq!(claimed(&conn, A, &[]), [first, other_call]);
    assert_eq!(claimed(&conn, A, &[first]), [other_call], "in hand");
    assert_eq!(claimed(&conn, B, &[]), [other_target]);

    outcome(&conn, first, JobOutcome::Delivered);
    assert_eq!(claimed(&conn, A, &[other_call]), [second]);
}

#[test]
fn a_job_due_later_holds_its_key_back_and_a_parked_one_does_not() {
    let (_dir, conn) = database();
    let first = add(&conn, A, 1);
    let second = add(&conn, A, 1);
    let at = Utc::now() + Duration::seconds(60);
    let error = "HTTP 503".to_owned();
    outcome(&conn, first, JobOutcome::RetryAt { at, error });
    assert!(claimed(&conn, A, &[]).is_empty(), "the call waits");
    let later = claim_due(&conn, JobKind::Forward, A, at, 10, &[]).unwrap();
    assert_eq!(later.iter().map(|j| j.id).collect::<Vec<_>>(), [first]);
    assert_eq!(later[0].attempts, 1);

    let error = "HTTP 400".to_owned();
    outcome(&conn, first, JobOutcome::Park { error });
    assert_eq!(
        claimed(&conn, A, &[]),
        [second],
        "a parked push blocks nothing"
    );
}

#[test]
fn parked_jobs_of_the_matching_targets_are_requeued_with_their_tries_counted_afresh() {
    let (_dir, conn) = database();
    let on_a = add(&conn, A, 1);
    let on_b = add(&conn, B, 1);
    for id in [on_a, on_b] {
        outcome(
            &conn,
            id,
            JobOutcome::Park {
                error: "HTTP 404".into(),
            },
        );
    }
    let requeued = requeue_parked(&conn, JobKind::Forward, |t| t == A, Utc::now()).unwrap();
    assert_eq!(requeued, [(A.to_owned(), 1)]);
    let jobs = claim_due(&conn, JobKind::Forward, A, Utc::now(), 10, &[]).unwrap();
    assert_eq!((jobs[0].id, jobs[0].attempts), (on_a, 0));
    assert!(claimed(&conn, B, &[]).is_empty());
    assert_eq!(summary(&conn, JobKind::Forward, B).unwrap().parked, 1);
}

#[test]
fn a_summary_counts_by_state_and_shows_the_latest_error_until_all_is_delivered() {
    let (_dir, conn) = database();
    let delivered = add(&conn, A, 1);
    let failing = add(&conn, A, 2);
    outcome(&conn, delivered, JobOutcome::Delivered);
    let at = Utc::now();
    outcome(
        &conn,
        failing,
        JobOutcome::RetryAt {
            at,
            error: "HTTP 502".into(),
        },
    );
    let seen = summary(&conn, JobKind::Forward, A).unwrap();
    assert_eq!((seen.pending, seen.parked, seen.delivered), (1, 0, 1));
    assert_eq!(seen.last_error.as_deref(), Some("HTTP 502"));
    assert!(seen.last_success_at.is_some());

    outcome(&conn, failing, JobOutcome::Delivered);
    let seen = summary(&conn, JobKind::Forward, A).unwrap();
    assert_eq!(
        (seen.pending, seen.delivered, seen.last_error),
        (0, 2, None)
    );
    let listed = summary::summaries(&conn, JobKind::Forward, &[B.to_owned()]).unwrap();
    let targets: Vec<_> = listed.iter().map(|s| s.target.as_str()).collect();
    assert_eq!(targets, [B, A], "configured first, then any with jobs");
}

#[test]
fn erasing_a_push_erases_its_jobs() {
    let (_dir, conn) = database();
    conn.execute(
        "INSERT INTO events (id, conversation_id, received_at, last_received_at, body_format,
             body, body_sha256)
         VALUES (7, 1, '2024-05-06T09:00:00+08:00', '2024-05-06T09:00:00+08:00', 'json', '{}', x'00')",
        [],
    )
    .unwrap();
    enqueue(
        &conn,
        JobKind::Forward,
        A,
        Some(7),
        Some(1),
        None,
        Utc::now(),
    )
    .unwrap();
    let bodies = Bodies::load(&conn).unwrap();
    let body = stored_body(&conn, &bodies, 7).unwrap().unwrap();
    assert_eq!(body.body, b"{}");
    conn.execute("DELETE FROM events WHERE id = 7", []).unwrap();
    let left: i64 = conn
        .query_row("SELECT count(*) FROM jobs", [], |row| row.get(0))
        .unwrap();
    assert_eq!(left, 0);
    assert!(stored_body(&conn, &bodies, 7).unwrap().is_none());
}

#[test]
fn queue_times_compare_as_text_in_time_order() {
    let early = Utc::now();
    let texts: Vec<String> = [0, 1, 999, 1000, 86_400_000]
        .into_iter()
        .map(|ms| queue_time(early + Duration::milliseconds(ms)))
        .collect();
    let mut sorted = texts.clone();
    sorted.sort();
    assert_eq!(texts, sorted);
    assert!(
        texts[0].ends_with('Z') && texts[0].len() == 24,
        "{}",
        texts[0]
    );
}

#[test]
fn claiming_and_counting_read_indexes_only() {
    let (_dir, conn) = database();
    let plan = |sql: &str, values: &[&dyn rusqlite::ToSql]| -> String {
        conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map(values, |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .join("; ")
    };
    let claim = plan(CLAIM_SQL, params!["forward", A, "z", "[1, 2]", 8]);
    assert!(claim.contains("USING INDEX jobs_pending "), "{claim}");
    assert!(claim.contains("INDEX jobs_pending_by_key"), "{claim}");
    let pending = plan(
        "SELECT count(*) FROM jobs WHERE kind = 'forward' AND target = 'x' AND state = 'pending'",
        &[],
    );
    assert!(
        pending.contains("(kind=? AND target=? AND state=?)"),
        "{pending}"
    );
    let next = plan(
        "SELECT min(target) FROM jobs WHERE kind = 'forward' AND target > 'x'",
        &[],
    );
    assert!(!next.contains("SCAN"), "{next}");
}

#[test]
fn the_targets_with_jobs_are_found_one_seek_each() {
    let (_dir, conn) = database();
    for target in [B, A, B, A] {
        add(&conn, target, 1);
    }
    let found = summary::targets_with_jobs(&conn, JobKind::Forward).unwrap();
    assert_eq!(found, [A, B]);
    let pending = summary::pending_counts(&conn, JobKind::Forward, &[B.to_owned()]).unwrap();
    assert_eq!(pending, [(B.to_owned(), 2)]);
}
