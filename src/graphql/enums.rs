//! The API's enums. The domain and the store have their own (`CallStatus`,
//! `CallOrder`, `CallDimension`), free of GraphQL; these mirror them with
//! async-graphql's `remote`, which writes the conversions both ways, and
//! hold the schema's names and descriptions. A value added below shows up
//! as a compile error here until it is served.

use async_graphql::Enum;

/// Whether Udesk has reported the end of a call yet.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "CallStatus", remote = "crate::domain::CallStatus")]
pub enum ApiCallStatus {
    /// No `end` push is stored yet.
    InProgress,
    /// The `end` push is stored; its values are final.
    Ended,
}

/// How calls are listed. Ties are broken by `conversationId`, in the same direction.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "CallOrder", remote = "crate::storage::read::CallOrder")]
pub enum ApiCallOrder {
    /// Latest start first.
    StartedAtDesc,
    /// Earliest start first.
    StartedAtAsc,
    /// Longest talk first; a call without a talk time counts as 0 seconds.
    TalkTimeDesc,
    /// Shortest talk first; a call without a talk time counts as 0 seconds.
    TalkTimeAsc,
}

/// What `callStats` can group by. Several may be combined.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[graphql(name = "CallDimension", remote = "crate::storage::read::CallDimension")]
pub enum ApiCallDimension {
    /// By `agentId`.
    Agent,
    /// By `workflow`.
    Workflow,
    /// By `callResult`.
    CallResult,
    /// By `category`.
    Category,
    /// By day of `startedAt`, in the service's default UTC offset.
    Day,
    /// By hour of day (0–23) of `startedAt`, in the service's default UTC offset.
    Hour,
    /// By the agent's group (`userGroupId`).
    AgentGroup,
    /// By outbound failure reason (`defeatCause`).
    DefeatCause,
}
