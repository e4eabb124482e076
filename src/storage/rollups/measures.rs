//! What the statistics add up, defined once as SQL over one `calls` row.
//!
//! Every figure of `callStats` is derived from these sums and maxima, and
//! each is computed the same way wherever it comes from: over calls (a
//! fallback or a rebuild), over one call (the writer's before/after of a
//! change), or over rollup rows (which hold them as columns of the same
//! name). A rollup table's columns are checked against this list by a test.

use std::sync::LazyLock;

use crate::domain::call_center::{
    ABANDONED_CALL_RESULTS, INBOUND_WORKFLOW, SERVICE_LEVEL_THRESHOLDS,
};

/// How a measure of several calls is made from the calls' own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Combine {
    Sum,
    Max,
}

/// One column of the rollups and its definition over a call.
#[derive(Clone, Debug)]
pub struct Measure {
    pub column: String,
    /// An expression over one `calls` row; NULL adds nothing.
    pub per_call: String,
    pub combine: Combine,
}

impl Measure {
    fn new(column: &str, per_call: &str, combine: Combine) -> Self {
        Measure {
            column: column.to_owned(),
            per_call: per_call.to_owned(),
            combine,
        }
    }

    /// The measure over the `calls` rows of a query.
    pub fn over_calls(&self) -> String {
        match self.combine {
            Combine::Sum => format!("coalesce(sum({}), 0)", self.per_call),
            Combine::Max => format!("max({})", self.per_call),
        }
    }

    /// The measure over the rows of a rollup table.
    pub fn over_rollups(&self) -> String {
        match self.combine {
            Combine::Sum => format!("coalesce(sum({}), 0)", self.column),
            Combine::Max => format!("max({})", self.column),
        }
    }

    /// The measure of the one call a query reads.
    pub fn of_one_call(&self) -> String {
        match self.combine {
            Combine::Sum => format!("coalesce({}, 0)", self.per_call),
            Combine::Max => self.per_call.clone(),
        }
    }
}

/// Positions of the base measures in [`BASE`].
pub mod at {
    pub const CALLS: usize = 0;
    pub const ANSWERED: usize = 1;
    pub const TALK_SECONDS: usize = 2;
    pub const TALK_REPORTED: usize = 3;
    pub const TALK_LONGEST: usize = 4;
    pub const QUEUE_SECONDS: usize = 5;
    pub const QUEUE_REPORTED: usize = 6;
    pub const RING_SECONDS: usize = 7;
    pub const RING_REPORTED: usize = 8;
    pub const INBOUND: usize = 9;
    pub const INBOUND_ANSWERED: usize = 10;
    pub const ANSWER_WAIT_SECONDS: usize = 11;
    pub const ABANDONED: usize = 12;
    pub const LONGEST_WAIT: usize = 13;
}

/// The wait of an inbound caller: queueing, then ringing; a time not
/// reported counts as 0.
const WAIT: &str = "(coalesce(queue_time, 0) + coalesce(ring_time, 0))";

fn inbound() -> String {
    format!("workflow = '{INBOUND_WORKFLOW}'")
}

/// The measures every statistic needs, in the order of [`at`].
pub static BASE: LazyLock<Vec<Measure>> = LazyLock::new(|| {
    let inbound = inbound();
    let abandoned_results = ABANDONED_CALL_RESULTS
        .iter()
        .map(|result| format!("'{result}'"))
        .collect::<Vec<_>>()
        .join(", ");
    use Combine::{Max, Sum};
    vec![
        Measure::new("calls", "1", Sum),
        Measure::new("answered", "total_time > 0", Sum),
        Measure::new("talk_seconds", "total_time", Sum),
        Measure::new("talk_reported", "total_time IS NOT NULL", Sum),
        Measure::new("talk_longest", "total_time", Max),
        Measure::new("queue_seconds", "queue_time", Sum),
        Measure::new("queue_reported", "queue_time IS NOT NULL", Sum),
        Measure::new("ring_seconds", "ring_time", Sum),
        Measure::new("ring_reported", "ring_time IS NOT NULL", Sum),
        Measure::new("inbound", &inbound, Sum),
        Measure::new(
            "inbound_answered",
            &format!("{inbound} AND total_time > 0"),
            Sum,
        ),
        Measure::new(
            "answer_wait_seconds",
            &format!("CASE WHEN {inbound} AND total_time > 0 THEN {WAIT} END"),
            Sum,
        ),
        Measure::new(
            "abandoned",
            &format!(
                "{inbound} AND coalesce(total_time, 0) = 0 AND call_result IN ({abandoned_results})"
            ),
            Sum,
        ),
        Measure::new(
            "longest_wait",
            &format!("CASE WHEN {inbound} THEN {WAIT} END"),
            Max,
        ),
    ]
});

/// Inbound calls answered within `threshold` seconds of waiting.
pub fn answered_within(threshold: u32) -> Measure {
    Measure {
        column: format!("answered_within_{threshold}s"),
        per_call: format!("{} AND total_time > 0 AND {WAIT} <= {threshold}", inbound()),
        combine: Combine::Sum,
    }
}

/// Every column a rollup table holds: [`BASE`], then the service level at
/// each threshold of [`SERVICE_LEVEL_THRESHOLDS`].
pub static KEPT: LazyLock<Vec<Measure>> = LazyLock::new(|| {
    BASE.iter()
        .cloned()
        .chain(SERVICE_LEVEL_THRESHOLDS.iter().map(|t| answered_within(*t)))
        .collect()
});
