//! Calls out to the tools people already use: `udesk-calls export` and
//! `GET /export/calls.csv` give a span's calls as a spreadsheet opens them
//! (Chinese intact, one row a call, streamed in flat memory), and DuckDB
//! reads the serving database file directly for an analyst's report.

use std::io::Read;
use std::process::Stdio;

use serde_json::json;
use udesk_calls::Settings;

use crate::support::TestApp;
use crate::support::binary::{binary, run, status_kib};
use crate::support::calls::generate_calls;
use crate::support::db::{open_read_only, rows};
use crate::support::tools::python_tool;

const API_TOKEN: &str = "export-token-71c2";

async fn app_with_calls(count: usize) -> (TestApp, Vec<crate::support::calls::CallSpec>) {
    let mut settings = Settings::open_local();
    settings.api_tokens = vec![API_TOKEN.into()];
    let app = TestApp::start_with(settings).await;
    let calls = generate_calls(count, 41);
    for call in &calls {
        for push in call.pushes() {
            app.push_json(&push).await;
        }
    }
    (app, calls)
}

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> (u16, String, Vec<u8>) {
    let mut request = app.client.get(app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        status,
        content_type,
        response.bytes().await.unwrap().to_vec(),
    )
}

/// The header and rows of a CSV export, after its byte-order mark.
fn read_csv(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::str::from_utf8(bytes).unwrap();
    let text = text
        .strip_prefix('\u{feff}')
        .expect("a byte-order mark first");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|record| record.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

#[tokio::test]
async fn a_span_of_calls_comes_out_once_each_as_csv_or_ndjson_over_http_and_from_the_command() {
    let (app, calls) = app_with_calls(160).await;
    let from = "2024-05-02T00:00:00+08:00"
        .parse::<chrono::DateTime<chrono::FixedOffset>>()
        .unwrap();
    let to = "2024-05-04T00:00:00+08:00"
        .parse::<chrono::DateTime<chrono::FixedOffset>>()
        .unwrap();
    let mut expected: Vec<_> = calls
        .iter()
        .filter(|call| call.started_at >= from && call.started_at < to)
        .map(|call| (call.started_at, call.conversation_id))
        .collect();
    expected.sort();
    assert!(expected.len() > 40, "the span holds calls");
    let query = "/export/calls.csv?from=2024-05-02&to=2024-05-04";

    let (status, content_type, csv_bytes) = get(&app, query, Some(API_TOKEN)).await;
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("text/csv; charset=utf-8"),
        "{content_type}"
    );
    let (header, found) = read_csv(&csv_bytes);
    let view_columns: Vec<String> = rows(
        &app.db(),
        "SELECT name FROM pragma_table_info('calls_readable')",
    )
    .into_iter()
    .map(|row| row[0].clone())
    .collect();
    assert_eq!(header, view_columns);
    let ids: Vec<i64> = found.iter().map(|row| row[0].parse().unwrap()).collect();
    let expected_ids: Vec<i64> = expected.iter().map(|(_, id)| *id).collect();
    assert_eq!(
        ids, expected_ids,
        "every call of the span once, oldest first"
    );
    let result = header
        .iter()
        .position(|name| name == "call_result")
        .unwrap();
    assert!(
        found.iter().any(|row| row[result] == "客户接听"),
        "Chinese comes out intact"
    );
    assert!(std::str::from_utf8(&csv_bytes).unwrap().contains("\r\n"));

    let (status, content_type, ndjson) = get(
        &app,
        "/export/calls.ndjson?from=2024-05-02&to=2024-05-04",
        Some(API_TOKEN),
    )
    .await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/x-ndjson")
    );
    let objects: Vec<serde_json::Value> = std::str::from_utf8(&ndjson)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let ndjson_ids: Vec<i64> = objects
        .iter()
        .map(|object| object["conversation_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ndjson_ids, expected_ids);

    // The command, on the serving database's file, writes the same bytes.
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("may.csv");
    let (code, stdout, stderr) = run(binary()
        .args([
            "export",
            "--from",
            "2024-05-02",
            "--to",
            "2024-05-04",
            "--output",
        ])
        .arg(&output)
        .arg("--db")
        .arg(&app.db_path));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains(&format!("exported {} calls", expected.len())),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&output).unwrap(), csv_bytes);

    // Today's calls without a span: none of these calls is from today.
    let (status, _, today) = get(&app, "/export/calls.csv", Some(API_TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(read_csv(&today).1.len(), 0);
}

#[tokio::test]
async fn an_export_needs_the_api_token_and_a_whole_span_and_says_what_is_wrong() {
    let (app, _) = app_with_calls(3).await;
    let query = "/export/calls.csv?from=2024-05-01&to=2024-06-01";
    assert_eq!(get(&app, query, None).await.0, 401);
    assert_eq!(get(&app, query, Some("wrong")).await.0, 401);
    // A query string that cannot be read is still behind the token.
    assert_eq!(
        get(&app, "/export/calls.csv?from=1&from=2", None).await.0,
        401
    );
    for (path, problem) in [
        (
            "/export/calls.csv?from=2024-05-01&from=2024-05-02&to=2024-06-01",
            "query string",
        ),
        ("/export/calls.csv?from=2024-05-01", "both"),
        ("/export/calls.csv?from=2024-06-01&to=2024-05-01", "before"),
        (
            "/export/calls.csv?from=yesterday&to=2024-05-01",
            "not a time",
        ),
    ] {
        let (status, _, body) = get(&app, path, Some(API_TOKEN)).await;
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, 400, "{path}");
        assert!(
            body["error"].as_str().unwrap().contains(problem),
            "{path}: {body}"
        );
    }
    assert_eq!(
        get(&app, "/export/calls.xlsx", Some(API_TOKEN)).await.0,
        404
    );

    let dir = tempfile::tempdir().unwrap();
    let db = app.db_path.clone();
    for (args, problem) in [
        (vec!["--from", "2024-05-01"], "--to"),
        (vec!["--from", "2024-06-01", "--to", "2024-05-01"], "before"),
        (vec!["--from", "soon", "--to", "2024-05-01"], "--from"),
    ] {
        let output = dir.path().join("never.csv");
        let (code, _, stderr) = run(binary()
            .arg("export")
            .args(&args)
            .arg("--output")
            .arg(&output)
            .arg("--db")
            .arg(&db));
        assert_ne!(code, 0, "{args:?}");
        assert!(stderr.contains(problem), "{args:?}: {stderr}");
        assert!(!output.exists(), "no file is left behind");
    }
}

/// Exports `[from, to)` of `db` to a pipe read slowly, and answers the
/// number of rows and the child's peak resident memory, in KiB, as last
/// seen while it was still writing.
fn export_rows_and_peak(db: &std::path::Path, from: &str, to: &str) -> (usize, u64) {
    let mut child = binary()
        .args(["export", "--from", from, "--to", to, "--db"])
        .arg(db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut buffer = vec![0; 16 * 1024];
    let (mut lines, mut peak) = (0, 0);
    loop {
        let read = stdout.read(&mut buffer).unwrap();
        if read == 0 {
            break;
        }
        lines += buffer[..read].iter().filter(|&&byte| byte == b'\n').count();
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()));
        if status.is_ok_and(|status| status.contains("VmHWM")) {
            peak = peak.max(status_kib(child.id(), "VmHWM"));
        }
    }
    assert!(child.wait().unwrap().success());
    (lines - 1, peak)
}

#[test]
fn exporting_a_month_takes_no_more_memory_than_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("month.db");
    // 9,000 one-push calls over May, imported as a history.
    let pushes: String = (0..9_000_i64)
        .map(|index| {
            let start = chrono::DateTime::parse_from_rfc3339("2024-05-01T00:00:00+08:00").unwrap()
                + chrono::Duration::seconds(index * 297);
            json!({
                "conversation_id": 7_000_000 + index,
                "occasion": "end",
                "call_start_at": start.format("%Y-%m-%d %H:%M:%S %z").to_string(),
                "timestamp": start.format("%Y-%m-%d %H:%M:%S %z").to_string(),
                "customer_phone": format!("139{index:08}"),
                "nick_name": format!("客户 {index} {}", "备注".repeat(40)),
                "call_result": "客户接听",
                "total_time": index % 400,
            })
            .to_string()
                + "\n"
        })
        .collect();
    let file = dir.path().join("month.ndjson");
    std::fs::write(&file, pushes).unwrap();
    let (code, _, stderr) = run(binary().arg("import").arg(&file).arg("--db").arg(&db));
    assert_eq!(code, 0, "{stderr}");

    let (day_rows, day_peak) = export_rows_and_peak(&db, "2024-05-10", "2024-05-11");
    let (month_rows, month_peak) = export_rows_and_peak(&db, "2024-05-01", "2024-06-01");
    assert_eq!(day_rows, 291);
    assert_eq!(month_rows, 9_000);
    // Held whole, the month's rows would be some 20 MiB more.
    assert!(
        month_peak < day_peak + 6 * 1024,
        "a month peaked at {month_peak} KiB, a day at {day_peak} KiB"
    );
    let conn = open_read_only(&db);
    assert_eq!(rows(&conn, "SELECT count(*) FROM calls")[0][0], "9000");
}

#[tokio::test]
async fn duckdb_reads_the_serving_database_and_its_month_report_matches_call_stats() {
    let (app, _) = app_with_calls(200).await;
    let python = {
        python_tool("duckdb==1.5.5", "python");
        python_tool("duckdb-extensions==1.5.5", "python");
        python_tool("duckdb-extension-sqlite-scanner==1.5.5", "python")
    };
    let report = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/duckdb-month-report.sql"),
    )
    .unwrap()
    .replace("'udesk-calls.db'", &format!("'{}'", app.db_path.display()));
    let script = r#"
import sys, json, duckdb
from duckdb_extensions import import_extension
import_extension("sqlite_scanner")
con = duckdb.connect()
con.execute("SET autoinstall_known_extensions = false")
sql = "\n".join(l for l in sys.stdin.read().splitlines() if not l.lstrip().startswith("--"))
rows = None
for statement in (s for s in sql.split(";") if s.strip()):
    rows = con.execute(statement).fetchall()
print(json.dumps([[str(r[0]), r[1], r[2], r[3]] for r in rows]))
"#;
    let mut child = std::process::Command::new(&python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(report.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let duckdb: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    let stats = app
        .graphql(
            r#"{ callStats(filter: { startedAt: { from: "2024-05-01T00:00:00+08:00", to: "2024-06-01T00:00:00+08:00" } }, groupBy: [DAY]) { day count answeredCount totalTime } }"#,
            json!({}),
        )
        .await;
    let expected: Vec<serde_json::Value> = stats["data"]["callStats"]
        .as_array()
        .unwrap_or_else(|| panic!("{stats}"))
        .iter()
        .map(|row| {
            json!([
                row["day"],
                row["count"],
                row["answeredCount"],
                row["totalTime"]
            ])
        })
        .collect();
    assert_eq!(expected.len(), 5, "{stats}");
    assert_eq!(duckdb, serde_json::Value::Array(expected));
}
