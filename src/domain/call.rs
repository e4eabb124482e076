//! The merge: many pushes of one `conversation_id` become one call.
//!
//! The projection is a pure function of the call's stored pushes, so the
//! live path, `reprocess` and every arrival order give the same call. The
//! rule (service contract, "How pushes become calls"): a field takes its
//! value from the latest push, by `timestamp` then arrival, that carries one;
//! but once an `end` push is stored, every value `end` carries wins. Folding
//! the pushes in the order (is end, timestamp, arrival) and letting each
//! carried value overwrite gives exactly that. Collections count as one field
//! each. [`MergedCall`] does that fold one push at a time, whatever the
//! arrival order.

use chrono::{DateTime, FixedOffset};

use super::ids::ConversationId;
use super::push::Push;
use super::table::{Collections, Scalars};

mod merged;

pub use merged::MergedCall;

/// A push as stored: its arrival order and time, and its content.
#[derive(Clone, Debug)]
pub struct StoredPush {
    /// The event's row id: increases with arrival.
    pub event_id: i64,
    pub received_at: DateTime<FixedOffset>,
    pub push: Push,
}

/// Whether Udesk has reported the end of a call yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallStatus {
    /// No `end` push is stored yet.
    InProgress,
    /// The `end` push is stored; its values are final.
    Ended,
}

impl CallStatus {
    /// The value kept in `calls.status`, as GraphQL spells it too.
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::InProgress => "IN_PROGRESS",
            CallStatus::Ended => "ENDED",
        }
    }

    pub fn parse(text: &str) -> Option<CallStatus> {
        match text {
            "IN_PROGRESS" => Some(CallStatus::InProgress),
            "ENDED" => Some(CallStatus::Ended),
            _ => None,
        }
    }
}

/// A call as merged from its pushes: one row of `calls`. Its collections
/// are merged beside it ([`project`]) and stored in tables of their own.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub conversation_id: ConversationId,
    pub status: CallStatus,
    /// The occasion of the latest push by event time; empty when none had one.
    pub last_occasion: String,
    /// `call_start_at`, else the earliest ring time of any push, else the
    /// earliest push timestamp, else the first arrival.
    pub started_at: DateTime<FixedOffset>,
    pub first_received_at: DateTime<FixedOffset>,
    pub last_received_at: DateTime<FixedOffset>,
    pub last_event_at: Option<DateTime<FixedOffset>>,
    pub event_count: i64,
    pub warning_count: i64,
    pub scalars: Scalars,
}

impl Call {
    /// `started_at` as Unix milliseconds, for sorting and ranges.
    pub fn started_at_ms(&self) -> i64 {
        self.started_at.timestamp_millis()
    }
}

/// Merges the stored pushes of one call into the call and its collections;
/// `None` when there are none. Any order of `pushes` gives the same call.
pub fn project(pushes: &[StoredPush]) -> Option<(Call, Collections)> {
    let (first, rest) = pushes.split_first()?;
    let mut merged = MergedCall::new(first);
    for stored in rest {
        merged.merge(stored);
    }
    Some(merged.into_parts())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::time::beijing;
    use serde_json::json;

    fn stored(event_id: i64, body: serde_json::Value) -> StoredPush {
        let object = body.as_object().unwrap();
        StoredPush {
            event_id,
            received_at: DateTime::from_timestamp(1_700_000_000 + event_id, 0)
                .unwrap()
                .with_timezone(&beijing()),
            push: Push::from_object(object, beijing()).unwrap(),
        }
    }

    fn merged(pushes: &[StoredPush]) -> Call {
        project(pushes).unwrap().0
    }

    fn inbound_call() -> Vec<StoredPush> {
        vec![
            stored(
                1,
                json!({"conversation_id": 9, "occasion": "enqueue_succ",
                "timestamp": "2024-01-01 10:00:00 +0800", "survey": "x", "call_result": "排队中"}),
            ),
            stored(
                2,
                json!({"conversation_id": 9, "occasion": "agent_incall",
                "timestamp": "2024-01-01 10:00:05 +0800", "agent_email": "a@x", "ticket_numbers": ["#1"]}),
            ),
            stored(
                3,
                json!({"conversation_id": 9, "occasion": "hangup",
                "timestamp": "2024-01-01 10:01:00 +0800", "call_result": "客户挂机"}),
            ),
            stored(
                4,
                json!({"conversation_id": 9, "occasion": "end",
                "timestamp": "2024-01-01 10:01:01 +0800", "call_result": "客服接听", "total_time": 55}),
            ),
        ]
    }

    #[test]
    fn any_arrival_order_gives_the_in_order_projection() {
        let in_order = project(&inbound_call()).unwrap();
        let mut reversed = inbound_call();
        reversed.reverse();
        for (arrival, push) in reversed.iter_mut().enumerate() {
            push.event_id = arrival as i64 + 1;
        }
        let mut out_of_order = project(&reversed).unwrap();
        out_of_order.0.first_received_at = in_order.0.first_received_at;
        out_of_order.0.last_received_at = in_order.0.last_received_at;
        assert_eq!(out_of_order, in_order);
        let in_order = in_order.0;
        assert_eq!(in_order.status, CallStatus::Ended);
        assert_eq!(in_order.last_occasion, "end");
        assert_eq!(in_order.scalars.call_result.as_deref(), Some("客服接听"));
        assert_eq!(in_order.scalars.agent_email.as_deref(), Some("a@x"));
    }

    #[test]
    fn a_late_retry_with_a_later_timestamp_never_overrides_end() {
        let mut pushes = inbound_call();
        pushes.push(stored(
            5,
            json!({"conversation_id": 9, "occasion": "hangup",
            "timestamp": "2024-01-01 11:00:00 +0800", "call_result": "stale", "survey": "late"}),
        ));
        let call = merged(&pushes);
        assert_eq!(call.scalars.call_result.as_deref(), Some("客服接听"));
        // end carries no survey, so the latest push that does supplies it.
        assert_eq!(call.scalars.survey.as_deref(), Some("late"));
    }

    #[test]
    fn before_end_the_latest_timestamp_wins_and_ties_go_to_the_later_arrival() {
        let call = merged(&[
            stored(
                1,
                json!({"conversation_id": 9, "timestamp": "2024-01-01 10:00:09 +0800", "survey": "new"}),
            ),
            stored(
                2,
                json!({"conversation_id": 9, "timestamp": "2024-01-01 10:00:01 +0800", "survey": "old"}),
            ),
            stored(
                3,
                json!({"conversation_id": 9, "timestamp": "2024-01-01 10:00:09 +0800", "drop_side": "a"}),
            ),
            stored(
                4,
                json!({"conversation_id": 9, "timestamp": "2024-01-01 10:00:09 +0800", "drop_side": "b"}),
            ),
        ]);
        assert_eq!(call.status, CallStatus::InProgress);
        assert_eq!(call.scalars.survey.as_deref(), Some("new"));
        assert_eq!(call.scalars.drop_side.as_deref(), Some("b"));
    }

    #[test]
    fn started_at_is_the_first_ring_of_a_sequential_ring_not_the_latest() {
        let call = merged(&[
            stored(
                1,
                json!({"conversation_id": 9, "timestamp": "2024-01-01 10:00:10 +0800",
                "agent_ring_at": "2024-01-01 10:00:00"}),
            ),
            stored(
                2,
                json!({"conversation_id": 9, "timestamp": "2024-01-01 10:00:30 +0800",
                "agent_ring_at": "2024-01-01 10:00:20"}),
            ),
        ]);
        assert_eq!(call.started_at.to_rfc3339(), "2024-01-01T10:00:00+08:00");
    }

    #[test]
    fn a_call_without_any_time_started_when_its_first_push_arrived() {
        let call = merged(&[
            stored(3, json!({"conversation_id": 9})),
            stored(4, json!({"conversation_id": 9})),
        ]);
        assert_eq!(call.started_at, call.first_received_at);
        assert_eq!(
            call.started_at_ms(),
            call.first_received_at.timestamp_millis()
        );
    }

    #[test]
    fn started_at_falls_back_from_call_start_to_ring_to_timestamp() {
        let with_ring = merged(&[stored(
            1,
            json!({"conversation_id": 9,
            "timestamp": "2024-01-01 10:00:09 +0800",
            "agent_ring_at": "2024-01-01 10:00:03", "customer_ring_at": "2024-01-01 10:00:02"}),
        )]);
        assert_eq!(
            with_ring.started_at.to_rfc3339(),
            "2024-01-01T10:00:02+08:00"
        );
        let bare = merged(&[stored(
            1,
            json!({"conversation_id": 9,
            "timestamp": "2024-01-01 10:00:09 +0800"}),
        )]);
        assert_eq!(bare.started_at.to_rfc3339(), "2024-01-01T10:00:09+08:00");
        assert_eq!(bare.last_occasion, "");
    }
}

#[cfg(test)]
mod properties;
