//! Live updates: `subscription { callUpdated }` over a real WebSocket with
//! `graphql-transport-ws`, against the real app: what is sent, when, and to
//! whom. The limits, auth and shutdown are in `live_limits`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::subscriber::{Received, Subscriber, Upgrade, closed, push};

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

    // Each push is awaited on the unfiltered subscription before the next,
    // so each update carries the call as that push left it.
    let mut for_filter = Vec::new();
    for (conversation_id, occasion, workflow) in [
        (601, "agent_incall", "in"), // inbound, not ended
        (602, "end", "out_direct"),  // ended, outbound
        (601, "end", "in"),          // matches now
    ] {
        app.push_json(&push(conversation_id, occasion, workflow, 1))
            .await;
        loop {
            match subscriber.receive().await {
                Received::Message(message) if message["type"] == "next" => {
                    let call = &message["payload"]["data"]["callUpdated"];
                    if message["id"] == "all" {
                        assert_eq!(call["conversationId"], conversation_id.to_string());
                        break;
                    }
                    for_filter.push((call["conversationId"].clone(), call["status"].clone()));
                }
                other => panic!("{other:?}"),
            }
        }
    }
    if for_filter.is_empty() {
        // The filtered update of the last push may come after the unfiltered one.
        match subscriber.receive().await {
            Received::Message(message) if message["id"] == "inbound-ended" => {
                let call = &message["payload"]["data"]["callUpdated"];
                for_filter.push((call["conversationId"].clone(), call["status"].clone()));
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(for_filter, [(json!("601"), json!("ENDED"))]);
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

#[tokio::test]
async fn the_protocol_is_kept_to_the_letter_at_its_edges() {
    let app = TestApp::start().await;

    // A subscription the client completes gets no `complete` back, and its
    // id may be used again at once.
    let mut subscriber = Subscriber::connect(&app, None).await;
    subscriber.subscribe("1", Value::Null).await;
    subscriber.sync().await;
    subscriber
        .send(json!({ "type": "complete", "id": "1" }))
        .await;
    subscriber.subscribe("1", Value::Null).await;
    subscriber.sync().await;
    app.push_json(&push(801, "end", "in", 3)).await;
    assert_eq!(subscriber.next_call("1").await["conversationId"], "801");
    subscriber.expect_quiet(Duration::from_millis(300)).await;

    // A second `connection_init` closes the socket with 4429.
    subscriber.init(None).await;
    assert_eq!(closed(subscriber.receive().await).0, 4429);

    // A binary message, 4400.
    let mut binary = Subscriber::connect(&app, None).await;
    binary.send_binary(b"{}").await;
    assert_eq!(closed(binary.receive().await).0, 4400);

    // A socket that never sends `connection_init` is closed with 4408
    // after ten seconds.
    let mut silent = Subscriber::open(&app, Upgrade::default()).await.unwrap();
    let received = silent.receive_within(Duration::from_secs(15)).await;
    assert_eq!(closed(received.expect("a close in time")).0, 4408);
}
