//! `callStats` rows, served as the store computes them.

use async_graphql::{ID, Object};

use crate::storage::read::CallStatsRow;

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
}
