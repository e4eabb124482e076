//! `callStats` rows, served as the store computes them, and the
//! service-level thresholds a query asks for (counted before the rows
//! are read).

use async_graphql::{Context, ID, Object, Value};

use super::error::ApiError;
use crate::storage::read::CallStatsRow;

/// The default of `serviceLevel(thresholdSeconds:)`: the classic "80/20".
pub const DEFAULT_THRESHOLD: u32 = 20;
/// Thresholds above a day mean nothing for a caller's wait.
const LONGEST_THRESHOLD: i32 = 86_400;
/// Each threshold is one more column to count.
const MOST_THRESHOLDS: usize = 12;

fn threshold(seconds: i32) -> Result<u32, ApiError> {
    u32::try_from(seconds)
        .ok()
        .filter(|_| seconds <= LONGEST_THRESHOLD)
        .ok_or_else(|| {
            ApiError::BadUserInput(format!(
                "thresholdSeconds must be between 0 and {LONGEST_THRESHOLD}"
            ))
        })
}

/// The rollup columns each figure of a row is derived from.
const FIGURES: &[(&str, &[&str])] = &[
    ("count", &["calls"]),
    ("answeredCount", &["answered"]),
    ("totalTime", &["talk_seconds"]),
    ("avgTotalTime", &["talk_seconds", "talk_reported"]),
    ("avgQueueTime", &["queue_seconds", "queue_reported"]),
    ("avgRingTime", &["ring_seconds", "ring_reported"]),
    ("maxTotalTime", &["talk_longest"]),
    ("answerRate", &["answered", "calls"]),
    ("inboundCount", &["inbound"]),
    ("abandonedCount", &["abandoned"]),
    ("abandonRate", &["abandoned", "inbound"]),
    ("serviceLevel", &["inbound"]),
    (
        "avgSpeedOfAnswer",
        &["answer_wait_seconds", "inbound_answered"],
    ),
    ("avgHandleTime", &["talk_seconds", "answered"]),
    ("longestWait", &["longest_wait"]),
];

/// The rollup columns the selected figures of `callStats` need, so the
/// store sums only those.
pub fn measures_asked(ctx: &Context<'_>, thresholds: &[u32]) -> Vec<String> {
    let selected = ctx.look_ahead();
    let mut columns: Vec<String> = FIGURES
        .iter()
        .filter(|(field, _)| selected.field(field).exists())
        .flat_map(|(_, columns)| columns.iter().map(|c| (*c).to_owned()))
        .collect();
    columns.extend(thresholds.iter().map(|t| format!("answered_within_{t}s")));
    columns.sort();
    columns.dedup();
    columns
}

/// The thresholds of every `serviceLevel` selected under `callStats`.
pub fn thresholds_asked(ctx: &Context<'_>) -> Result<Vec<u32>, ApiError> {
    let mut thresholds = Vec::new();
    for field in ctx.look_ahead().field("serviceLevel").selection_fields() {
        let arguments = field
            .arguments()
            .map_err(|error| ApiError::BadUserInput(error.message))?;
        let seconds = match arguments
            .iter()
            .find(|(name, _)| name == "thresholdSeconds")
        {
            Some((_, Value::Number(number))) => number
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .unwrap_or(-1),
            _ => DEFAULT_THRESHOLD as i32,
        };
        let seconds = threshold(seconds)?;
        if !thresholds.contains(&seconds) {
            thresholds.push(seconds);
        }
    }
    if thresholds.len() > MOST_THRESHOLDS {
        return Err(ApiError::BadUserInput(format!(
            "at most {MOST_THRESHOLDS} different thresholdSeconds in one callStats"
        )));
    }
    Ok(thresholds)
}

/// The figures of one group of calls. Keys not grouped by are null; a key
/// grouped by is null for the calls without that value.
#[Object]
impl CallStatsRow {
    /// The agent, when grouped by `AGENT`.
    async fn agent_id(&self) -> Option<ID> {
        self.agent_id.map(|id| ID(id.to_string()))
    }

    /// The workflow, when grouped by `WORKFLOW`.
    async fn workflow(&self) -> Option<&str> {
        self.workflow.as_deref()
    }

    /// The outcome, when grouped by `CALL_RESULT`.
    async fn call_result(&self) -> Option<&str> {
        self.call_result.as_deref()
    }

    /// The advanced-call type, when grouped by `CATEGORY`.
    async fn category(&self) -> Option<&str> {
        self.category.as_deref()
    }

    /// `YYYY-MM-DD` in the default UTC offset, when grouped by `DAY`.
    async fn day(&self) -> Option<&str> {
        self.day.as_deref()
    }

    /// How many calls.
    async fn count(&self) -> i64 {
        self.count
    }

    /// Calls with `totalTime` > 0.
    async fn answered_count(&self) -> i64 {
        self.answered_count
    }

    /// The sum of `totalTime`, in seconds.
    async fn total_time(&self) -> i64 {
        self.total_time
    }

    /// The mean `totalTime` of the calls that report one (zeros included).
    async fn avg_total_time(&self) -> Option<f64> {
        self.avg_total_time
    }

    /// Hour of day 0–23 in the default UTC offset, when grouped by `HOUR`.
    async fn hour(&self) -> Option<i64> {
        self.hour
    }

    /// The agent's group, when grouped by `AGENT_GROUP`.
    async fn agent_group_id(&self) -> Option<ID> {
        self.agent_group_id.map(|id| ID(id.to_string()))
    }

    /// The failure reason, when grouped by `DEFEAT_CAUSE`.
    async fn defeat_cause(&self) -> Option<&str> {
        self.defeat_cause.as_deref()
    }

    /// The mean `queueTime` of the calls that report one.
    async fn avg_queue_time(&self) -> Option<f64> {
        self.avg_queue_time
    }

    /// The mean `ringTime` of the calls that report one.
    async fn avg_ring_time(&self) -> Option<f64> {
        self.avg_ring_time
    }

    /// The longest `totalTime`.
    async fn max_total_time(&self) -> Option<i64> {
        self.max_total_time
    }

    /// `answeredCount / count`.
    async fn answer_rate(&self) -> Option<f64> {
        (self.count > 0).then(|| self.answered_count as f64 / self.count as f64)
    }

    /// Calls with workflow `in` (inbound).
    async fn inbound_count(&self) -> i64 {
        self.inbound_count
    }

    /// Inbound calls the caller gave up on before an agent took them: never
    /// answered (`totalTime` 0 or missing), with `callResult` `放弃排队`
    /// (gave up queueing), `客户速挂` or `客户挂机` (caller hung up). Not
    /// counted: `未选择队列` (hung up in the IVR, never queued), `排队超时`
    /// (the system ended the wait), `客服未接` / `客服拒接` (the agent's
    /// miss).
    async fn abandoned_count(&self) -> i64 {
        self.abandoned_count
    }

    /// `abandonedCount / inboundCount`; null without inbound calls.
    async fn abandon_rate(&self) -> Option<f64> {
        self.share_abandoned()
    }

    /// Of the group's inbound calls (workflow `in`), the share answered
    /// (`totalTime` > 0) after waiting at most `thresholdSeconds`, the wait
    /// being `queueTime + ringTime` (a missing value counts as 0); null when
    /// the group has no inbound call. Abandoned calls count against it.
    async fn service_level(
        &self,
        #[graphql(
            default = 20,
            desc = "The longest wait, in seconds, that still counts as served in time (0 to 86400)."
        )]
        threshold_seconds: i32,
    ) -> Result<Option<f64>, ApiError> {
        let seconds = threshold(threshold_seconds)?;
        if !self.answered_within.iter().any(|(t, _)| *t == seconds) {
            tracing::error!(
                seconds,
                "a service level was asked for a threshold not counted"
            );
            return Err(ApiError::Internal);
        }
        Ok(self.share_served_within(seconds))
    }

    /// The mean wait (`queueTime + ringTime`, a missing value counting as 0)
    /// of the group's answered inbound calls, in seconds; null when there are
    /// none.
    async fn avg_speed_of_answer(&self) -> Option<f64> {
        self.mean_speed_of_answer()
    }

    /// Average handle time: the mean `totalTime` of the answered calls
    /// (`totalTime` > 0), in seconds. Udesk pushes no hold or after-call
    /// work time, so handling is the talk; null when none was answered.
    async fn avg_handle_time(&self) -> Option<f64> {
        self.mean_handle_time()
    }

    /// The longest wait (`queueTime + ringTime`) of an inbound call of the
    /// group, answered or not, in seconds; null without inbound calls.
    async fn longest_wait(&self) -> Option<i64> {
        self.longest_wait
    }
}
