//! The GraphQL rate limit weighs the work requests take, not their number:
//! ordinary use (one request after another, as a CRM integration checks
//! calls one by one) is never refused; a client past its budget is answered
//! `429` on a connection that stays usable, and other clients are untouched.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use udesk_calls::Settings;
use udesk_calls::config::HttpLimits;

use crate::support::TestApp;
use crate::support::calls::synthetic_call;
use crate::support::subscriber::{Received, Subscriber};

const FIRST: &str = "first-token-0123456789";
const SECOND: &str = "second-token-0123456789";

/// A budget of one point (a millisecond of work), refilled at 100 a second:
/// one request after another spends it at once, and it is back within a
/// second.
fn tiny_budget() -> HttpLimits {
    HttpLimits {
        graphql_points_per_second: 100,
        graphql_points_ceiling: 1,
        ..HttpLimits::default()
    }
}

async fn status_of(
    app: &TestApp,
    client: &reqwest::Client,
    token: Option<&str>,
) -> reqwest::Response {
    let mut request = client
        .post(app.url("/graphql"))
        .json(&json!({ "query": "{ calls(first: 50) { totalCount edges { node { conversationId } } } }" }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// Sends requests until one is refused; the refusal.
async fn spend_until_refused(
    app: &TestApp,
    client: &reqwest::Client,
    token: Option<&str>,
) -> reqwest::Response {
    for _ in 0..10_000 {
        let response = status_of(app, client, token).await;
        if response.status() != 200 {
            return response;
        }
    }
    panic!("10,000 requests and none refused");
}

#[tokio::test]
async fn a_token_past_its_budget_is_answered_429_and_other_tokens_and_pushes_are_untouched() {
    let app = TestApp::start_with(Settings {
        api_tokens: vec![FIRST.into(), SECOND.into()],
        http_limits: tiny_budget(),
        ..Settings::open_local()
    })
    .await;
    let client = reqwest::Client::new();
    let refused = spend_until_refused(&app, &client, Some(FIRST)).await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=5).contains(&retry_after), "Retry-After: {retry_after}");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "RATE_LIMITED",
        "{body}"
    );

    assert_eq!(status_of(&app, &client, Some(SECOND)).await.status(), 200);
    for id in 0..5 {
        let (status, _) = app.push(synthetic_call(100 + id, 1).remove(0)).await;
        assert_eq!(status, 200);
    }
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(status_of(&app, &client, Some(FIRST)).await.status(), 200);
}

#[tokio::test]
async fn an_open_api_is_rate_limited_per_client_address() {
    let app = TestApp::start_with(Settings {
        http_limits: tiny_budget(),
        ..Settings::open_local()
    })
    .await;
    let here = reqwest::Client::new();
    assert_eq!(spend_until_refused(&app, &here, None).await.status(), 429);
    let elsewhere = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    assert_eq!(status_of(&app, &elsewhere, None).await.status(), 200);
}

/// One request written on `socket`, and the status of its answer, read to
/// the end of its body.
async fn exchange(socket: &mut TcpStream, body: &str) -> (u16, String) {
    let request = format!(
        "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut read = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        let text = String::from_utf8_lossy(&read).into_owned();
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|n| n.trim().parse().unwrap())
                })
                .expect("a Content-Length");
            if rest.len() >= length {
                let status = head[9..12].parse().unwrap();
                return (status, head.to_owned());
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buffer))
            .await
            .expect("an answer within 5 s")
            .unwrap();
        assert!(
            n > 0,
            "the connection was closed after {} bytes",
            read.len()
        );
        read.extend_from_slice(&buffer[..n]);
    }
}

#[tokio::test]
async fn a_429_leaves_the_connection_usable_for_the_next_request() {
    let app = TestApp::start_with(Settings {
        http_limits: tiny_budget(),
        ..Settings::open_local()
    })
    .await;
    let mut socket = TcpStream::connect(app.address).await.unwrap();
    // A body larger than a socket read, so a refusal before reading it
    // would leave it on the connection.
    let padding = " ".repeat(200_000);
    let body = format!("{{\"query\": \"{{ calls(first: 5) {{ totalCount }} }}\"{padding}}}");
    let mut statuses = Vec::new();
    for _ in 0..200 {
        let (status, head) = exchange(&mut socket, &body).await;
        assert!(
            !head.to_ascii_lowercase().contains("connection: close"),
            "{head}"
        );
        statuses.push(status);
        if status == 429 {
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "never refused: {statuses:?}");
    let (status, _) = exchange(&mut socket, &body).await;
    assert!(status == 429 || status == 200, "{status}");
}

#[tokio::test]
async fn six_hundred_cheap_requests_one_after_another_from_one_token_are_all_answered() {
    let app = TestApp::start_with(Settings {
        api_tokens: vec![FIRST.into()],
        ..Settings::open_local()
    })
    .await;
    for id in 1..=60 {
        let (status, _) = app.push(synthetic_call(id, 1).remove(0)).await;
        assert_eq!(status, 200);
    }
    let client = reqwest::Client::new();
    let mut refused = 0;
    for index in 0..600 {
        let query = if index % 2 == 0 {
            json!({ "query": "query($id: ID!) { call(conversationId: $id) { conversationId status agentId totalTime } }",
                    "variables": { "id": (index % 60 + 1).to_string() } })
        } else {
            json!({ "query": "{ calls(first: 50) { edges { node { conversationId startedAt callResult } } } }" })
        };
        let response = client
            .post(app.url("/graphql"))
            .bearer_auth(FIRST)
            .json(&query)
            .send()
            .await
            .unwrap();
        if response.status() != 200 {
            refused += 1;
        }
    }
    assert_eq!(refused, 0, "{refused} of 600 cheap requests refused");
}

/// Spends the budget of whoever `forwarded_for` names, sending from `local`;
/// the last status, and the client.
async fn spend_as(app: &TestApp, local: &str, forwarded_for: &str) -> (u16, reqwest::Client) {
    let client = reqwest::Client::builder()
        .local_address(local.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let mut status = 200;
    for _ in 0..10_000 {
        status = client
            .post(app.url("/graphql"))
            .header("X-Forwarded-For", forwarded_for)
            .json(&json!({ "query": "{ calls(first: 50) { totalCount } }" }))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if status != 200 {
            break;
        }
    }
    (status, client)
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget_and_others_cannot_forge_one()
 {
    let app = TestApp::start_with(Settings {
        http_limits: HttpLimits {
            trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
            // Refilled slowly: a spent budget stays spent for the test's
            // few requests, however loaded the machine.
            graphql_points_per_second: 1,
            ..tiny_budget()
        },
        ..Settings::open_local()
    })
    .await;
    assert_eq!(spend_as(&app, "127.0.0.1", "203.0.113.1").await.0, 429);
    let client = reqwest::Client::new();
    let other_client = client
        .post(app.url("/graphql"))
        .header("X-Forwarded-For", "198.51.100.7, 203.0.113.2")
        .json(&json!({ "query": "{ calls(first: 1) { totalCount } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(other_client.status(), 200);

    // Not a trusted proxy: its header names no one, its own address counts.
    let (status, from_elsewhere) = spend_as(&app, "127.0.0.2", "203.0.113.3").await;
    assert_eq!(status, 429);
    let forged = from_elsewhere
        .post(app.url("/graphql"))
        .header("X-Forwarded-For", "203.0.113.4")
        .json(&json!({ "query": "{ calls(first: 1) { totalCount } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 429);
}

#[tokio::test]
async fn bodies_refused_before_they_run_are_charged_too() {
    let app = TestApp::start_with(Settings {
        http_limits: tiny_budget(),
        ..Settings::open_local()
    })
    .await;
    let client = reqwest::Client::new();
    // A large body that is no GraphQL request: parsing it is the work.
    let unreadable = format!("[{}]", "1,".repeat(200_000) + "1");
    for sent in 0..10_000 {
        let response = client
            .post(app.url("/graphql"))
            .header("content-type", "application/json")
            .body(unreadable.clone())
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            400 => continue,
            429 => return,
            other => panic!("answered {other} after {sent}"),
        }
    }
    panic!("10,000 unreadable bodies and none refused");
}

#[tokio::test]
async fn a_subscriptions_updates_are_charged_to_its_token_and_held_back_while_it_is_in_debt() {
    // Five points (milliseconds of work) a second: one heavy update (some
    // milliseconds) puts the token in debt for a second or so.
    let app = TestApp::start_with(Settings {
        api_tokens: vec![FIRST.into(), SECOND.into()],
        http_limits: HttpLimits {
            graphql_points_per_second: 5,
            graphql_points_ceiling: 1,
            ..HttpLimits::default()
        },
        ..Settings::open_local()
    })
    .await;
    let mut live = Subscriber::connect(&app, Some(FIRST)).await;
    let heavy: String = (0..40)
        .map(|n| format!("e{n}: events {{ payload body }} "))
        .collect();
    live.subscribe_to("heavy", &heavy, serde_json::Value::Null)
        .await;
    live.sync().await;
    let pushes = synthetic_call(7, 2);
    assert_eq!(app.push(pushes[0].clone()).await.0, 200);
    match live.receive().await {
        Received::Message(update) => assert_eq!(update["type"], "next", "{update}"),
        closed => panic!("no update: {closed:?}"),
    }

    let client = reqwest::Client::new();
    assert_eq!(status_of(&app, &client, Some(FIRST)).await.status(), 429);
    assert_eq!(status_of(&app, &client, Some(SECOND)).await.status(), 200);
    // The next update waits until the token has points again.
    assert_eq!(app.push(pushes[1].clone()).await.0, 200);
    let started = std::time::Instant::now();
    match live.receive().await {
        Received::Message(update) => assert_eq!(update["type"], "next", "{update}"),
        closed => panic!("no update: {closed:?}"),
    }
    // Unheld, it comes within milliseconds of its push.
    assert!(
        started.elapsed() > Duration::from_millis(100),
        "sent after {:?}",
        started.elapsed()
    );
}
