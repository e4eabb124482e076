//! Forwarding (`serve --forward-to`) seen from a receiver: what is sent,
//! with which headers, what is not sent, what a refusing receiver gets, and
//! what GraphQL, the metrics and `forward retry` show. `kill -9` with
//! receivers failing at random is `forwarding_kill_9`; a receiver down for a
//! long stretch, `reprocess` and throughput are `forwarding_faults`.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{Value, json};
use udesk_calls::Settings;
use udesk_calls::config::forwarding::{ForwardSettings, ForwardTarget, SigningSecret};

use crate::support::binary::{binary, run};
use crate::support::forwarded::{check, expected_signature, stored_pushes};
use crate::support::receiver::Receiver;
use crate::support::tools::python_tool;
use crate::support::{TestApp, WEBHOOK};

/// A signing key as an operator makes one (`openssl rand -base64 32`).
pub const KEY: [u8; 32] = *b"0123456789abcdef0123456789abcdef";

pub fn secret() -> String {
    use base64::Engine;
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(KEY)
    )
}

fn forwarding_to(urls: &[String], signed: bool) -> Settings {
    Settings {
        forwarding: ForwardSettings {
            targets: urls
                .iter()
                .map(|u| ForwardTarget::parse(u).unwrap())
                .collect(),
            signing_key: signed.then(|| SigningSecret::parse(&secret()).unwrap()),
            timeout: Duration::from_secs(2),
            concurrency: 4,
        },
        ..Settings::open_local()
    }
}

/// Waits up to `limit` for `done`.
pub async fn wait_for(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const TARGETS: &str =
    "{ forwardingTargets { url pending parked delivered lastError lastSuccessAt configured } }";

async fn targets(app: &TestApp) -> Value {
    app.data(TARGETS, Value::Null).await["forwardingTargets"].clone()
}

/// The first target once its counts are `pending`, `parked`, `delivered`
/// (outcomes are recorded just after the receiver answers).
async fn target_once(app: &TestApp, counts: (i64, i64, i64)) -> Value {
    let started = Instant::now();
    loop {
        let target = targets(app).await[0].clone();
        let seen = (&target["pending"], &target["parked"], &target["delivered"]);
        if seen == (&json!(counts.0), &json!(counts.1), &json!(counts.2)) {
            return target;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{target}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn call_push(conversation_id: i64, occasion: &str, phone: &str) -> String {
    json!({ "conversation_id": conversation_id, "occasion": occasion, "customer_phone": phone })
        .to_string()
}

#[tokio::test]
async fn stored_pushes_are_forwarded_byte_for_byte_with_their_content_type_and_nothing_else_is() {
    let receiver = Receiver::start().await;
    let url = receiver.url("?token=receiver-secret");
    let app = TestApp::start_with(forwarding_to(std::slice::from_ref(&url), false)).await;

    let json_body = call_push(501, "agent_incall", "13800000001");
    let json_type = Some("application/json; charset=utf-8");
    assert_eq!(
        app.push_to(WEBHOOK, json_body.clone(), json_type).await.0,
        200
    );
    let form = "conversation_id=501&occasion=end&timestamp=2024-05-06+09%3A19%3A43+%2B0800";
    assert_eq!(
        app.push_raw(form, "application/x-www-form-urlencoded")
            .await,
        200
    );
    // A redelivery, a body that is no JSON object and one that names no call.
    assert_eq!(
        app.push_to(WEBHOOK, json_body, json_type).await.1["status"],
        "duplicate"
    );
    assert_eq!(app.push_raw("not json", "application/json").await, 400);
    assert_eq!(
        app.push_raw(r#"{"occasion":"end"}"#, "application/json")
            .await,
        422
    );

    wait_for(Duration::from_secs(10), "both pushes forwarded", || {
        receiver.received_count() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = receiver.received();
    let delivery = check(&stored_pushes(&app.db_path), &received, "the receiver");
    assert_eq!(
        (delivery.delivered, delivery.lost, delivery.duplicates),
        (2, 0, 0)
    );
    assert_eq!(
        received[1].content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert!(
        received
            .iter()
            .all(|r| r.query.as_deref() == Some("token=receiver-secret"))
    );
    assert!(
        received.iter().all(|r| r.signature.is_none()),
        "no key, no signature"
    );
    let now = chrono::Utc::now().timestamp();
    for message in &received {
        let sent: i64 = message.timestamp.parse().unwrap();
        assert!(
            (now - sent).abs() < 60,
            "webhook-timestamp is the time of sending"
        );
    }

    let target = &target_once(&app, (0, 0, 2)).await;
    assert_eq!(target["url"], format!("http://{}/hook", receiver.address));
    assert_eq!(target["lastError"], Value::Null);
    assert!(target["lastSuccessAt"].is_string());
    assert_eq!(target["configured"], true);

    let scrape = app.metrics().await;
    let label = format!(r#"target="http://{}/hook""#, receiver.address);
    for series in [
        format!("udesk_calls_forward_delivered_total{{{label}}} 2"),
        format!("udesk_calls_forward_pending{{{label}}} 0"),
        format!("udesk_calls_forward_parked_total{{{label}}} 0"),
    ] {
        assert!(scrape.contains(&series), "no {series} in:\n{scrape}");
    }
    assert!(
        !scrape.contains("receiver-secret"),
        "a URL's query string is no label"
    );
}

#[tokio::test]
async fn a_push_refused_with_a_4xx_is_parked_without_holding_back_its_call_and_forward_retry_sends_it_again()
 {
    let receiver = Receiver::start().await;
    receiver.refuse(|body| {
        let text = String::from_utf8_lossy(body);
        (text.contains("\"agent_incall\"") && text.contains("601"))
            .then_some(StatusCode::UNPROCESSABLE_ENTITY)
    });
    let url = receiver.url("?token=t");
    let app = TestApp::start_with(forwarding_to(std::slice::from_ref(&url), false)).await;
    app.push_all(&[
        call_push(601, "agent_incall", "13800000002"),
        call_push(601, "end", "13800000002"),
        call_push(602, "end", "13800000003"),
    ])
    .await;

    wait_for(
        Duration::from_secs(15),
        "the refused push parked, the rest sent",
        || receiver.received_count() == 2,
    )
    .await;
    wait_for(Duration::from_secs(5), "the tally", || {
        receiver.tally().get("refused") == Some(&3)
    })
    .await;
    let shown = target_once(&app, (0, 1, 2)).await;
    assert_eq!(shown["lastError"], "HTTP 422 Unprocessable Entity");
    let scrape = app.metrics().await;
    let target = format!("http://{}/hook", receiver.address);
    assert!(
        scrape.contains(&format!(
            r#"udesk_calls_forward_failed_attempts_total{{target="{target}",reason="refused"}} 3"#
        )),
        "{scrape}"
    );
    assert!(scrape.contains(&format!(
        r#"udesk_calls_forward_parked_total{{target="{target}"}} 1"#
    )));

    // The receiver is fixed; the operator re-queues what it refused, by the
    // URL GraphQL shows.
    receiver.accept_all();
    let (code, _, stderr) = run(binary()
        .args(["forward", "retry", "--target", &target, "--db"])
        .arg(&app.db_path));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("re-queued 1 parked pushes"), "{stderr}");
    assert!(!stderr.contains("token=t"), "{stderr}");
    wait_for(Duration::from_secs(10), "the parked push sent", || {
        receiver.received_count() == 3
    })
    .await;
    let delivery = check(
        &stored_pushes(&app.db_path),
        &receiver.received()[2..],
        "after the retry",
    );
    assert_eq!(delivery.delivered, 1);
    target_once(&app, (0, 0, 3)).await;
    let (code, _, stderr) = run(binary()
        .args(["forward", "retry", "--db"])
        .arg(&app.db_path));
    assert_eq!(
        (code, stderr.contains("no push is parked")),
        (0, true),
        "{stderr}"
    );
}

#[tokio::test]
async fn signed_pushes_verify_with_the_standard_webhooks_library() {
    let receiver = Receiver::start().await;
    let app = TestApp::start_with(forwarding_to(&[receiver.url("")], true)).await;
    let bodies = [
        call_push(701, "agent_incall", "13800000004"),
        "{\"conversation_id\":701,\"occasion\":\"end\",\"note_content\":\"中文 ✓\"}".to_owned(),
    ];
    app.push_all(&bodies).await;
    wait_for(Duration::from_secs(10), "both forwarded", || {
        receiver.received_count() == 2
    })
    .await;
    let received = receiver.received();
    for message in &received {
        assert_eq!(message.signature, Some(expected_signature(&KEY, message)));
    }

    // The receiver's side, as the README shows it: the `standardwebhooks`
    // package from PyPI verifies each request.
    let python = tokio::task::spawn_blocking(|| python_tool("standardwebhooks==1.1.0", "python"))
        .await
        .unwrap();
    let requests: Vec<Value> = received
        .iter()
        .map(|r| {
            json!({
                "body": String::from_utf8(r.body.clone()).unwrap(),
                "headers": { "webhook-id": r.id, "webhook-timestamp": r.timestamp,
                             "webhook-signature": r.signature },
            })
        })
        .collect();
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
secret, requests = sys.argv[1], json.loads(sys.argv[2])
for request in requests:
    Webhook(secret).verify(request["body"].encode(), request["headers"])
tampered = dict(requests[0]["headers"])
try:
    Webhook(secret).verify(b"{}", tampered)
    sys.exit("a tampered body verified")
except Exception:
    pass
print("verified", len(requests))
"#;
    let (code, stdout, stderr) = run(std::process::Command::new(python).args([
        "-c",
        script,
        &secret(),
        &Value::from(requests).to_string(),
    ]));
    assert_eq!((code, stdout.trim()), (0, "verified 2"), "{stderr}");
}

#[tokio::test]
async fn erasing_a_customer_erases_the_pushes_waiting_to_be_forwarded() {
    // A port nobody listens on: the pushes wait.
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", nobody.local_addr().unwrap());
    drop(nobody);
    let app = TestApp::start_with(forwarding_to(std::slice::from_ref(&url), false)).await;
    app.push_all(&[
        call_push(801, "end", "13912345678"),
        call_push(802, "end", "13900000000"),
    ])
    .await;
    assert_eq!(targets(&app).await[0]["pending"], 2);
    let (code, _, stderr) = run(binary()
        .args(["purge", "--customer-phone", "13912345678", "--db"])
        .arg(&app.db_path));
    assert_eq!(code, 0, "{stderr}");
    let shown = targets(&app).await[0].clone();
    assert_eq!(shown["pending"], 1, "{shown}");
}

#[test]
fn bad_forwarding_settings_are_refused_at_start_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let cases: [(&[&str], &str); 4] = [
        (
            &["--forward-to", "ftp://files.example/drop"],
            "http:// or https://",
        ),
        (
            &[
                "--forward-to",
                "https://a.example/h",
                "--forward-to",
                "https://a.example/h",
            ],
            "twice",
        ),
        (&["--forward-secret", "whsec_c2hvcnQ="], "at least 24"),
        (&["--forward-timeout", "soon"], "not a duration"),
    ];
    for (flags, says) in cases {
        let (code, _, stderr) = run(binary()
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(&db)
            .args(flags));
        assert_ne!(code, 0, "{flags:?}");
        assert!(stderr.contains(says), "{flags:?}: {stderr}");
    }
}

#[test]
fn a_bad_forwarding_url_or_secret_is_refused_without_echoing_its_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let bad_port = "https://crm:pass-hunter2-1@crm.example.com:99999/hook?token=hunter2-2";
    let bad_scheme = "ftp://crm:pass-hunter2-1@crm.example.com/hook?token=hunter2-2";
    let bad_key = "whsec_hunter2-3*not*base64";
    let cases: [(&str, &str, &str); 3] = [
        (
            "--forward-to",
            bad_port,
            "is not a URL (invalid port number)",
        ),
        ("--forward-to", bad_scheme, "not an http:// or https:// URL"),
        ("--forward-secret", bad_key, "not whsec_ followed by base64"),
    ];
    for (flag, value, says) in cases {
        let variable = format!(
            "UDESK_CALLS_{}",
            flag.trim_start_matches("--")
                .replace('-', "_")
                .to_uppercase()
        );
        for on_the_command_line in [true, false] {
            let mut command = binary();
            command
                .args(["serve", "--listen", "127.0.0.1:0", "--db"])
                .arg(&db);
            if on_the_command_line {
                command.args([flag, value]);
            } else {
                command.env(&variable, value);
            }
            let (code, stdout, stderr) = run(&mut command);
            assert_eq!(code, 2, "{flag}: {stderr}");
            assert!(
                stderr.contains(flag) && stderr.contains(says),
                "{flag}: {stderr}"
            );
            assert!(!format!("{stdout}{stderr}").contains("hunter2"), "{stderr}");
        }
    }
}
