//! Agents, Udesk's code lists, and the rejected pushes operators inspect.

use async_graphql::{ID, Object, SimpleObject};
use chrono::{DateTime, FixedOffset};

use crate::storage::read::{Agent, CodeLabel, DefeatCause, RejectedPush};

use super::connection::{PageInfo, decode_cursor, encode_cursor};
use super::error::ApiError;

/// A code of Udesk's lists with its labels.
#[Object]
impl CodeLabel {
    /// The code as pushed, e.g. `out_direct`.
    async fn code(&self) -> &str {
        &self.code
    }

    /// Udesk's Chinese label.
    async fn name_zh(&self) -> &str {
        &self.name_zh
    }

    /// An English label.
    async fn name_en(&self) -> &str {
        &self.name_en
    }
}

/// An agent seen in the calls, with the details of their latest call.
#[Object]
impl Agent {
    /// The agent's id.
    async fn agent_id(&self) -> ID {
        ID(self.agent_id.to_string())
    }

    /// The login e-mail on the agent's latest call.
    async fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }

    /// The display name on the agent's latest call.
    async fn nick_name(&self) -> Option<&str> {
        self.nick_name.as_deref()
    }

    /// The group id on the agent's latest call.
    async fn group_id(&self) -> Option<ID> {
        self.group_id.map(|id| ID(id.to_string()))
    }

    /// The group name on the agent's latest call.
    async fn group_name(&self) -> Option<&str> {
        self.group_name.as_deref()
    }

    /// How many calls the agent handled.
    async fn call_count(&self) -> i64 {
        self.call_count
    }

    /// The start of the agent's latest call.
    async fn last_call_at(&self) -> Option<DateTime<FixedOffset>> {
        self.last_call_at
    }
}

/// A reason an outbound call failed (Udesk's list).
#[Object]
impl DefeatCause {
    /// Udesk's number of the reason.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// The reason as pushed in `defeatCause`, e.g. `关机`.
    async fn name(&self) -> &str {
        &self.name
    }

    /// Udesk's English alias, e.g. `power off`.
    async fn alias(&self) -> &str {
        &self.alias
    }

    /// Udesk's description (Chinese).
    async fn description(&self) -> &str {
        &self.description
    }

    /// An English description.
    async fn description_en(&self) -> &str {
        &self.description_en
    }
}

/// A body the webhook refused (`400` or `422`), kept for inspection and replay.
#[Object]
impl RejectedPush {
    /// The rejected push's number.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// When it arrived.
    async fn received_at(&self) -> DateTime<FixedOffset> {
        self.received_at
    }

    /// The status it was answered with.
    async fn http_status(&self) -> i64 {
        self.http_status
    }

    /// What was wrong with it.
    async fn error(&self) -> &str {
        &self.error
    }

    /// The Content-Type it was sent with.
    async fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The body as text; bytes that are not UTF-8 show as U+FFFD.
    async fn body(&self) -> &str {
        &self.body
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
    pub page_info: PageInfo,
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
