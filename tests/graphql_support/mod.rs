//! Shared by the GraphQL tests: a real server on 127.0.0.1 with its own
//! database, pushes sent to its webhook, queries sent to `/graphql`, and a
//! generator of varied calls whose expectations tests compute in Rust.

#![allow(dead_code)] // each test file uses its own part of this module

#[path = "../common/server.rs"]
mod server;

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{DateTime, Duration, FixedOffset, TimeZone};
use serde_json::{Value, json};
use server::start_server;
use tokio::sync::oneshot;
use udesk_calls::{Settings, Store};

pub fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap()
}

/// A running service; stops when dropped.
pub struct TestApp {
    pub address: SocketAddr,
    /// The served store, shared with the server (to count its reads).
    pub store: Arc<Store>,
    pub client: reqwest::Client,
    pub token: Option<String>,
    _stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub async fn start() -> TestApp {
        TestApp::start_with(Settings::open_local()).await
    }

    pub async fn start_with(settings: Settings) -> TestApp {
        let token = settings.api_tokens.first().cloned();
        let server = start_server(settings).await;
        TestApp {
            address: server.address,
            store: server.store,
            client: reqwest::Client::new(),
            token,
            _stop: server.stop,
            _dir: server.dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Sends one push to the webhook; it must be accepted.
    pub async fn push(&self, body: &Value) {
        let response = self
            .client
            .post(self.url("/webhooks/udesk/calls"))
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "push refused: {}",
            response.text().await.unwrap()
        );
    }

    /// Sends raw bytes to the webhook and returns the status.
    pub async fn push_raw(&self, body: &str, content_type: &str) -> u16 {
        self.client
            .post(self.url("/webhooks/udesk/calls"))
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    pub async fn push_calls(&self, calls: &[CallSpec]) {
        for call in calls {
            for push in call.pushes() {
                self.push(&push).await;
            }
        }
    }

    /// POSTs a query and returns the whole response body.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        response.json().await.unwrap()
    }

    /// POSTs a query that must succeed; returns `data`.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let response = self.graphql(query, variables).await;
        assert!(response.get("errors").is_none(), "errors: {response:#}");
        response["data"].clone()
    }

    /// POSTs a query that must fail; returns the first error's code.
    pub async fn error_code(&self, query: &str, variables: Value) -> String {
        let response = self.graphql(query, variables).await;
        let errors = response["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("no errors: {response:#}"));
        errors[0]["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

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
