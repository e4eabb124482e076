//! Subscriptions are bounded as answers are: each message within the
//! response limit, an error in its place beyond it, and a call of many
//! large pushes never brought whole into memory, however many subscribe:
//! a message holds at most 1 MiB.

use serde_json::{Value, json};
use udesk_calls::http::websocket::MAX_LIVE_MESSAGE_BYTES;

use crate::support::TestApp;
use crate::support::binary::status_kib;
use crate::support::subscriber::{Received, Subscriber, push};

/// What a subscription's message may hold: a call of 40 pushes of 500 KB
/// exceeds it twenty times over.
const LIMIT: usize = MAX_LIVE_MESSAGE_BYTES;
const BIG_PUSHES: i64 = 40;
const CALL: i64 = 7_700;

/// The peak resident memory of this process, in MiB.
fn peak_mib() -> u64 {
    status_kib("self", "VmHWM") / 1024
}

/// A push of `CALL` padded to about 500 KB, not to be compressed away.
fn big_push(second: u32) -> Value {
    let mut push = push(CALL, "ringing", "in", second);
    let padding: String = (0..500_000u32)
        .map(|i| char::from(b'a' + ((i.wrapping_mul(2_654_435_761) >> 27) % 26) as u8))
        .collect();
    push["padding"] = json!(padding);
    push
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_sockets_of_sixteen_subscriptions_to_a_call_of_20_mb_get_an_error_each_with_flat_memory()
 {
    let app = TestApp::start().await;
    for second in 0..BIG_PUSHES {
        app.push_json(&big_push(second as u32)).await;
    }
    let filter = json!({ "lastOccasions": ["ringing", "end"] });
    let mut sockets = Vec::new();
    for _ in 0..8 {
        let mut socket = Subscriber::connect(&app, None).await;
        for id in 0..16 {
            socket
                .subscribe_to(
                    &id.to_string(),
                    "conversationId events { payload body }",
                    filter.clone(),
                )
                .await;
        }
        socket.sync().await;
        sockets.push(socket);
    }
    let mut light = Subscriber::connect(&app, None).await;
    light
        .subscribe_to("light", "conversationId eventCount", filter.clone())
        .await;
    light.sync().await;
    let before = peak_mib();

    app.push_json(&push(CALL, "end", "in", 59)).await;
    for socket in &mut sockets {
        for _ in 0..16 {
            let Received::Message(message) = socket.receive().await else {
                panic!("the socket closed");
            };
            assert_eq!(message["type"], "next", "{message}");
            let text = message.to_string();
            assert!(text.len() <= LIMIT, "a message of {} bytes", text.len());
            assert_eq!(
                message["payload"]["errors"][0]["extensions"]["code"],
                "RESPONSE_TOO_LARGE",
                "{}",
                &text[..text.len().min(500)]
            );
        }
        // The subscriptions go on.
        socket.sync().await;
    }
    let update = light.next_call("light").await;
    assert_eq!(update["eventCount"], BIG_PUSHES + 1);
    let after = peak_mib();
    assert!(
        after < before + 256,
        "peak RSS grew from {before} to {after} MiB for 128 subscriptions"
    );
    eprintln!("128 subscriptions to a call of 20 MB: peak RSS {before} → {after} MiB");
}
