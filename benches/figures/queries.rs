//! The dashboard's queries, each written twice: as the GraphQL a dashboard
//! sends to udesk-calls, and as the SQL a Datasette user would write for the
//! same answer (a plain `GROUP BY` over `calls`, no tricks), both varied by
//! the sample number so the caches see different agents, days and calls.

use serde_json::{Value, json};

use crate::pushes::{AGENTS, FIRST_ID, mix, origin};

const AGENT_DAY: &str = "query($agent: ID!, $from: DateTime!, $to: DateTime!) {
  calls(filter: { agentIds: [$agent], startedAt: { from: $from, to: $to } }, first: 50) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { conversationId startedAt agentNickName customerPhone workflow callResult totalTime recordUrl } } }";

const STATS: &str = "query($from: DateTime!, $to: DateTime!, $by: [CallDimension!]) {
  callStats(filter: { startedAt: { from: $from, to: $to } }, groupBy: $by) {
    agentId agentGroupId workflow callResult day hour
    count answeredCount totalTime avgTotalTime avgQueueTime avgRingTime maxTotalTime answerRate } }";

const LOOKUP: &str = "query($id: ID!) { call(conversationId: $id) {
  conversationId status startedAt agentId agentEmail workflow callResult totalTime recordUrl
  events { occasion timestamp payload } ticketNumbers customFields { id value } } }";

const MEASURES: &str = "count(*) AS count, sum(total_time > 0) AS answered_count, \
    sum(total_time) AS total_time, avg(total_time) AS avg_total_time, \
    avg(queue_time) AS avg_queue_time, avg(ring_time) AS avg_ring_time, \
    max(total_time) AS max_total_time";

#[derive(Clone, Copy)]
pub enum Kind {
    AgentDay,
    /// GraphQL's dimension, the SQL key, and the days covered.
    Stats(&'static str, &'static str, u64),
    Lookup,
}

pub struct Query {
    pub name: &'static str,
    pub kind: Kind,
}

/// Days and hours in the service's default offset (+08:00), as GraphQL
/// groups them.
const DAY: &str = "date(started_at_ms / 1000 + 28800, 'unixepoch')";
const HOUR: &str = "CAST(strftime('%H', started_at_ms / 1000 + 28800, 'unixepoch') AS INTEGER)";

pub fn all() -> Vec<Query> {
    let stats = |name, dimension, key, days| Query {
        name,
        kind: Kind::Stats(dimension, key, days),
    };
    vec![
        Query {
            name: "one agent's day (50 rows + totalCount)",
            kind: Kind::AgentDay,
        },
        stats("callStats 30 d by AGENT", "AGENT", "agent_id", 30),
        stats(
            "callStats 30 d by CALL_RESULT",
            "CALL_RESULT",
            "call_result",
            30,
        ),
        stats("callStats 30 d by DAY", "DAY", DAY, 30),
        stats("callStats 30 d by WORKFLOW", "WORKFLOW", "workflow", 30),
        stats(
            "callStats 30 d by AGENT_GROUP",
            "AGENT_GROUP",
            "user_group_id",
            30,
        ),
        stats("callStats 30 d by HOUR", "HOUR", HOUR, 30),
        stats("callStats 90 d by DAY", "DAY", DAY, 90),
        Query {
            name: "call(conversationId) with events",
            kind: Kind::Lookup,
        },
    ]
}

fn day(d: u64) -> chrono::DateTime<chrono::FixedOffset> {
    origin() + chrono::Duration::days(d as i64)
}

/// The window of sample `i`: `days` long, starting on a varying day within
/// the 90 (always the whole 90 for a 90-day window).
fn window(i: u64, days: u64) -> (u64, u64) {
    let first = if days >= 90 {
        0
    } else {
        mix(i, 30) % (90 - days)
    };
    (first, first + days)
}

/// A year's statistics by day and by agent: on the long form's 10M calls,
/// the whole database.
pub fn year() -> Vec<Query> {
    vec![
        Query {
            name: "callStats a year by DAY",
            kind: Kind::Stats("DAY", DAY, 365),
        },
        Query {
            name: "callStats a year by AGENT",
            kind: Kind::Stats("AGENT", "agent_id", 365),
        },
    ]
}

impl Query {
    /// The GraphQL request body of sample `i` on a database of `calls`.
    pub fn graphql(&self, i: u64, calls: u64) -> Vec<u8> {
        let (query, variables) = match self.kind {
            Kind::AgentDay => {
                let d = mix(i, 21) % 90;
                (
                    AGENT_DAY,
                    json!({ "agent": (10_000 + mix(i, 20) % AGENTS).to_string(),
                    "from": day(d).to_rfc3339(), "to": day(d + 1).to_rfc3339() }),
                )
            }
            Kind::Stats(dimension, _, days) => {
                let (from, to) = window(i, days);
                (
                    STATS,
                    json!({ "from": day(from).to_rfc3339(), "to": day(to).to_rfc3339(), "by": [dimension] }),
                )
            }
            Kind::Lookup => (
                LOOKUP,
                json!({ "id": (FIRST_ID + mix(i, 40) % calls).to_string() }),
            ),
        };
        serde_json::to_vec(&json!({ "query": query, "variables": variables })).unwrap()
    }

    /// The Datasette SQL API path (`/db.json?sql=…&_shape=array`) of sample `i`.
    pub fn datasette(&self, db: &str, i: u64, calls: u64) -> String {
        let ms = |d: u64| day(d).timestamp_millis();
        let (sql, params): (String, Vec<(&str, String)>) = match self.kind {
            Kind::AgentDay => {
                let d = mix(i, 21) % 90;
                (
                    "SELECT conversation_id, started_at, agent_nick_name, customer_phone, workflow, \
                     call_result, total_time, record_url, count(*) OVER () AS total_count \
                     FROM calls WHERE agent_id = :agent AND started_at_ms >= :from AND started_at_ms < :to \
                     ORDER BY started_at_ms DESC, conversation_id DESC LIMIT 50"
                        .into(),
                    vec![
                        ("agent", (10_000 + mix(i, 20) % AGENTS).to_string()),
                        ("from", ms(d).to_string()),
                        ("to", ms(d + 1).to_string()),
                    ],
                )
            }
            Kind::Stats(_, key, days) => {
                let (from, to) = window(i, days);
                (
                    format!(
                        "SELECT {key} AS grp, {MEASURES} FROM calls \
                         WHERE started_at_ms >= :from AND started_at_ms < :to GROUP BY grp ORDER BY grp"
                    ),
                    vec![("from", ms(from).to_string()), ("to", ms(to).to_string())],
                )
            }
            Kind::Lookup => (
                "SELECT c.*, (SELECT json_group_array(json_object('occasion', e.occasion, \
                 'timestamp', e.event_at, 'payload', CASE WHEN e.body_dictionary IS NULL THEN json(e.body) ELSE hex(e.body) END)) FROM events e \
                 WHERE e.conversation_id = c.conversation_id) AS events, \
                 (SELECT json_group_array(ticket_number) FROM tickets t \
                 WHERE t.conversation_id = c.conversation_id) AS tickets, \
                 (SELECT json_group_array(json_object('id', f.field_id, 'value', f.value)) \
                 FROM custom_fields f WHERE f.conversation_id = c.conversation_id) AS custom_fields \
                 FROM calls c WHERE c.conversation_id = :id"
                    .into(),
                vec![("id", (FIRST_ID + mix(i, 40) % calls).to_string())],
            ),
        };
        let mut query = vec![("sql", sql), ("_shape", "array".to_string())];
        query.extend(params);
        format!("/{db}.json?{}", serde_urlencoded::to_string(query).unwrap())
    }
}

/// Whether a GraphQL answer is a success (no `errors` member).
pub fn graphql_ok(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body).is_ok_and(|v| v.get("errors").is_none())
}
