//! Live updates: `subscription { callUpdated }` over a real WebSocket with
//! `graphql-transport-ws`, against the real app.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use udesk_calls::Settings;
use udesk_calls::config::HttpLimits;

use crate::support::TestApp;
use crate::support::subscriber::{Received, Subscriber, Upgrade};

const TOKEN: &str = "live-token-0123456789abcdef";

fn push(conversation_id: i64, occasion: &str, workflow: &str, second: u32) -> Value {
    json!({
        "conversation_id": conversation_id,
        "occasion": occasion,
        "timestamp": format!("2024-05-06 09:00:{second:02} +0800"),
        "agent_id": 1000 + conversation_id,
        "workflow": workflow,
        "call_result": if occasion == "end" { "客户接听" } else { "进行中" },
        "total_time": if occasion == "end" { json!(42) } else { Value::Null },
    })
}

fn with_tokens() -> Settings {
    Settings {
        api_tokens: vec![TOKEN.into()],
        ..Settings::open_local()
    }
}

fn closed(received: Received) -> (u16, String) {
    match received {
        Received::Closed(code, reason) => (code, reason),
        Received::Message(message) => panic!("expected the socket to close, got {message}"),
    }
}

#[tokio::test]
async fn a_stored_push_sends_its_call_as_committed_to_a_subscriber() {
    let app = TestApp::start().await;
    let mut subscriber = Subscriber::connect(&app, None).await;
    subscriber.subscribe("1", Value::Null).await;
    subscriber.sync().await;

    app.push_json(&push(501, "agent_incall", "in", 1)).await;
    let call = subscriber.next_call("1").await;
    assert_eq!(call["conversationId"], "501");
    assert_eq!(call["status"], "IN_PROGRESS");
    assert_eq!(call["eventCount"], 1);

    app.push_json(&push(501, "end", "in", 9)).await;
    let call = subscriber.next_call("1").await;
    assert_eq!(call["status"], "ENDED");
    assert_eq!(call["totalTime"], 42);
    assert_eq!(call["eventCount"], 2);
}

#[tokio::test]
async fn a_subscription_gets_only_the_calls_its_filter_matches() {
    let app = TestApp::start().await;
    let mut subscriber = Subscriber::connect(&app, None).await;
    subscriber
        .subscribe(
            "inbound-ended",
            json!({ "workflows": ["in"], "statuses": ["ENDED"] }),
        )
        .await;
    subscriber.subscribe("all", Value::Null).await;
    subscriber.sync().await;

    app.push_json(&push(601, "agent_incall", "in", 1)).await; // in, not ended
    app.push_json(&push(602, "end", "out_direct", 2)).await; // ended, outbound
    app.push_json(&push(601, "end", "in", 3)).await; // matches now

    let mut for_filter = Vec::new();
    let mut for_all = Vec::new();
    for _ in 0..4 {
        match subscriber.receive().await {
            Received::Message(message) if message["type"] == "next" => {
                let call = &message["payload"]["data"]["callUpdated"];
                let id = call["conversationId"].as_str().unwrap().to_owned();
                if message["id"] == "all" {
                    for_all.push(id);
                } else {
                    for_filter.push((id, call["status"].clone()));
                }
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(for_all, ["601", "602", "601"]);
    assert_eq!(for_filter, [("601".to_owned(), json!("ENDED"))]);
    subscriber.expect_quiet(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn each_stored_push_sends_one_update_and_a_duplicate_or_a_rejected_push_none() {
    let app = TestApp::start().await;
    let mut subscriber = Subscriber::connect(&app, None).await;
    subscriber.subscribe("1", Value::Null).await;
    subscriber.sync().await;

    let first = push(701, "agent_incall", "in", 1);
    app.push_json(&first).await;
    app.push_json(&first).await; // a redelivery: 200, not stored again
    let (status, _) = app.push("not json").await;
    assert_eq!(status, 400);
    app.push_json(&push(701, "end", "in", 2)).await;

    assert_eq!(subscriber.next_call("1").await["eventCount"], 1);
    assert_eq!(subscriber.next_call("1").await["eventCount"], 2);
    subscriber.expect_quiet(Duration::from_millis(500)).await;
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

#[tokio::test]
async fn queries_over_the_websocket_are_refused_and_an_invalid_subscription_gets_an_error() {
    let app = TestApp::start().await;
    let mut subscriber = Subscriber::connect(&app, None).await;
    subscriber
        .send(json!({ "type": "subscribe", "id": "q", "payload": { "query": "{ calls { totalCount } }" } }))
        .await;
    match subscriber.receive().await {
        Received::Message(refusal) => {
            assert_eq!(refusal["type"], "error", "{refusal}");
            assert_eq!(
                refusal["payload"][0]["extensions"]["code"],
                "BAD_USER_INPUT"
            );
        }
        other => panic!("{other:?}"),
    }
    subscriber
        .send(json!({ "type": "subscribe", "id": "s", "payload": { "query": "subscription { callUpdated { noSuchField } }" } }))
        .await;
    match subscriber.receive().await {
        Received::Message(refusal) => {
            assert_eq!(refusal["type"], "error", "{refusal}");
            assert_eq!(refusal["id"], "s");
        }
        other => panic!("{other:?}"),
    }
    subscriber.send(json!({ "type": "nonsense" })).await;
    assert_eq!(closed(subscriber.receive().await).0, 4400);
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

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("udesk_calls_subscribers_too_slow_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("udesk_calls_subscriptions 1"), "{metrics}");
    assert!(metrics.contains("udesk_calls_websockets 1"), "{metrics}");
}
