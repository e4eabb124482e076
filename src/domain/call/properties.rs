//! Property tests of the merge rule: random calls, random arrival orders
//! and redeliveries, checked against the contract's rule written out
//! plainly (a model) and against each other.
//!
//! Redeliveries are modelled as the store treats them: a byte-identical
//! body is counted, not stored, so only a push's first arrival becomes an
//! event (with the next event id); its later copies change nothing.

use chrono::{DateTime, Duration, FixedOffset, TimeZone};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;
use crate::wire::time::beijing;

const OCCASIONS: &[&str] = &["enqueue_succ", "agent_incall", "hangup", "end", "end_info"];
const SURVEYS: &[&str] = &["满意", "不满意", "未评价", ""];
const TICKETS: &[&[&str]] = &[&["#1"], &["#1", "#2"], &[]];

/// One distinct push of the call, as generated.
#[derive(Clone, Debug)]
struct PushSpec {
    occasion: Option<usize>,
    /// Seconds after the call's origin; `None`: the push has no timestamp.
    at: Option<i64>,
    survey: Option<usize>,
    total_time: Option<i64>,
    ring_at: Option<i64>,
    tickets: Option<usize>,
}

fn origin() -> DateTime<FixedOffset> {
    beijing().with_ymd_and_hms(2024, 5, 6, 10, 0, 0).unwrap()
}

fn udesk_time(seconds: i64) -> String {
    (origin() + Duration::seconds(seconds))
        .format("%Y-%m-%d %H:%M:%S %z")
        .to_string()
}

impl PushSpec {
    /// The push's body; `index` makes every distinct push distinct in bytes.
    fn body(&self, index: usize) -> Map<String, Value> {
        let mut body = json!({ "conversation_id": 9, "x_push": index });
        let object = body.as_object_mut().unwrap();
        if let Some(occasion) = self.occasion {
            object.insert("occasion".into(), OCCASIONS[occasion].into());
        }
        if let Some(at) = self.at {
            object.insert("timestamp".into(), udesk_time(at).into());
        }
        if let Some(survey) = self.survey {
            object.insert("survey".into(), SURVEYS[survey].into());
        }
        if let Some(total_time) = self.total_time {
            object.insert("total_time".into(), total_time.into());
        }
        if let Some(ring_at) = self.ring_at {
            object.insert("customer_ring_at".into(), udesk_time(ring_at).into());
        }
        if let Some(tickets) = self.tickets {
            object.insert("ticket_numbers".into(), json!(TICKETS[tickets]));
        }
        body.as_object().unwrap().clone()
    }

    fn is_end(&self) -> bool {
        self.occasion
            .is_some_and(|occasion| OCCASIONS[occasion] == "end")
    }
}

fn push_spec(distinct_times: bool, index: usize) -> impl Strategy<Value = PushSpec> {
    (
        proptest::option::weighted(0.9, 0..OCCASIONS.len()),
        0..200i64,
        any::<bool>(),
        proptest::option::of(0..SURVEYS.len()),
        proptest::option::of(0..300i64),
        proptest::option::of(0..200i64),
        proptest::option::of(0..TICKETS.len()),
    )
        .prop_map(
            move |(occasion, at, timed, survey, total_time, ring_at, tickets)| PushSpec {
                occasion,
                // Distinct times: a multiple of 16 plus the push's index.
                at: if distinct_times {
                    Some(at * 16 + index as i64)
                } else {
                    timed.then_some(at / 20)
                },
                survey,
                total_time,
                ring_at,
                tickets,
            },
        )
}

fn pushes(distinct_times: bool) -> impl Strategy<Value = Vec<PushSpec>> {
    (1..8usize).prop_flat_map(move |count| {
        (0..count)
            .map(|index| push_spec(distinct_times, index))
            .collect::<Vec<_>>()
    })
}

/// An arrival order: every push at least once, some again, shuffled.
fn arrivals(count: usize) -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0..count, 0..2 * count).prop_flat_map(move |again| {
        let all: Vec<usize> = (0..count).chain(again).collect();
        Just(all).prop_shuffle()
    })
}

/// What the store holds after these arrivals: each body's first arrival,
/// numbered as events are; the copies after it are only counted.
fn stored(specs: &[PushSpec], arrivals: &[usize]) -> Vec<StoredPush> {
    let mut seen = std::collections::HashSet::new();
    let mut events = Vec::new();
    for (arrival, &index) in arrivals.iter().enumerate() {
        if !seen.insert(index) {
            continue;
        }
        events.push(StoredPush {
            event_id: events.len() as i64 + 1,
            received_at: origin() + Duration::hours(1) + Duration::seconds(arrival as i64),
            push: Push::from_object(&specs[index].body(index), beijing()).unwrap(),
        });
    }
    events
}

/// A call without what depends on when pushes happened to arrive.
fn arrival_free(mut merged: (Call, Collections)) -> (Call, Collections) {
    merged.0.first_received_at = origin();
    merged.0.last_received_at = origin();
    merged
}

/// The contract's rule for one field, written out: the value of the push
/// carrying one that sorts last by (is end, event time, arrival).
fn rule<T: Clone>(
    events: &[StoredPush],
    specs: &[(usize, &PushSpec)],
    value: impl Fn(&PushSpec) -> Option<T>,
) -> Option<T> {
    events
        .iter()
        .zip(specs)
        .filter_map(|(event, (_, spec))| {
            let key = (spec.is_end(), spec.at.unwrap_or(i64::MIN), event.event_id);
            value(spec).map(|value| (key, value))
        })
        .max_by_key(|(key, _)| *key)
        .map(|(_, value)| value)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_arrival_order_with_any_redeliveries_gives_the_same_call(
        (specs, first, second) in pushes(true).prop_flat_map(|specs| {
            let count = specs.len();
            (Just(specs), arrivals(count), arrivals(count))
        })
    ) {
        let one = project(&stored(&specs, &first)).unwrap();
        let other = project(&stored(&specs, &second)).unwrap();
        prop_assert_eq!(arrival_free(one.clone()), arrival_free(other));
        prop_assert_eq!(one.0.event_count as usize, specs.len());
    }

    #[test]
    fn the_merged_call_follows_the_rule_of_the_contract_with_ties_and_untimed_pushes(
        (specs, order) in pushes(false).prop_flat_map(|specs| {
            let count = specs.len();
            (Just(specs), arrivals(count))
        })
    ) {
        let events = stored(&specs, &order);
        // The specs in event order, with their index.
        let mut firsts = Vec::new();
        for &index in &order {
            if !firsts.iter().any(|(seen, _)| *seen == index) {
                firsts.push((index, &specs[index]));
            }
        }
        let (call, collections) = project(&events).unwrap();
        let survey = rule(&events, &firsts, |spec| {
            spec.survey.map(|s| SURVEYS[s]).filter(|s| !s.is_empty()).map(str::to_owned)
        });
        prop_assert_eq!(call.scalars.survey, survey);
        prop_assert_eq!(call.scalars.total_time, rule(&events, &firsts, |spec| spec.total_time));
        let tickets = rule(&events, &firsts, |spec| {
            spec.tickets.map(|t| TICKETS[t]).filter(|t| !t.is_empty())
                .map(|t| t.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        });
        prop_assert_eq!(collections.ticket_numbers, tickets);
        let ended = specs.iter().any(PushSpec::is_end);
        prop_assert_eq!(call.status == CallStatus::Ended, ended);
        let last_occasion = events
            .iter()
            .zip(&firsts)
            .filter_map(|(event, (_, spec))| {
                spec.occasion.map(|o| ((spec.at.unwrap_or(i64::MIN), event.event_id), o))
            })
            .max_by_key(|(key, _)| *key)
            .map_or("", |(_, occasion)| OCCASIONS[occasion]);
        prop_assert_eq!(call.last_occasion.as_str(), last_occasion);
        let earliest = |of: fn(&PushSpec) -> Option<i64>| specs.iter().filter_map(of).min();
        let started = earliest(|spec| spec.ring_at)
            .or(earliest(|spec| spec.at))
            .map_or(events[0].received_at, |seconds| origin() + Duration::seconds(seconds));
        prop_assert_eq!(call.started_at, started);
        prop_assert_eq!(call.event_count as usize, specs.len());
    }

    #[test]
    fn a_retry_arriving_after_end_changes_nothing_that_end_carries(
        (specs, order, retries) in pushes(false).prop_flat_map(|specs| {
            let count = specs.len();
            (Just(specs), arrivals(count), proptest::collection::vec(push_spec(false, 0), 1..4))
        })
    ) {
        let mut specs = specs;
        specs[0].occasion = Some(OCCASIONS.iter().position(|o| *o == "end").unwrap());
        // Udesk sends one `end`: the others become hang-ups.
        for spec in &mut specs[1..] {
            if spec.is_end() {
                spec.occasion = Some(2);
            }
        }
        let before = project(&stored(&specs, &order)).unwrap();
        let mut later = order.clone();
        for mut retry in retries {
            if retry.is_end() {
                retry.occasion = Some(0);
            }
            later.push(specs.len());
            specs.push(retry);
        }
        let (call, collections) = project(&stored(&specs, &later)).unwrap();
        prop_assert_eq!(call.status, CallStatus::Ended);
        let end = &specs[0];
        if end.survey.is_some_and(|s| !SURVEYS[s].is_empty()) {
            prop_assert_eq!(&call.scalars.survey, &before.0.scalars.survey);
        }
        if end.total_time.is_some() {
            prop_assert_eq!(call.scalars.total_time, before.0.scalars.total_time);
        }
        if end.tickets.is_some_and(|t| !TICKETS[t].is_empty()) {
            prop_assert_eq!(&collections.ticket_numbers, &before.1.ticket_numbers);
        }
    }
}
