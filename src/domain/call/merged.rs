//! The merge, one push at a time.
//!
//! Folding a call's pushes in the order (is end, timestamp, arrival) and
//! letting each carried value overwrite is the rule; doing it again for
//! every arrival costs the whole history of the call, so a call of 10,000
//! pushes took 5× longer per push than a new one. Instead each value keeps
//! the order key of the push it came from, and a push arriving later, in
//! any order, overwrites exactly the values whose push sorts before it: the
//! same winners as the fold, in time independent of the call's history.
//! What is not a field (status, started, counts, first and last times) is
//! kept as running minima, maxima and sums.

use chrono::{DateTime, FixedOffset};

use super::{Call, CallStatus, StoredPush};
use crate::domain::fields::FieldValue;
use crate::domain::table::{CollectionKind, Collections, SCALAR_FIELDS, Scalars};

/// Where a push sorts in the fold: `end` pushes last, then by event time
/// (pushes without a timestamp first), then by arrival.
type FoldKey = (bool, i64, i64);

/// A push's event time for ordering; ties broken by arrival.
fn event_time_key(stored: &StoredPush) -> (i64, i64) {
    let millis = stored
        .push
        .timestamp
        .map_or(i64::MIN, |time| time.timestamp_millis());
    (millis, stored.event_id)
}

/// A call merged from the pushes seen so far, and what each value came from.
#[derive(Clone, Debug)]
pub struct MergedCall {
    call: Call,
    collections: Collections,
    scalar_keys: Vec<Option<FoldKey>>,
    collection_keys: Vec<Option<FoldKey>>,
    /// The event time key of the latest push with an occasion.
    latest_occasion: Option<(i64, i64)>,
    earliest_timestamp: Option<DateTime<FixedOffset>>,
    earliest_ring: Option<DateTime<FixedOffset>>,
}

impl MergedCall {
    /// The call of one push.
    pub fn new(first: &StoredPush) -> MergedCall {
        let mut merged = MergedCall {
            call: Call {
                conversation_id: first.push.conversation_id,
                status: CallStatus::InProgress,
                last_occasion: String::new(),
                started_at: first.received_at,
                first_received_at: first.received_at,
                last_received_at: first.received_at,
                last_event_at: None,
                event_count: 0,
                warning_count: 0,
                scalars: Scalars::default(),
            },
            collections: Collections::default(),
            scalar_keys: vec![None; SCALAR_FIELDS.len()],
            collection_keys: vec![None; CollectionKind::ALL.len()],
            latest_occasion: None,
            earliest_timestamp: None,
            earliest_ring: None,
        };
        merged.merge(first);
        merged
    }

    /// Merges one more push of the call, in time independent of how many
    /// came before it.
    pub fn merge(&mut self, stored: &StoredPush) {
        let push = &stored.push;
        let time_key = event_time_key(stored);
        let key = (push.is_end(), time_key.0, time_key.1);
        self.call
            .scalars
            .overlay_if_later(&push.scalars, &mut self.scalar_keys, key);
        self.collections
            .overlay_if_later(&push.collections, &mut self.collection_keys, key);

        let call = &mut self.call;
        if push.is_end() {
            call.status = CallStatus::Ended;
        }
        if let Some(occasion) = &push.occasion
            && self.latest_occasion.is_none_or(|latest| latest < time_key)
        {
            self.latest_occasion = Some(time_key);
            call.last_occasion.clone_from(occasion);
        }
        if let Some(timestamp) = push.timestamp {
            self.earliest_timestamp = Some(earlier(self.earliest_timestamp, timestamp));
            call.last_event_at = Some(call.last_event_at.map_or(timestamp, |t| t.max(timestamp)));
        }
        // Over every push, not the merged values: a sequential ring rings
        // again later, and the call started at the first ring.
        for ring in [push.scalars.customer_ring_at, push.scalars.agent_ring_at]
            .into_iter()
            .flatten()
        {
            self.earliest_ring = Some(earlier(self.earliest_ring, ring));
        }
        call.first_received_at = call.first_received_at.min(stored.received_at);
        call.last_received_at = call.last_received_at.max(stored.received_at);
        call.event_count += 1;
        call.warning_count += push.warnings.len() as i64;
        // When no push carries any time, the first arrival is the best
        // estimate, and a call with a start is what filters and daily
        // statistics need.
        call.started_at = call
            .scalars
            .call_start_at
            .or(self.earliest_ring)
            .or(self.earliest_timestamp)
            .unwrap_or(call.first_received_at);
    }

    pub fn call(&self) -> &Call {
        &self.call
    }

    pub fn collections(&self) -> &Collections {
        &self.collections
    }

    /// About the memory the merged values hold: what a cache of merged
    /// calls weighs them by. Unlike the pushes' bytes, it does not grow with
    /// every push of the call.
    pub fn approximate_bytes(&self) -> usize {
        let value_bytes = |value: &Option<FieldValue>| match value {
            Some(FieldValue::Text(text)) => text.len() + 24,
            _ => 24,
        };
        let scalars: usize = self.call.scalars.values().iter().map(value_bytes).sum();
        let collections: usize = CollectionKind::ALL
            .iter()
            .filter_map(|kind| self.collections.rows(*kind))
            .flatten()
            .map(|row| row.iter().map(value_bytes).sum::<usize>())
            .sum();
        size_of::<MergedCall>() + self.call.last_occasion.len() + scalars + collections
    }

    pub fn into_parts(self) -> (Call, Collections) {
        (self.call, self.collections)
    }
}

fn earlier(
    held: Option<DateTime<FixedOffset>>,
    time: DateTime<FixedOffset>,
) -> DateTime<FixedOffset> {
    held.map_or(time, |held| held.min(time))
}
