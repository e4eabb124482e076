//! `/livez`, `/readyz` and `/metrics` as a supervisor and Prometheus see
//! them: probes without a token that say nothing about the data, readiness
//! that follows the database and the writer, counters that move as pushes
//! and queries arrive, each app counting only its own.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use udesk_calls::http::serve_opening;
use udesk_calls::{Settings, Store, StoreOptions, serve};

use crate::support::calls::synthetic_call;
use crate::support::{TestApp, WEBHOOK};

const HOOK_TOKEN: &str = "hook-token-5f1c";
const API_TOKEN: &str = "api-token-9a7e";
const PHONE: &str = "13800138000";
const CONVERSATION_ID: i64 = 918_273_645_501;

fn with_tokens() -> Settings {
    let mut settings = Settings::open_local();
    settings.webhook_tokens = vec![HOOK_TOKEN.into()];
    settings.api_tokens = vec![API_TOKEN.into()];
    settings.max_body_bytes = 4096;
    settings
}

async fn get(client: &reqwest::Client, url: String, token: Option<&str>) -> (u16, String) {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The value of one series in a scrape, like `udesk_calls_pushes_total{outcome="stored"}`.
fn sample(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in the scrape:\n{scrape}"))
}

fn pushes(scrape: &str, outcome: &str) -> f64 {
    sample(
        scrape,
        &format!(r#"udesk_calls_pushes_total{{outcome="{outcome}"}}"#),
    )
}

fn a_push() -> String {
    json!({ "conversation_id": CONVERSATION_ID, "occasion": "end", "customer_phone": PHONE })
        .to_string()
}

#[tokio::test]
async fn the_probes_need_no_token_and_say_nothing_about_the_data() {
    let app = TestApp::start_with(with_tokens()).await;
    let hook = format!("{WEBHOOK}?token={HOOK_TOKEN}");
    assert_eq!(app.push_to(&hook, a_push(), None).await.0, 200);
    for (path, answer) in [("/livez", "live"), ("/readyz", "ready")] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({ "status": answer }), "{path}");
    }
}

#[tokio::test]
async fn readyz_is_503_while_the_database_opens_and_every_other_path_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        path: dir.path().join("calls.db"),
        default_offset: Settings::open_local().default_offset,
        readers: 2,
        wal_autocheckpoint: udesk_calls::storage::DEFAULT_WAL_AUTOCHECKPOINT,
        train_dictionary_after: udesk_calls::storage::bodies::TRAIN_AFTER,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (open, may_open) = tokio::sync::oneshot::channel::<()>();
    let opening = async move {
        may_open.await.unwrap();
        let store = tokio::task::spawn_blocking(move || Store::open(&options));
        store.await.unwrap().map(Arc::new)
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(serve_opening(
        listener,
        opening,
        Settings::open_local(),
        async move {
            let _ = stopped.await;
        },
    ));
    let client = reqwest::Client::new();
    assert_eq!(get(&client, format!("{base}/livez"), None).await.0, 200);
    let (status, body) = get(&client, format!("{base}/readyz"), None).await;
    assert_eq!((status, body.as_str()), (503, r#"{"status":"starting"}"#));
    let push = client
        .post(format!("{base}{WEBHOOK}"))
        .body(a_push())
        .send()
        .await
        .unwrap();
    assert_eq!(push.status(), 503, "a push waits for the database");
    assert_eq!(push.headers()["retry-after"], "5");
    assert_eq!(get(&client, format!("{base}/metrics"), None).await.0, 503);

    open.send(()).unwrap();
    let mut ready = false;
    for _ in 0..200 {
        if get(&client, format!("{base}/readyz"), None).await.0 == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(ready, "readyz never turned 200 once the database was open");
    let push = client.post(format!("{base}{WEBHOOK}")).body(a_push());
    assert_eq!(push.send().await.unwrap().status(), 200);

    stop.send(()).unwrap();
    served.await.unwrap().unwrap();
}

#[tokio::test]
async fn once_the_store_closes_readyz_is_503_and_pushes_count_as_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        Store::open(&StoreOptions {
            path: dir.path().join("calls.db"),
            default_offset: Settings::open_local().default_offset,
            readers: 2,
            wal_autocheckpoint: udesk_calls::storage::DEFAULT_WAL_AUTOCHECKPOINT,
            train_dictionary_after: udesk_calls::storage::bodies::TRAIN_AFTER,
        })
        .unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(serve(
        listener,
        store.clone(),
        Settings::open_local(),
        async move {
            let _ = stopped.await;
        },
    ));
    let client = reqwest::Client::new();
    let push = || {
        client
            .post(format!("{base}{WEBHOOK}"))
            .body(a_push())
            .send()
    };
    assert_eq!(push().await.unwrap().status(), 200);
    assert_eq!(get(&client, format!("{base}/readyz"), None).await.0, 200);

    store.close().await;
    let (status, body) = get(&client, format!("{base}/readyz"), None).await;
    assert_eq!(
        (status, body.as_str()),
        (503, r#"{"status":"unavailable"}"#)
    );
    assert_eq!(get(&client, format!("{base}/livez"), None).await.0, 200);
    assert_eq!(push().await.unwrap().status(), 503);
    let (_, scrape) = get(&client, format!("{base}/metrics"), None).await;
    assert_eq!(pushes(&scrape, "stored"), 1.0);
    assert_eq!(pushes(&scrape, "unavailable"), 1.0);

    stop.send(()).unwrap();
    served.await.unwrap().unwrap();
}

#[tokio::test]
async fn metrics_count_each_push_by_outcome_and_each_query_and_need_the_api_token() {
    let app = TestApp::start_with(with_tokens()).await;
    let hook = format!("{WEBHOOK}?token={HOOK_TOKEN}");
    let call = synthetic_call(CONVERSATION_ID, 2);
    for body in &call {
        assert_eq!(app.push_to(&hook, body.clone(), None).await.0, 200);
    }
    let (status, answer) = app.push_to(&hook, call[0].clone(), None).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate"))
    );
    assert_eq!(app.push_to(&hook, "{not json", None).await.0, 400);
    assert_eq!(
        app.push_to(&hook, r#"{"occasion":"end"}"#, None).await.0,
        422
    );
    assert_eq!(app.push_to(WEBHOOK, a_push(), None).await.0, 401);
    let wrong = format!("{WEBHOOK}?token=wrong");
    assert_eq!(app.push_to(&wrong, a_push(), None).await.0, 401);
    assert_eq!(app.push_to(&hook, "x".repeat(5000), None).await.0, 413);
    let query = format!("{{ call(conversationId: \"{CONVERSATION_ID}\") {{ customerPhone }} }}");
    assert!(app.graphql(&query, json!({})).await.get("errors").is_none());
    let anonymous = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": "{ agents { agentId } }" }));
    assert_eq!(anonymous.send().await.unwrap().status(), 401);

    assert_eq!(get(&app.client, app.url("/metrics"), None).await.0, 401);
    assert_eq!(
        get(&app.client, app.url("/metrics"), Some("wrong")).await.0,
        401
    );
    let response = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    for (outcome, count) in [
        ("stored", 2.0),
        ("duplicate", 1.0),
        ("rejected", 2.0),
        ("unauthorized", 2.0),
        ("too_large", 1.0),
        ("unavailable", 0.0),
    ] {
        assert_eq!(pushes(&text, outcome), count, "{outcome}:\n{text}");
    }
    assert_eq!(
        sample(&text, "udesk_calls_push_duration_seconds_count"),
        8.0
    );
    assert!(sample(&text, "udesk_calls_push_duration_seconds_sum") > 0.0);
    assert_eq!(
        sample(&text, r#"udesk_calls_graphql_requests_total{status="200"}"#),
        1.0
    );
    assert_eq!(
        sample(&text, r#"udesk_calls_graphql_requests_total{status="401"}"#),
        1.0
    );
    assert_eq!(
        sample(&text, "udesk_calls_graphql_duration_seconds_count"),
        2.0
    );
    assert_eq!(sample(&text, "udesk_calls_writer_queue_depth"), 0.0);
    let on_disk = std::fs::metadata(&app.db_path).unwrap().len() as f64;
    assert!(sample(&text, "udesk_calls_database_bytes") >= on_disk);

    // Labels hold closed sets of words and status codes only.
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let labels = line.split_once('{').map_or("", |(_, rest)| rest);
        for pair in labels
            .split('}')
            .next()
            .unwrap_or("")
            .split(',')
            .filter(|p| !p.is_empty())
        {
            let (name, value) = pair.split_once('=').unwrap();
            let value = value.trim_matches('"');
            let allowed = match name {
                "outcome" => [
                    "stored",
                    "duplicate",
                    "rejected",
                    "unauthorized",
                    "too_large",
                    "unavailable",
                ]
                .contains(&value),
                "status" => value.len() == 3 && value.parse::<u16>().is_ok(),
                "le" => value == "+Inf" || value.parse::<f64>().is_ok(),
                _ => false,
            };
            assert!(allowed, "label {name}={value:?} in {line}");
        }
    }
    for secret in [PHONE, HOOK_TOKEN, API_TOKEN, &CONVERSATION_ID.to_string()] {
        assert!(!text.contains(secret), "{secret} in the scrape");
    }
}

#[tokio::test]
async fn the_first_scrape_shows_every_family_with_its_known_labels_at_zero() {
    let app = TestApp::start().await;
    let (status, text) = get(&app.client, app.url("/metrics"), None).await;
    assert_eq!(status, 200);
    for status in [200, 400, 401, 413, 429] {
        let series = format!(r#"udesk_calls_graphql_requests_total{{status="{status}"}}"#);
        assert_eq!(sample(&text, &series), 0.0, "{series}");
    }
    assert_eq!(pushes(&text, "stored"), 0.0);
    // Every family declared has at least one series: none shows "no data".
    let families: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert!(families.len() > 10, "{text}");
    for family in families {
        let has_series = text
            .lines()
            .any(|line| !line.starts_with('#') && line.starts_with(family));
        assert!(
            has_series,
            "{family} has no series in the first scrape:\n{text}"
        );
    }
}

#[tokio::test]
async fn two_apps_in_one_process_count_only_their_own_pushes() {
    let (busy, idle) = tokio::join!(TestApp::start(), TestApp::start());
    for body in synthetic_call(CONVERSATION_ID, 3) {
        assert_eq!(busy.push(body).await.0, 200);
    }
    let (_, busy_scrape) = get(&busy.client, busy.url("/metrics"), None).await;
    let (_, idle_scrape) = get(&idle.client, idle.url("/metrics"), None).await;
    assert_eq!(pushes(&busy_scrape, "stored"), 3.0);
    assert_eq!(pushes(&idle_scrape, "stored"), 0.0);
    assert_eq!(
        sample(&idle_scrape, "udesk_calls_push_duration_seconds_count"),
        0.0
    );
}
