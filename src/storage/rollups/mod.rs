//! Rollups: the statistics of calls kept per hour and per day, so a month's
//! `callStats` reads a few thousand rows instead of every call.
//!
//! Five families of tables, each at an hour and a day grain (hours and
//! days of the service's default UTC offset, the one `callStats` groups
//! by): totals alone; by workflow and call result; by workflow, category
//! and failure reason; by agent (with the agent's group); by all four
//! outcome columns. Their rows hold the
//! sums and maxima of [`measures`], from which every figure is derived.
//!
//! - [`changes`]: the writer reads a call's contribution before and after
//!   writing it, and moves it between cells in the same transaction, so a
//!   `200` means the rollups include the push.
//! - [`plan`]: which tables answer a query, cut into day, hour and
//!   leftover (from `calls`) segments.
//! - [`rebuild`]: recounting every cell from `calls` (after `reprocess`,
//!   or when the default offset changed).

mod cells;
pub mod changes;
pub mod figures;
pub mod key;
pub mod measures;
pub mod plan;
pub mod rebuild;

pub use changes::RollupChanges;
pub use key::Key;

/// The time grain of a rollup table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Grain {
    /// `hour`: `YYYY-MM-DD HH:00`, local to the offset.
    Hour,
    /// `day`: `YYYY-MM-DD`, local to the offset.
    Day,
}

impl Grain {
    pub fn column(self) -> &'static str {
        match self {
            Grain::Hour => "hour",
            Grain::Day => "day",
        }
    }

    /// The column's value for a call, as SQL over `calls` with the offset in
    /// seconds; the same text as the `day` of `callStats`.
    pub fn of_calls(self, offset_seconds: i32) -> String {
        let local = local_seconds(offset_seconds);
        match self {
            Grain::Hour => format!("strftime('%Y-%m-%d %H:00', {local}, 'unixepoch')"),
            Grain::Day => format!("date({local}, 'unixepoch')"),
        }
    }

    pub fn millis(self) -> i64 {
        match self {
            Grain::Hour => 3_600_000,
            Grain::Day => 86_400_000,
        }
    }
}

/// A call's start as local Unix seconds, for SQLite's date functions.
/// Real, not integer, division: integer division rounds a time before 1970
/// towards zero, into the next second and so perhaps the next hour, where
/// the ranges (which round down) would not look for it.
pub fn local_seconds(offset_seconds: i32) -> String {
    format!("(started_at_ms / 1000.0 + {offset_seconds})")
}

/// Which dimensions a family of tables keeps besides time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Totals,
    ByResult,
    ByCategory,
    ByAgent,
    ByOutcome,
}

impl Family {
    /// Smallest first: a query takes the first family that holds what it
    /// needs. The narrow families exist because reading rows costs: a month
    /// of `rollup_outcome_day` is ~26,000 rows of the 1M-call benchmark
    /// (45 ms to group), a month of `rollup_result_day` ~1,500 (3 ms).
    pub const ALL: [Family; 5] = [
        Family::Totals,
        Family::ByResult,
        Family::ByCategory,
        Family::ByAgent,
        Family::ByOutcome,
    ];

    /// The `calls` columns kept as keys.
    pub fn dimensions(self) -> &'static [&'static str] {
        match self {
            Family::Totals => &[],
            Family::ByResult => &["workflow", "call_result"],
            Family::ByCategory => &["workflow", "category", "defeat_cause"],
            Family::ByAgent => &["agent_id", "user_group_id"],
            Family::ByOutcome => &["workflow", "call_result", "category", "defeat_cause"],
        }
    }

    pub fn table(self, grain: Grain) -> &'static str {
        match (self, grain) {
            (Family::Totals, Grain::Hour) => "rollup_hour",
            (Family::Totals, Grain::Day) => "rollup_day",
            (Family::ByResult, Grain::Hour) => "rollup_result_hour",
            (Family::ByResult, Grain::Day) => "rollup_result_day",
            (Family::ByCategory, Grain::Hour) => "rollup_category_hour",
            (Family::ByCategory, Grain::Day) => "rollup_category_day",
            (Family::ByAgent, Grain::Hour) => "rollup_agent_hour",
            (Family::ByAgent, Grain::Day) => "rollup_agent_day",
            (Family::ByOutcome, Grain::Hour) => "rollup_outcome_hour",
            (Family::ByOutcome, Grain::Day) => "rollup_outcome_day",
        }
    }
}

/// Every rollup table: its family and grain.
pub fn tables() -> impl Iterator<Item = (Family, Grain)> {
    Family::ALL
        .into_iter()
        .flat_map(|family| [Grain::Hour, Grain::Day].map(|grain| (family, grain)))
}

/// Every `calls` column a call's contribution reads: a write changing none
/// of them leaves the rollups as they are (a unit test checks the measures
/// name no other).
pub const COLUMNS_READ: [&str; 10] = [
    "started_at_ms",
    "agent_id",
    "user_group_id",
    "workflow",
    "call_result",
    "category",
    "defeat_cause",
    "total_time",
    "queue_time",
    "ring_time",
];

/// The `calls` columns a call's contribution is keyed by: every family's.
pub const CALL_DIMENSIONS: [&str; 6] = [
    "agent_id",
    "user_group_id",
    "workflow",
    "call_result",
    "category",
    "defeat_cause",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::call_rows::COLUMNS;

    /// A measure reading a column missing from [`COLUMNS_READ`] would go
    /// stale when only that column changes.
    #[test]
    fn every_column_the_measures_read_is_listed() {
        let sql: String = measures::KEPT
            .iter()
            .map(|m| format!(" {} ", m.per_call))
            .collect();
        let words: Vec<&str> = sql
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .collect();
        for column in COLUMNS.split(", ") {
            if words.contains(&column) || CALL_DIMENSIONS.contains(&column) {
                assert!(
                    COLUMNS_READ.contains(&column),
                    "{column} is not in COLUMNS_READ"
                );
            }
        }
    }
}
