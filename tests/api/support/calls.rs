//! Generated calls: `CallSpec`s, varied calls whose expectations tests
//! compute in Rust, and `synthetic_call`, the raw pushes of one simple call.

use chrono::{DateTime, Duration, FixedOffset, TimeZone};
use serde_json::{Value, json};

pub use udesk_calls::wire::time::beijing;

/// A call to push, with the fields the tests filter and group on.
#[derive(Clone, Debug)]
pub struct CallSpec {
    pub conversation_id: i64,
    pub call_id: String,
    pub agent_id: i64,
    pub agent_email: String,
    pub user_group_id: i64,
    pub workflow: &'static str,
    pub call_result: &'static str,
    pub category: &'static str,
    pub started_at: DateTime<FixedOffset>,
    pub total_time: Option<i64>,
    pub queue_time: Option<i64>,
    pub ring_time: Option<i64>,
    pub defeat_cause: Option<&'static str>,
    pub survey: &'static str,
    pub customer_phone: String,
    pub record_url: Option<String>,
    pub tickets: Vec<String>,
    /// Whether the `end` push is sent (else only `hangup`).
    pub ended: bool,
}

impl CallSpec {
    /// The pushes of this call: an `agent_incall`, then `end` or `hangup`.
    pub fn pushes(&self) -> Vec<Value> {
        let start = udesk_time(self.started_at);
        let finish =
            udesk_time(self.started_at + Duration::seconds(self.total_time.unwrap_or(0) + 5));
        let first = json!({
            "conversation_id": self.conversation_id,
            "call_id": self.call_id,
            "occasion": "agent_incall",
            "timestamp": start,
            "agent_id": self.agent_id,
            "workflow": self.workflow,
        });
        let last = json!({
            "conversation_id": self.conversation_id,
            "call_id": self.call_id,
            "occasion": if self.ended { "end" } else { "hangup" },
            "timestamp": finish,
            "call_start_at": start,
            "agent_id": self.agent_id,
            "agent_email": self.agent_email,
            "agent_nick_name": format!("agent {}", self.agent_id),
            "user_group_id": self.user_group_id,
            "user_group_name": format!("group {}", self.user_group_id),
            "workflow": self.workflow,
            "call_result": self.call_result,
            "category": self.category,
            "total_time": self.total_time,
            "queue_time": self.queue_time,
            "ring_time": self.ring_time,
            "defeat_cause": self.defeat_cause,
            "survey": self.survey,
            "customer_phone": self.customer_phone,
            "record_url": self.record_url,
            "ticket_numbers": self.tickets,
        });
        vec![first, last]
    }

    pub fn answered(&self) -> bool {
        self.total_time.unwrap_or(0) > 0
    }

    pub fn talk_key(&self) -> i64 {
        self.total_time.unwrap_or(0)
    }
}

/// Udesk's `2022-03-03 14:27:10 +0800` form, with the offset it is given in.
pub fn udesk_time(time: DateTime<FixedOffset>) -> String {
    time.format("%Y-%m-%d %H:%M:%S %z").to_string()
}

/// A small deterministic generator, so data sets are varied yet repeatable.
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Lcg {
        Lcg(seed)
    }

    pub fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

pub const WORKFLOWS: [&str; 4] = ["in", "out_callback", "out_direct", "out_auto"];
pub const RESULTS: [&str; 4] = ["客户接听", "客户未接", "坐席未接", "留言"];
pub const CATEGORIES: [&str; 3] = ["normal", "transfer", "consult"];
pub const SURVEYS: [&str; 3] = ["未评价", "满意", "不满意"];
pub const CAUSES: [&str; 3] = ["关机", "空号", "无人接听"];

/// `count` calls over five days from 2024-05-01 (Beijing), five agents in
/// two groups, all the listed values, some without talk time, recording or
/// tickets, some not ended; several share a `call_id`.
pub fn generate_calls(count: usize, seed: u64) -> Vec<CallSpec> {
    let mut random = Lcg::new(seed);
    let origin = beijing().with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    (0..count)
        .map(|index| {
            let agent_id = 100 + random.next(5) as i64;
            let talk = random.next(10);
            let total_time = match talk {
                0 => None,
                1 | 2 => Some(0),
                n => Some((n as i64) * 37 + random.next(30) as i64),
            };
            let offset_seconds = random.next(5 * 24 * 3600) as i64;
            CallSpec {
                conversation_id: 5_000_000_000 + index as i64 * 7,
                call_id: format!("series-{}", index / 3),
                agent_id,
                agent_email: format!("agent{agent_id}@example.com"),
                user_group_id: 10 + agent_id % 2,
                workflow: WORKFLOWS[random.next(4) as usize],
                call_result: RESULTS[random.next(4) as usize],
                category: CATEGORIES[random.next(3) as usize],
                started_at: origin + Duration::seconds(offset_seconds),
                total_time,
                queue_time: (random.next(4) > 0).then(|| random.next(60) as i64),
                ring_time: (random.next(4) > 0).then(|| random.next(30) as i64),
                defeat_cause: (random.next(3) == 0).then(|| CAUSES[random.next(3) as usize]),
                survey: SURVEYS[random.next(3) as usize],
                customer_phone: format!("1380000{:04}", random.next(20)),
                record_url: (random.next(2) == 0)
                    .then(|| format!("http://records.example/{index}.wav")),
                tickets: (0..random.next(3))
                    .map(|t| format!("#{index}-{t}"))
                    .collect(),
                ended: random.next(6) > 0,
            }
        })
        .collect()
}

/// The ids in a `nodes { conversationId }` list.
pub fn ids_of(nodes: &Value) -> Vec<i64> {
    nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["conversationId"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// A synthetic call of `pushes` pushes (the last is `end`), as JSON bodies.
pub fn synthetic_call(conversation_id: i64, pushes: usize) -> Vec<String> {
    let occasions = ["enqueue_succ", "agent_incall", "hangup"];
    (0..pushes)
        .map(|i| {
            let last = i + 1 == pushes;
            let occasion = if last { "end" } else { occasions[i % occasions.len()] };
            serde_json::json!({
                "conversation_id": conversation_id,
                "call_id": format!("series-{}", conversation_id / 3),
                "occasion": occasion,
                "timestamp": format!("2024-05-06 09:{:02}:{:02} +0800", i / 60, i % 60),
                "agent_id": 1000 + conversation_id % 17,
                "workflow": if conversation_id % 2 == 0 { "in" } else { "out_callback" },
                "call_result": if last { "客服接听" } else { "进行中" },
                "total_time": if last { serde_json::json!(conversation_id % 300) } else { Value::Null },
                "ticket_numbers": if last { serde_json::json!([format!("#{conversation_id}")]) } else { serde_json::json!([]) },
                "customer_phone": format!("0{:010}", conversation_id),
            })
            .to_string()
        })
        .collect()
}
