//! Checking forwarded pushes against the database (and asking the service
//! how far it is): every stored push
//! reached a receiver byte for byte, with its Content-Type, in arrival order
//! for its call, and signed as the Standard Webhooks specification says,
//! computed here on its own from the spec (not with the service's code).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::db::events_as_received;
use super::receiver::{Received, Receiver};

/// A push as the database holds it.
#[derive(Clone, Debug)]
pub struct StoredPush {
    pub conversation_id: i64,
    /// The `webhook-id` it must be sent with: `msg_` and half its SHA-256.
    pub id: String,
    pub body: Vec<u8>,
    pub content_type: Option<String>,
}

/// Every stored push, in arrival order.
pub fn stored_pushes(db: &Path) -> Vec<StoredPush> {
    events_as_received(db)
        .into_iter()
        .map(|event| StoredPush {
            conversation_id: event.conversation_id,
            id: message_id(&event.body),
            body: event.body,
            content_type: event.content_type,
        })
        .collect()
}

pub fn message_id(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("msg_{hex}")
}

/// `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` under `key`.
pub fn expected_signature(key: &[u8], received: &Received) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{}.{}.", received.id, received.timestamp).as_bytes());
    mac.update(&received.body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// What one receiver got, against what was stored.
#[derive(Debug, Default)]
pub struct Delivery {
    pub stored: usize,
    /// Distinct stored pushes received.
    pub delivered: usize,
    /// Requests beyond the first of a push.
    pub duplicates: usize,
    /// Stored pushes never received.
    pub lost: usize,
}

/// Compares what `received` holds with `stored`; panics on a body, a
/// Content-Type or an order that is not the stored one, or a message that
/// was never stored.
pub fn check(stored: &[StoredPush], received: &[Received], what: &str) -> Delivery {
    let by_id: HashMap<&str, &StoredPush> = stored.iter().map(|p| (p.id.as_str(), p)).collect();
    let mut per_call: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    for message in received {
        let push = by_id
            .get(message.id.as_str())
            .unwrap_or_else(|| panic!("{what}: {} was never stored", message.id));
        assert_eq!(
            message.body, push.body,
            "{what}: {} is not byte-identical",
            message.id
        );
        assert_eq!(
            message.content_type, push.content_type,
            "{what}: {} lost its Content-Type",
            message.id
        );
        let seen = per_call.entry(push.conversation_id).or_default();
        // A push sent again right away (its answer was lost) is a duplicate,
        // not a change of order.
        if seen.last() != Some(&message.id.as_str()) {
            seen.push(&message.id);
        }
    }
    let mut expected: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    for push in stored {
        expected
            .entry(push.conversation_id)
            .or_default()
            .push(&push.id);
    }
    let mut delivery = Delivery {
        stored: stored.len(),
        ..Delivery::default()
    };
    for (call, ids) in &expected {
        let seen = per_call.get(call).cloned().unwrap_or_default();
        assert!(
            ids.starts_with(&seen),
            "{what}: call {call} arrived as {seen:?}, stored as {ids:?}"
        );
        delivery.delivered += seen.len();
        delivery.lost += ids.len() - seen.len();
    }
    delivery.duplicates = received.len() - delivery.delivered;
    delivery
}

/// Waits until `receiver` holds every push stored in `db`.
pub async fn wait_for_all(db: &Path, receiver: &Receiver, limit: Duration) -> Delivery {
    let stored = stored_pushes(db);
    let started = Instant::now();
    loop {
        let delivery = check(&stored, &receiver.received(), "the receiver");
        if delivery.lost == 0 {
            return delivery;
        }
        assert!(
            started.elapsed() < limit,
            "{} of {} pushes not forwarded within {limit:?}",
            delivery.lost,
            delivery.stored
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `data` of a GraphQL query to the service at `address`.
pub async fn graphql(address: &str, query: &str) -> Value {
    let answer = reqwest::Client::new()
        .post(format!("{address}/graphql"))
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    answer.json::<Value>().await.unwrap()["data"].clone()
}
