//! The binary's commands as an operator runs them: `import` and `reprocess`
//! give the database the webhook gives, `serve` refuses to run open on a
//! public address, never logs a token, and `--help` explains every flag.

use std::time::Duration;

use crate::support::TestApp;
use crate::support::binary::{Server, binary, run, run_with_input, run_within};
use crate::support::calls::synthetic_call;
use crate::support::db::{count, open_read_only, projection_dump, rows};
use crate::support::payloads::{inbound, payload};

/// A mixed load: recorded pushes, the vendor sample, synthetic calls, and
/// one line that is not JSON. Every body is one line.
fn pushes() -> Vec<String> {
    let compact = |text: String| {
        serde_json::from_str::<serde_json::Value>(&text)
            .unwrap()
            .to_string()
    };
    let mut bodies: Vec<String> = [
        "4-end",
        "1-enqueue_succ",
        "3-hangup",
        "2-agent_incall",
        "5-end_info",
        "0-stale-retry",
    ]
    .into_iter()
    .map(|stem| compact(inbound(stem)))
    .collect();
    bodies.push(compact(payload("vendor-sample-end.json")));
    for conversation_id in 1..=40 {
        bodies.extend(synthetic_call(
            conversation_id,
            1 + (conversation_id as usize % 4),
        ));
    }
    bodies.push(bodies[0].clone());
    bodies.push("{not json".to_owned());
    bodies.push(r#"{"occasion":"end"}"#.to_owned());
    bodies
}

async fn through_the_webhook(bodies: &[String]) -> TestApp {
    let app = TestApp::start().await;
    for body in bodies {
        app.push(body.clone()).await;
    }
    app
}

#[tokio::test]
async fn import_gives_the_database_the_webhook_gives() {
    let bodies = pushes();
    let app = through_the_webhook(&bodies).await;

    let dir = tempfile::tempdir().unwrap();
    let imported = dir.path().join("imported.db");
    let file = dir.path().join("pushes.ndjson");
    std::fs::write(&file, bodies.join("\n") + "\n\n").unwrap();
    let (code, _, stderr) = run(binary().arg("import").arg(&file).arg("--db").arg(&imported));
    assert_eq!(code, 1, "a rejected line makes import fail: {stderr}");
    let total = bodies.len();
    assert!(
        stderr.contains(&format!("line {}: rejected (400)", total - 1)),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("line {total}: rejected (422)")),
        "{stderr}"
    );
    assert!(stderr.contains("1 duplicates, 2 rejected"), "{stderr}");

    let imported = open_read_only(&imported);
    let webhook = app.db();
    assert_eq!(projection_dump(&imported), projection_dump(&webhook));
    for sql in [
        "SELECT body, occasion, event_at, deliveries FROM events ORDER BY id",
        "SELECT * FROM parse_warnings ORDER BY event_id, position",
        "SELECT http_status, error, body FROM rejected_pushes ORDER BY id",
    ] {
        assert_eq!(rows(&imported, sql), rows(&webhook, sql), "{sql}");
    }
}

#[tokio::test]
async fn import_reads_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("stdin.db");
    let input = synthetic_call(7, 3).join("\n");
    let (code, _, stderr) = run_with_input(
        binary().args(["import", "-", "--db"]).arg(&db),
        input.as_bytes(),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("3 stored"), "{stderr}");
    assert_eq!(
        count(
            &open_read_only(&db),
            "SELECT count(*) FROM calls WHERE status = 'ENDED'"
        ),
        1
    );
}

#[test]
fn import_takes_the_vendor_sample_as_it_is_documented_pretty_printed_and_arrays_of_pushes() {
    let dir = tempfile::tempdir().unwrap();
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed-end.json");
    let db = dir.path().join("sample.db");
    let (code, _, stderr) = run(binary().arg("import").arg(&sample).arg("--db").arg(&db));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("1 stored, 0 duplicates, 0 rejected"),
        "{stderr}"
    );
    let conn = open_read_only(&db);
    assert_eq!(
        rows(&conn, "SELECT conversation_id FROM calls"),
        vec![vec!["54093".to_owned()]]
    );
    // Kept byte for byte as the file has it, pretty-printed.
    let bodies = crate::support::db::event_bodies(&db);
    let sample = std::fs::read_to_string(&sample).unwrap();
    assert_eq!(
        bodies.into_iter().collect::<Vec<_>>(),
        vec![sample.trim().to_owned()]
    );

    let pushes: Vec<serde_json::Value> = synthetic_call(11, 3)
        .iter()
        .map(|body| serde_json::from_str(body).unwrap())
        .collect();
    let array = dir.path().join("array.json");
    std::fs::write(&array, serde_json::to_string_pretty(&pushes).unwrap()).unwrap();
    let db = dir.path().join("array.db");
    let (code, _, stderr) = run(binary().arg("import").arg(&array).arg("--db").arg(&db));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("3 stored"), "{stderr}");
}

#[tokio::test]
async fn importing_the_sample_already_posted_with_its_last_newline_counts_a_redelivery() {
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed-end.json");
    let bytes = std::fs::read(&sample).unwrap();
    assert!(
        bytes.ends_with(b"\n"),
        "the file ends with a newline, as curl sends it"
    );
    let app = TestApp::start().await;
    assert_eq!(app.push(bytes.clone()).await.0, 200);
    let db = app.db_path.clone();
    let _dir = app.stop_keeping_files().await;

    let (code, _, stderr) = run(binary().arg("import").arg(&sample).arg("--db").arg(&db));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("0 stored, 1 duplicates, 0 rejected"),
        "{stderr}"
    );
    // The bytes first received are the ones kept.
    let bodies = crate::support::db::event_bodies(&db);
    assert_eq!(
        bodies.into_iter().collect::<Vec<_>>(),
        vec![String::from_utf8(bytes).unwrap()]
    );
}

#[tokio::test]
async fn reprocess_rebuilds_exactly_the_live_projection() {
    let app = through_the_webhook(&pushes()).await;
    let db_path = app.db_path.clone();
    let live = projection_dump(&app.db());
    let live_warnings = rows(
        &app.db(),
        "SELECT * FROM parse_warnings ORDER BY event_id, position",
    );
    let _dir = app.stop_keeping_files().await;

    // Damage the projections the way a buggy release might have left them.
    let damage = rusqlite::Connection::open(&db_path).unwrap();
    damage
        .execute_batch(
            "UPDATE calls SET call_result = 'wrong', status = 'IN_PROGRESS';
             DELETE FROM tickets; DELETE FROM parse_warnings;
             DELETE FROM calls WHERE conversation_id = 54093;",
        )
        .unwrap();
    drop(damage);

    let (code, _, stderr) = run(binary().arg("reprocess").arg("--db").arg(&db_path));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("into 42 calls"), "{stderr}");
    let rebuilt = open_read_only(&db_path);
    assert_eq!(projection_dump(&rebuilt), live);
    assert_eq!(
        rows(
            &rebuilt,
            "SELECT * FROM parse_warnings ORDER BY event_id, position"
        ),
        live_warnings
    );
}

#[test]
fn serve_refuses_a_public_address_without_tokens_and_says_which_flags() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let (code, _, stderr) = run(binary()
        .args(["serve", "--listen", "0.0.0.0:0", "--db"])
        .arg(&db));
    assert_ne!(code, 0);
    assert!(
        stderr.contains("--webhook-token") && stderr.contains("--api-token"),
        "{stderr}"
    );
    assert!(stderr.contains("--insecure"), "{stderr}");

    let (code, _, stderr) = run(binary()
        .args(["serve", "--listen", "0.0.0.0:0", "--webhook-token", "w"])
        .env("UDESK_CALLS_DB", &db));
    assert_ne!(code, 0);
    assert!(
        !stderr.contains("--webhook-token (") && stderr.contains("--api-token"),
        "{stderr}"
    );

    Server::launch(&db, "0.0.0.0:0", &["--insecure"], "info").kill_hard();
}

#[tokio::test]
async fn tokens_never_appear_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let server = Server::launch(
        &db,
        "127.0.0.1:0",
        &[
            "--webhook-token",
            "hook-SECRET-0001",
            "--api-token",
            "api-SECRET-00002",
        ],
        "trace",
    );
    let client = reqwest::Client::new();
    for token in ["hook-SECRET-0001", "WRONG-SECRET-003"] {
        let _ = client
            .post(format!(
                "{}/webhooks/udesk/calls?token={token}",
                server.address
            ))
            .body(inbound("4-end"))
            .send()
            .await
            .unwrap();
    }
    let log = server.log_until(|log| log.matches(" request method=").count() >= 2);
    server.kill_hard();
    assert!(
        log.contains("/webhooks/udesk/calls"),
        "requests are logged: {log}"
    );
    assert!(
        !log.contains("SECRET"),
        "a token leaked into the log: {log}"
    );
}

#[test]
fn every_command_explains_every_flag_in_help() {
    let (_, serve_help, _) = run(binary().args(["serve", "--help"]));
    for flag in [
        "--db",
        "--listen",
        "--webhook-token",
        "--api-token",
        "--default-utc-offset",
        "--max-body-bytes",
        "--insecure",
        "--cors-origin",
        "UDESK_CALLS_CORS_ORIGINS",
        "UDESK_CALLS_DB",
        "UDESK_CALLS_LISTEN",
        "UDESK_CALLS_WEBHOOK_TOKEN",
        "UDESK_CALLS_API_TOKEN",
        "UDESK_CALLS_DEFAULT_UTC_OFFSET",
    ] {
        assert!(serve_help.contains(flag), "serve --help lacks {flag}");
    }
    for command in ["import", "reprocess"] {
        let (_, help, _) = run(binary().args([command, "--help"]));
        assert!(
            help.contains("--db") && help.contains("UDESK_CALLS_DB"),
            "{command}: {help}"
        );
        assert!(help.contains("--default-utc-offset"), "{command}: {help}");
    }
    let (code, help, _) = run(binary().arg("--help"));
    assert_eq!(code, 0);
    for command in ["serve", "import", "reprocess", "schema"] {
        assert!(help.contains(command), "{help}");
    }
}

#[tokio::test]
async fn a_push_imported_beside_the_running_server_is_part_of_its_next_merge() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let server = Server::start(&db, &[]);
    let client = reqwest::Client::new();
    let post = |stem: &'static str| {
        client
            .post(format!("{}/webhooks/udesk/calls", server.address))
            .body(inbound(stem))
            .send()
    };
    assert_eq!(post("1-enqueue_succ").await.unwrap().status(), 200);
    assert_eq!(post("2-agent_incall").await.unwrap().status(), 200);
    // Another process writes a push of the same call into the same file.
    let (code, _, stderr) = run_with_input(
        binary().args(["import", "-", "--db"]).arg(&db),
        inbound("4-end").as_bytes(),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(post("3-hangup").await.unwrap().status(), 200);
    drop(server);

    let reference = TestApp::start().await;
    for stem in ["1-enqueue_succ", "2-agent_incall", "3-hangup", "4-end"] {
        reference.push(inbound(stem)).await;
    }
    assert_eq!(
        projection_dump(&open_read_only(&db)),
        projection_dump(&reference.db())
    );
}

#[test]
fn serve_refuses_a_token_shorter_than_16_characters_without_showing_it() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(binary()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--api-token",
            "short-api-tok",
        ])
        .arg("--db")
        .arg(dir.path().join("calls.db")));
    assert_ne!(code, 0);
    assert!(
        stderr.contains("--api-token") && stderr.contains("at least 16"),
        "{stderr}"
    );
    assert!(!stderr.contains("short-api-tok"), "{stderr}");
}

#[test]
fn serve_refuses_a_blank_token_however_it_is_given_instead_of_running_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let config = dir.path().join("udesk-calls.toml");
    std::fs::write(&config, "api-token = [\"api-token-0000000001\", \"  \"]\n").unwrap();
    let refused = |side: &str, args: &[&str], variable: Option<(&str, &str)>| {
        let mut command = binary();
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(&db)
            .args(args)
            .env("RUST_LOG", "info");
        if let Some((name, value)) = variable {
            command.env(name, value);
        }
        let case = format!("{args:?} {variable:?}");
        let (code, stdout, stderr) = run_within(&mut command, Duration::from_secs(20));
        assert_eq!(code, Some(1), "{case} was not refused: {stderr}");
        let name = format!("UDESK_CALLS_{}_TOKEN", side.to_uppercase());
        assert!(
            stderr.contains(&format!("--{side}-token ({name})")) && stderr.contains("blank"),
            "{case}: {stderr}"
        );
        assert!(
            stderr.contains(&format!("unset {name}")),
            "{case}: {stderr}"
        );
        assert!(!stderr.contains("open=true"), "{case}: {stderr}");
        assert!(!stderr.contains("api-token-0000000001"), "{case}: {stderr}");
        assert!(stdout.is_empty(), "{case}: {stdout}");
        assert!(!db.exists(), "{case} opened the database");
    };
    let spaces = " ".repeat(17);
    refused("webhook", &["--webhook-token", ""], None);
    refused("webhook", &["--webhook-token", &spaces], None);
    refused("webhook", &[], Some(("UDESK_CALLS_WEBHOOK_TOKEN", ",,,")));
    // Set yet empty, as an environment file's `NAME=` leaves it.
    refused("webhook", &[], Some(("UDESK_CALLS_WEBHOOK_TOKEN", "")));
    refused("api", &["--api-token", "api-token-0000000001,"], None);
    refused("api", &[], Some(("UDESK_CALLS_API_TOKEN", &spaces)));
    refused("api", &["--config", config.to_str().unwrap()], None);
}

#[test]
fn import_refuses_a_line_over_a_pushs_limit_as_the_webhook_would_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let file = dir.path().join("pushes.ndjson");
    let huge = format!(
        r#"{{"conversation_id": 2, "note": "{}"}}"#,
        "x".repeat(1_500_000)
    );
    std::fs::write(
        &file,
        format!(
            "{}\n{huge}\n{}\n",
            r#"{"conversation_id": 1, "occasion": "end"}"#,
            r#"{"conversation_id": 3, "occasion": "end"}"#
        ),
    )
    .unwrap();
    let (code, _, stderr) = run(binary().arg("import").arg(&file).arg("--db").arg(&db));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("line 2: rejected (413)"), "{stderr}");
    let conn = open_read_only(&db);
    assert_eq!(
        rows(&conn, "SELECT conversation_id FROM calls ORDER BY 1"),
        vec![vec!["1".to_owned()], vec!["3".to_owned()]]
    );
    assert_eq!(count(&conn, "SELECT count(*) FROM rejected_pushes"), 0);
}

#[test]
fn import_of_a_missing_file_or_a_directory_says_so_and_leaves_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    for input in [dir.path().join("missing.ndjson"), dir.path().to_owned()] {
        let (code, _, stderr) = run(binary().arg("import").arg(&input).arg("--db").arg(&db));
        assert_ne!(code, 0);
        assert!(stderr.contains(&input.display().to_string()), "{stderr}");
        assert!(!db.exists(), "a database was created");
    }
}
