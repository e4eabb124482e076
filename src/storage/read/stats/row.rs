//! One group's figures, derived from its sums and maxima.

use super::CallDimension;
use crate::domain::UdeskId;
use crate::storage::rollups::Key;
use crate::storage::rollups::figures::Figures;
use crate::storage::rollups::measures::{BASE, at};

/// One group's figures; keys not grouped by are `None`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallStatsRow {
    pub agent_id: Option<UdeskId>,
    pub agent_group_id: Option<UdeskId>,
    pub workflow: Option<String>,
    pub call_result: Option<String>,
    pub category: Option<String>,
    pub defeat_cause: Option<String>,
    pub day: Option<String>,
    pub hour: Option<i64>,
    pub count: i64,
    /// Calls with a talk time above 0.
    pub answered_count: i64,
    /// Sum of talk times; 0 when none is known.
    pub total_time: i64,
    /// Means over the calls that report the value; `None` when none does.
    pub avg_total_time: Option<f64>,
    pub avg_queue_time: Option<f64>,
    pub avg_ring_time: Option<f64>,
    pub max_total_time: Option<i64>,
    /// Calls with workflow `in`.
    pub inbound_count: i64,
    /// Inbound calls with a talk time above 0.
    pub inbound_answered_count: i64,
    /// Inbound calls the caller gave up on (`domain::call_center`).
    pub abandoned_count: i64,
    /// Sum of the waits (queue + ring) of the answered inbound calls.
    pub answer_wait_seconds: i64,
    /// The longest wait of an inbound call.
    pub longest_wait: Option<i64>,
    /// Per threshold asked for: answered inbound calls that waited at most
    /// that many seconds.
    pub answered_within: Vec<(u32, i64)>,
}

fn mean(sum: i64, count: i64) -> Option<f64> {
    (count > 0).then(|| sum as f64 / count as f64)
}

impl CallStatsRow {
    /// The row of a group: `keys` in the order of `dimensions`, `figures`
    /// in the order of the base measures then one per threshold.
    pub(super) fn new(
        dimensions: &[CallDimension],
        keys: &[Key],
        figures: &Figures,
        thresholds: &[u32],
    ) -> Self {
        let mut row = CallStatsRow::default();
        for (dimension, key) in dimensions.iter().zip(keys) {
            match dimension {
                CallDimension::Agent => row.agent_id = key.as_int().map(UdeskId),
                CallDimension::AgentGroup => row.agent_group_id = key.as_int().map(UdeskId),
                CallDimension::Workflow => row.workflow = key.as_text(),
                CallDimension::CallResult => row.call_result = key.as_text(),
                CallDimension::Category => row.category = key.as_text(),
                CallDimension::DefeatCause => row.defeat_cause = key.as_text(),
                CallDimension::Day => row.day = key.as_text(),
                CallDimension::Hour => row.hour = key.as_int(),
            }
        }
        let sum = |index| figures.sum(index);
        row.count = sum(at::CALLS);
        row.answered_count = sum(at::ANSWERED);
        row.total_time = sum(at::TALK_SECONDS);
        row.avg_total_time = mean(sum(at::TALK_SECONDS), sum(at::TALK_REPORTED));
        row.avg_queue_time = mean(sum(at::QUEUE_SECONDS), sum(at::QUEUE_REPORTED));
        row.avg_ring_time = mean(sum(at::RING_SECONDS), sum(at::RING_REPORTED));
        row.max_total_time = figures.get(at::TALK_LONGEST);
        row.inbound_count = sum(at::INBOUND);
        row.inbound_answered_count = sum(at::INBOUND_ANSWERED);
        row.abandoned_count = sum(at::ABANDONED);
        row.answer_wait_seconds = sum(at::ANSWER_WAIT_SECONDS);
        row.longest_wait = figures.get(at::LONGEST_WAIT);
        row.answered_within = thresholds
            .iter()
            .enumerate()
            .map(|(i, t)| (*t, sum(BASE.len() + i)))
            .collect();
        row
    }

    /// Of the inbound calls, the share answered within `threshold` seconds;
    /// `None` without inbound calls, or when the threshold was not counted.
    pub fn share_served_within(&self, threshold: u32) -> Option<f64> {
        let (_, within) = self.answered_within.iter().find(|(t, _)| *t == threshold)?;
        mean(*within, self.inbound_count)
    }

    /// The mean wait of the answered inbound calls.
    pub fn mean_speed_of_answer(&self) -> Option<f64> {
        mean(self.answer_wait_seconds, self.inbound_answered_count)
    }

    /// The mean talk time of the answered calls.
    pub fn mean_handle_time(&self) -> Option<f64> {
        mean(self.total_time, self.answered_count)
    }

    /// Abandoned calls per inbound call.
    pub fn share_abandoned(&self) -> Option<f64> {
        mean(self.abandoned_count, self.inbound_count)
    }
}
