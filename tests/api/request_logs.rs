//! The log as an operator gets it from the real binary: one line per
//! request, text or JSON, and, even at `RUST_LOG=trace` through a realistic
//! session, no token, no recording URL, no customer token and no phone
//! number but masked.

use serde_json::{Value, json};

use crate::support::binary::{Server, binary, run};

const HOOK_TOKEN: &str = "hook-Zq81vX-7d2e19";
const API_TOKEN: &str = "api-Kp42rW-c3b09f8";
const WRONG_HOOK_TOKEN: &str = "wrong-hook-Jd73-a1";
const WRONG_API_TOKEN: &str = "wrong-api-Tm55-b2c";
const PHONE: &str = "13912345678";
const MASKED_PHONE: &str = "139****5678";
const OTHER_PHONE: &str = "18612349876";
const RECORD_URL: &str = "https://rec.example.cn/2024/05/06/a1b2c3-call.mp3?sig=f00dcafe";
const CUSTOMER_TOKENS: [&str; 3] = ["ctok-Wq9d", "cweb-Hy3m", "csdk-Lv8n"];

/// Every line the server wrote, from start to exit, after `session` ran
/// against it and it was stopped with SIGTERM.
async fn log_of_a_session<F: Future<Output = ()>>(
    extra: &[&str],
    log_filter: &str,
    session: impl FnOnce(String) -> F,
) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::launch(
        &dir.path().join("calls.db"),
        "127.0.0.1:0",
        extra,
        log_filter,
    );
    session(server.address.clone()).await;
    server.signal("TERM");
    let exit = server.wait_for_exit(std::time::Duration::from_secs(10));
    assert!(exit.is_some_and(|(status, _)| status.success()), "{exit:?}");
    server.rest_of_log()
}

fn pushes() -> Vec<Value> {
    let first = json!({
        "conversation_id": 770_001, "call_id": "c-770001", "occasion": "agent_incall",
        "timestamp": "2024-05-06 09:00:00 +0800", "customer_phone": PHONE,
        "display_number": OTHER_PHONE, "agent_id": 12,
    });
    let end = json!({
        "conversation_id": 770_001, "call_id": "c-770001", "occasion": "end",
        "timestamp": "2024-05-06 09:05:00 +0800", "customer_phone": PHONE,
        "outline_phone_number": OTHER_PHONE, "record_url": RECORD_URL,
        "customer_token": CUSTOMER_TOKENS[0], "customer_web_token": CUSTOMER_TOKENS[1],
        "customer_sdk_token": CUSTOMER_TOKENS[2], "total_time": 290,
    });
    vec![first, end]
}

/// Pushes (stored, duplicate, form-encoded, rejected twice, unauthorized),
/// GraphQL with and without the right token, a scrape, a probe, a 404.
async fn realistic_session(base: String) {
    let client = reqwest::Client::new();
    let hook = format!("{base}/webhooks/udesk/calls?token={HOOK_TOKEN}");
    let pushes = pushes();
    for push in pushes.iter().chain([&pushes[0]]) {
        assert_eq!(
            client.post(&hook).json(push).send().await.unwrap().status(),
            200
        );
    }
    let form = format!(
        "conversation_id=770002&occasion=end&customer_phone={PHONE}&record_url={}",
        urlencode(RECORD_URL)
    );
    let response = client
        .post(&hook)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let malformed = format!(
        r#"{{"customer_phone":"{PHONE}","customer_token":"{}","#,
        CUSTOMER_TOKENS[0]
    );
    assert_eq!(
        client
            .post(&hook)
            .body(malformed)
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    let unusable = json!({ "conversation_id": format!("{PHONE}x"), "record_url": RECORD_URL });
    assert_eq!(
        client
            .post(&hook)
            .json(&unusable)
            .send()
            .await
            .unwrap()
            .status(),
        422
    );
    let wrong = format!("{base}/webhooks/udesk/calls?token={WRONG_HOOK_TOKEN}");
    assert_eq!(
        client
            .post(&wrong)
            .json(&pushes[1])
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    let query = "query($phones: [String!]) { calls(filter: {customerPhones: $phones}) \
                 { nodes { customerPhone recordUrl customerToken } } }";
    let body = json!({ "query": query, "variables": { "phones": [PHONE] } });
    let graphql = format!("{base}/graphql");
    let answer: Value = client
        .post(&graphql)
        .bearer_auth(API_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["data"]["calls"]["nodes"][0]["recordUrl"], RECORD_URL,
        "{answer}"
    );
    let in_url = format!(
        "{graphql}?query={}",
        urlencode(&format!(
            "{{ calls(filter: {{customerPhones: [\"{PHONE}\"]}}) {{ totalCount }} }}"
        ))
    );
    assert_eq!(
        client
            .get(&in_url)
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let refused = client
        .post(&graphql)
        .bearer_auth(WRONG_API_TOKEN)
        .json(&body)
        .send()
        .await;
    assert_eq!(refused.unwrap().status(), 401);
    let scrape = client
        .get(format!("{base}/metrics"))
        .bearer_auth(API_TOKEN)
        .send()
        .await;
    assert_eq!(scrape.unwrap().status(), 200);
    assert_eq!(
        client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let lost = client
        .get(format!("{base}/calls/{PHONE}"))
        .send()
        .await
        .unwrap();
    assert_eq!(lost.status(), 404);
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)]).unwrap()[1..].to_owned()
}

#[tokio::test]
async fn a_realistic_session_at_trace_level_logs_no_secret_and_phone_numbers_only_masked() {
    let log = log_of_a_session(
        &["--webhook-token", HOOK_TOKEN, "--api-token", API_TOKEN],
        "trace",
        realistic_session,
    )
    .await;
    assert!(
        log.iter().any(|line| line.contains("TRACE")),
        "not at trace: {log:#?}"
    );
    let mut secrets = vec![HOOK_TOKEN, API_TOKEN, WRONG_HOOK_TOKEN, WRONG_API_TOKEN];
    secrets.extend([
        PHONE,
        OTHER_PHONE,
        RECORD_URL,
        "rec.example.cn",
        "a1b2c3-call",
    ]);
    secrets.extend(CUSTOMER_TOKENS);
    for secret in secrets {
        let leaks: Vec<&String> = log.iter().filter(|line| line.contains(secret)).collect();
        assert!(leaks.is_empty(), "{secret:?} is in the log: {leaks:#?}");
    }
    let joined = log.join("\n");
    assert!(
        joined.contains(MASKED_PHONE),
        "the stored pushes name their masked phone: {joined}"
    );
    for expected in [
        "request method=POST path=/webhooks/udesk/calls status=200 duration_ms=",
        "request method=POST path=/webhooks/udesk/calls status=400 duration_ms=",
        "request method=POST path=/webhooks/udesk/calls status=422 duration_ms=",
        "request method=POST path=/webhooks/udesk/calls status=401 duration_ms=",
        "request method=GET path=/graphql status=200 duration_ms=",
        "request method=POST path=/graphql status=401 duration_ms=",
        "request method=GET path=/metrics status=200 duration_ms=",
        &format!("request method=GET path=/calls/{MASKED_PHONE} status=404 duration_ms="),
    ] {
        assert!(joined.contains(expected), "no line like {expected:?}");
    }
    let requests = log
        .iter()
        .filter(|line| line.contains(" request method="))
        .count();
    assert_eq!(requests, 13, "one line per request");
}

#[tokio::test]
async fn json_logs_hold_one_object_per_line_and_one_line_per_request() {
    let log = log_of_a_session(
        &["--log-format", "json", "--webhook-token", HOOK_TOKEN],
        "info",
        |base| async move {
            let client = reqwest::Client::new();
            let hook = format!("{base}/webhooks/udesk/calls?token={HOOK_TOKEN}");
            let push = client.post(&hook).json(&pushes()[0]).send().await.unwrap();
            assert_eq!(push.status(), 200);
            assert_eq!(
                client
                    .get(format!("{base}/livez"))
                    .send()
                    .await
                    .unwrap()
                    .status(),
                200
            );
            let query = json!({ "query": "{ agents { agentId } }" });
            let graphql = client
                .post(format!("{base}/graphql"))
                .json(&query)
                .send()
                .await;
            assert_eq!(graphql.unwrap().status(), 200);
        },
    )
    .await;
    let objects: Vec<Value> = log
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let requests: Vec<&Value> = objects
        .iter()
        .filter(|o| o["message"] == "request")
        .collect();
    let seen: Vec<(&str, &str, u64)> = requests
        .iter()
        .map(|o| {
            assert!(o["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{o}");
            assert!(o["timestamp"].is_string() && o["level"] == "INFO", "{o}");
            (
                o["method"].as_str().unwrap(),
                o["path"].as_str().unwrap(),
                o["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("POST", "/webhooks/udesk/calls", 200),
            ("GET", "/livez", 200),
            ("POST", "/graphql", 200),
        ]
    );
    assert!(!log.join("\n").contains(HOOK_TOKEN));
}

#[test]
fn the_log_format_is_text_or_json_and_nothing_else() {
    let (code, _, stderr) = run(binary().args(["--log-format", "xml", "schema"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("text") && stderr.contains("json"),
        "{stderr}"
    );
    let (_, help, _) = run(binary().args(["serve", "--help"]));
    assert!(
        help.contains("--log-format") && help.contains("UDESK_CALLS_LOG_FORMAT"),
        "{help}"
    );
}
