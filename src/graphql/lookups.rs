//! Agents, Udesk's code lists, and the rejected pushes operators inspect.

use async_graphql::{ID, SimpleObject};
use chrono::{DateTime, FixedOffset};

use crate::storage::read::lookups::{
    AgentRecord, CodeLabel as CodeRecord, DefeatCauseRecord, RejectedRecord,
};

use super::connection::{decode_cursor, encode_cursor};
use super::error::ApiError;

/// An agent seen in the calls, with the details of their latest call.
#[derive(SimpleObject, Clone, Debug)]
pub struct Agent {
    /// The agent's id.
    pub agent_id: ID,
    /// The login e-mail on the agent's latest call.
    pub email: Option<String>,
    /// The display name on the agent's latest call.
    pub nick_name: Option<String>,
    /// The group id on the agent's latest call.
    pub group_id: Option<ID>,
    /// The group name on the agent's latest call.
    pub group_name: Option<String>,
    /// How many calls the agent handled.
    pub call_count: i64,
    /// The start of the agent's latest call.
    pub last_call_at: Option<DateTime<FixedOffset>>,
}

impl From<AgentRecord> for Agent {
    fn from(agent: AgentRecord) -> Self {
        Agent {
            agent_id: ID(agent.agent_id.to_string()),
            email: agent.email,
            nick_name: agent.nick_name,
            group_id: agent.group_id.map(|id| ID(id.to_string())),
            group_name: agent.group_name,
            call_count: agent.call_count,
            last_call_at: agent.last_call_at,
        }
    }
}

/// A code of Udesk's lists with its labels.
#[derive(SimpleObject, Clone, Debug)]
pub struct CodeLabel {
    /// The code as pushed, e.g. `out_direct`.
    pub code: String,
    /// Udesk's Chinese label.
    pub name_zh: String,
    /// An English label.
    pub name_en: String,
}

impl From<CodeRecord> for CodeLabel {
    fn from(code: CodeRecord) -> Self {
        CodeLabel {
            code: code.code,
            name_zh: code.name_zh,
            name_en: code.name_en,
        }
    }
}

/// A reason an outbound call failed (Udesk's list).
#[derive(SimpleObject, Clone, Debug)]
pub struct DefeatCause {
    /// Udesk's number of the reason.
    pub id: ID,
    /// The reason as pushed in `defeatCause`, e.g. `关机`.
    pub name: String,
    /// Udesk's English alias, e.g. `power off`.
    pub alias: String,
    /// Udesk's description (Chinese).
    pub description: String,
    /// An English description.
    pub description_en: String,
}

impl From<DefeatCauseRecord> for DefeatCause {
    fn from(cause: DefeatCauseRecord) -> Self {
        DefeatCause {
            id: ID(cause.id.to_string()),
            name: cause.name,
            alias: cause.alias,
            description: cause.description,
            description_en: cause.description_en,
        }
    }
}

/// A body the webhook refused (`400` or `422`), kept for inspection and replay.
#[derive(SimpleObject, Clone, Debug)]
pub struct RejectedPush {
    /// The rejected push's number.
    pub id: ID,
    /// When it arrived.
    pub received_at: DateTime<FixedOffset>,
    /// The status it was answered with.
    pub http_status: i64,
    /// What was wrong with it.
    pub error: String,
    /// The Content-Type it was sent with.
    pub content_type: Option<String>,
    /// The body as text; bytes that are not UTF-8 show as U+FFFD.
    pub body: String,
}

impl From<RejectedRecord> for RejectedPush {
    fn from(push: RejectedRecord) -> Self {
        RejectedPush {
            id: ID(push.id.to_string()),
            received_at: push.received_at,
            http_status: push.http_status,
            error: push.error,
            content_type: push.content_type,
            body: push.body,
        }
    }
}

/// A rejected push and its cursor.
#[derive(SimpleObject, Clone, Debug)]
pub struct RejectedPushEdge {
    /// Pass as `after` to continue after this push.
    pub cursor: String,
    /// The rejected push.
    pub node: RejectedPush,
}

/// A page of rejected pushes, newest first.
#[derive(SimpleObject, Clone, Debug)]
pub struct RejectedPushConnection {
    /// How many rejected pushes are kept.
    pub total_count: i64,
    /// Where this page sits.
    pub page_info: super::connection::PageInfo,
    /// The pushes with their cursors.
    pub edges: Vec<RejectedPushEdge>,
    /// The pushes.
    pub nodes: Vec<RejectedPush>,
}

pub fn rejected_cursor(id: i64) -> String {
    encode_cursor(&format!("rejected:{id}"))
}

pub fn read_rejected_cursor(cursor: &str) -> Result<i64, ApiError> {
    decode_cursor("after", cursor)?
        .strip_prefix("rejected:")
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| {
            ApiError::bad_input(format!(
                "after: {cursor:?} is not a cursor of rejectedPushes"
            ))
        })
}
