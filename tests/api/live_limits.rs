//! Live updates within limits: auth (`connection_init` or the upgrade's
//! header), the `Origin` rule on the upgrade, `--max-websockets`,
//! subscriptions per connection, a subscriber that falls behind, the
//! connection caps and shutdown.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use udesk_calls::Settings;
use udesk_calls::config::HttpLimits;

use crate::support::TestApp;
use crate::support::subscriber::{Received, Subscriber, Upgrade, closed, push};

const TOKEN: &str = "live-token-0123456789abcdef";

fn with_tokens() -> Settings {
    Settings {
        api_tokens: vec![TOKEN.into()],
        ..Settings::open_local()
    }
}

#[tokio::test]
async fn with_tokens_a_connection_without_one_is_closed_4403_and_one_in_connection_init_or_the_header_is_served()
 {
    let app = TestApp::start_with(with_tokens()).await;

    let mut anonymous = Subscriber::open(&app, Upgrade::default()).await.unwrap();
    anonymous.init(None).await;
    assert_eq!(closed(anonymous.receive().await).0, 4403);

    let mut wrong = Subscriber::open(&app, Upgrade::default()).await.unwrap();
    wrong.init(Some("not-the-token")).await;
    assert_eq!(closed(wrong.receive().await).0, 4403);

    let mut early = Subscriber::open(&app, Upgrade::default()).await.unwrap();
    early.subscribe("1", Value::Null).await;
    assert_eq!(
        closed(early.receive().await).0,
        4401,
        "subscribe before init"
    );

    let refused = Subscriber::open(
        &app,
        Upgrade {
            header_token: Some("not-the-token"),
            ..Upgrade::default()
        },
    )
    .await;
    assert_eq!(refused.err(), Some(401), "a wrong token in the header");

    let mut by_init = Subscriber::connect(&app, Some(TOKEN)).await;
    by_init.subscribe("1", Value::Null).await;
    let mut by_header = Subscriber::open(
        &app,
        Upgrade {
            header_token: Some(TOKEN),
            ..Upgrade::default()
        },
    )
    .await
    .unwrap();
    by_header.init(None).await;
    assert!(
        matches!(by_header.receive().await, Received::Message(m) if m["type"] == "connection_ack")
    );
    by_header.subscribe("1", Value::Null).await;
    by_init.sync().await;
    by_header.sync().await;
    app.push_json(&push(801, "end", "in", 1)).await;
    assert_eq!(by_init.next_call("1").await["conversationId"], "801");
    assert_eq!(by_header.next_call("1").await["conversationId"], "801");
}

#[tokio::test]
async fn an_upgrade_from_a_page_of_another_site_is_refused_and_a_same_origin_one_is_served() {
    let app = TestApp::start().await;
    let other = Subscriber::open(
        &app,
        Upgrade {
            origin: Some("https://evil.example"),
            ..Upgrade::default()
        },
    )
    .await;
    assert_eq!(other.err(), Some(403));
    let same_origin = format!("http://{}", app.address);
    let same = Subscriber::open(
        &app,
        Upgrade {
            origin: Some(&same_origin),
            ..Upgrade::default()
        },
    )
    .await;
    assert!(same.is_ok());
}

#[tokio::test]
async fn websockets_past_the_limit_are_answered_503_and_subscriptions_past_a_connections_limit_are_refused()
 {
    let app = TestApp::start_with(Settings {
        http_limits: HttpLimits {
            max_websockets: 2,
            max_subscriptions_per_connection: 2,
            ..HttpLimits::default()
        },
        ..Settings::open_local()
    })
    .await;
    let mut first = Subscriber::connect(&app, None).await;
    let second = Subscriber::connect(&app, None).await;
    assert_eq!(
        Subscriber::open(&app, Upgrade::default()).await.err(),
        Some(503)
    );
    drop(second);
    // The place is given back once the server sees the socket closed.
    let deadline = Instant::now() + Duration::from_secs(5);
    let third = loop {
        match Subscriber::open(&app, Upgrade::default()).await {
            Ok(third) => break third,
            Err(503) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("status {status}"),
        }
    };
    drop(third);

    first.subscribe("a", Value::Null).await;
    first.subscribe("b", Value::Null).await;
    first.subscribe("c", Value::Null).await;
    match first.receive().await {
        Received::Message(refusal) => {
            assert_eq!(refusal["type"], "error", "{refusal}");
            assert_eq!(refusal["id"], "c");
            assert_eq!(
                refusal["payload"][0]["extensions"]["code"],
                "TOO_MANY_SUBSCRIPTIONS"
            );
        }
        other => panic!("{other:?}"),
    }
    // Completing one makes room for another on the same connection.
    first.send(json!({ "type": "complete", "id": "a" })).await;
    first.subscribe("d", Value::Null).await;
    first.sync().await;
    app.push_json(&push(901, "end", "in", 1)).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        match first.receive().await {
            Received::Message(update) if update["type"] == "next" => {
                ids.push(update["id"].as_str().unwrap().to_owned());
            }
            other => panic!("{other:?}"),
        }
    }
    ids.sort();
    assert_eq!(ids, ["b", "d"]);
    // A duplicate id closes the connection, as the protocol says.
    first.subscribe("b", Value::Null).await;
    assert_eq!(closed(first.receive().await).0, 4409);
}

/// The subscriber's pushes: `count` calls of one push each, sent by 16
/// senders at once; every answer must be a 200.
async fn push_many(app: &TestApp, first_id: i64, count: i64) -> Duration {
    let started = Instant::now();
    let mut senders = Vec::new();
    for sender in 0..16 {
        let client = app.client.clone();
        let url = app.url(crate::support::WEBHOOK);
        senders.push(tokio::spawn(async move {
            let mut id = first_id + sender;
            while id < first_id + count {
                let response = client
                    .post(&url)
                    .json(&push(id, "end", "in", 1))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                id += 16;
            }
        }));
    }
    for sender in senders {
        sender.await.unwrap();
    }
    started.elapsed()
}

/// Every field of a call but its lists: about 1.2 KB an update.
const EVERY_FIELD: &str = "conversationId callId status lastOccasion startedAt nickName customerPhone mobileArea displayNumber workflow fromAgentId callResult isLeaveMessage totalTime recordUrl survey outlinePhoneNumber agentId customerRingAt agentRingAt customerAnswerAt agentAnswerAt customerHangupAt agentHangupAt agentEmail agentNickName category taskName queueStatue queueTime dtmf deviceInfo dropSide defeatCause multiRingCount taskId queueOverflow ivrTime ivrVariablesRaw lang isBlocked level description organizationName ownerName ownerGroupName noteId noteContent noteTemplateId noteTemplateName questionnaireId bizId customerId customerToken customerWebToken customerSdkToken userGroupId userGroupName callStartAt ringTime createdAt eventCount firstReceivedAt lastReceivedAt";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_that_falls_behind_is_told_and_disconnected_while_ingest_goes_on() {
    let app = TestApp::start().await;
    let mut slow = Subscriber::open(
        &app,
        Upgrade {
            receive_buffer: Some(4096),
            ..Upgrade::default()
        },
    )
    .await
    .unwrap();
    slow.init(None).await;
    assert!(matches!(slow.receive().await, Received::Message(m) if m["type"] == "connection_ack"));
    // Sixteen subscriptions of every field: more than the socket's buffers
    // hold, so the server soon waits for this client.
    for id in 0..16 {
        slow.subscribe_to(&id.to_string(), EVERY_FIELD, Value::Null)
            .await;
    }
    slow.sync().await;
    let mut keeping_up = Subscriber::connect(&app, None).await;
    keeping_up
        .subscribe("1", json!({ "agentIds": ["2000"] }))
        .await;
    keeping_up.sync().await;

    // The slow subscriber reads nothing while 2,000 pushes are stored.
    let took = push_many(&app, 10_000, 2_000).await;
    assert!(took < Duration::from_secs(60), "ingest took {took:?}");

    // Then it reads: what was sent before it fell behind, the error, the close.
    let mut updates = 0;
    let error = loop {
        match slow.receive().await {
            Received::Message(message) if message["type"] == "next" => updates += 1,
            Received::Message(message) => break message,
            Received::Closed(code, reason) => {
                panic!("closed {code} {reason} without an error, after {updates} updates")
            }
        }
    };
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(
        error["payload"][0]["extensions"]["code"],
        "SUBSCRIBER_TOO_SLOW"
    );
    assert!(updates < 16 * 2_000, "{updates} updates");
    let (code, _) = closed(slow.receive().await);
    assert_eq!(code, 1013);

    // The other subscriber was not disconnected.
    app.push_json(&push(1000, "end", "in", 2)).await;
    assert_eq!(keeping_up.next_call("1").await["conversationId"], "1000");

    let metrics = app.metrics().await;
    assert!(
        metrics.contains("udesk_calls_subscribers_too_slow_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("udesk_calls_subscriptions 1"), "{metrics}");
    assert!(metrics.contains("udesk_calls_websockets 1"), "{metrics}");
}

#[tokio::test]
async fn an_open_websocket_holds_its_place_under_the_connection_cap_and_is_never_closed_to_make_room()
 {
    let app = TestApp::start_with(Settings {
        http_limits: HttpLimits {
            max_connections: 2,
            ..HttpLimits::default()
        },
        ..Settings::open_local()
    })
    .await;
    let mut first = Subscriber::connect(&app, None).await;
    let mut second = Subscriber::connect(&app, None).await;
    first.subscribe("1", Value::Null).await;
    first.sync().await;
    // Both places are taken by busy connections: a new one is answered 503
    // and closed at once, before its request is read.
    let mut refused = tokio::net::TcpStream::connect(app.address).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_string(&mut refused, &mut answer),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    second.sync().await;
    drop(second);
    // Once one closes, its place is given back.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let sent = app
            .client
            .post(app.url(crate::support::WEBHOOK))
            .json(&push(1101, "end", "in", 1))
            .send()
            .await;
        if sent.is_ok_and(|response| response.status() == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "the place was not given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(first.next_call("1").await["conversationId"], "1101");
}

#[tokio::test]
async fn on_shutdown_a_websocket_is_closed_with_1001_and_the_service_stops_in_time() {
    let app = TestApp::start().await;
    let mut subscriber = Subscriber::connect(&app, None).await;
    subscriber.subscribe("1", Value::Null).await;
    subscriber.sync().await;
    let stopping = Instant::now();
    let (_files, received) = tokio::join!(app.stop_keeping_files(), subscriber.receive());
    assert_eq!(closed(received).0, 1001);
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "took {:?}",
        stopping.elapsed()
    );
}
