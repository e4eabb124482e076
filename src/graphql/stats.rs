//! `callStats`: counts and talk-time figures grouped by dimensions.

use async_graphql::{Enum, ID, SimpleObject};

use crate::storage::read::{Dimension, StatsRecord};

/// What `callStats` can group by. Several may be combined.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallDimension {
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

impl CallDimension {
    pub fn to_store(self) -> Dimension {
        match self {
            CallDimension::Agent => Dimension::Agent,
            CallDimension::Workflow => Dimension::Workflow,
            CallDimension::CallResult => Dimension::CallResult,
            CallDimension::Category => Dimension::Category,
            CallDimension::Day => Dimension::Day,
            CallDimension::Hour => Dimension::Hour,
            CallDimension::AgentGroup => Dimension::AgentGroup,
            CallDimension::DefeatCause => Dimension::DefeatCause,
        }
    }
}

/// The figures of one group of calls. Keys not grouped by are null; a key
/// grouped by is null for the calls without that value.
#[derive(SimpleObject, Clone, Debug)]
pub struct CallStatsRow {
    /// The agent, when grouped by `AGENT`.
    pub agent_id: Option<ID>,
    /// The workflow, when grouped by `WORKFLOW`.
    pub workflow: Option<String>,
    /// The outcome, when grouped by `CALL_RESULT`.
    pub call_result: Option<String>,
    /// The advanced-call type, when grouped by `CATEGORY`.
    pub category: Option<String>,
    /// `YYYY-MM-DD` in the default UTC offset, when grouped by `DAY`.
    pub day: Option<String>,
    /// How many calls.
    pub count: i64,
    /// Calls with `totalTime` > 0.
    pub answered_count: i64,
    /// The sum of `totalTime`, in seconds.
    pub total_time: i64,
    /// The mean `totalTime` of the calls that report one (zeros included).
    pub avg_total_time: Option<f64>,
    /// Hour of day 0–23 in the default UTC offset, when grouped by `HOUR`.
    pub hour: Option<i64>,
    /// The agent's group, when grouped by `AGENT_GROUP`.
    pub agent_group_id: Option<ID>,
    /// The failure reason, when grouped by `DEFEAT_CAUSE`.
    pub defeat_cause: Option<String>,
    /// The mean `queueTime` of the calls that report one.
    pub avg_queue_time: Option<f64>,
    /// The mean `ringTime` of the calls that report one.
    pub avg_ring_time: Option<f64>,
    /// The longest `totalTime`.
    pub max_total_time: Option<i64>,
    /// `answeredCount / count`.
    pub answer_rate: f64,
}

impl From<StatsRecord> for CallStatsRow {
    fn from(record: StatsRecord) -> Self {
        let id = |value: Option<i64>| value.map(|v| ID(v.to_string()));
        CallStatsRow {
            agent_id: id(record.agent_id),
            workflow: record.workflow,
            call_result: record.call_result,
            category: record.category,
            day: record.day,
            count: record.count,
            answered_count: record.answered_count,
            total_time: record.total_time,
            avg_total_time: record.avg_total_time,
            hour: record.hour,
            agent_group_id: id(record.agent_group_id),
            defeat_cause: record.defeat_cause,
            avg_queue_time: record.avg_queue_time,
            avg_ring_time: record.avg_ring_time,
            max_total_time: record.max_total_time,
            answer_rate: if record.count == 0 {
                0.0
            } else {
                record.answered_count as f64 / record.count as f64
            },
        }
    }
}
