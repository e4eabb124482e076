//! What a statistics query will have to do, known before it runs: what
//! `callStats` is charged by (`graphql::stats_cost`).
//!
//! A group holds at least one call, so there are never more groups than
//! calls in the range; and never more than the product of the values each
//! dimension takes in it: days with calls, 24 hours, the agents (or agent
//! groups), workflows, call results, categories and defeat causes seen. The rollups answer both in a few reads of small
//! tables; when they are counted in another offset (being rebuilt), the
//! calls themselves are counted, a slower but still indexed read. A query
//! the rollups cannot answer reads every call of its range.

use chrono::{DateTime, FixedOffset};
use rusqlite::{Connection, params};

use super::CallDimension;
use crate::storage::StoreError;
use crate::storage::rollups::rebuild;

/// What bounds the work of a statistics query.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsBounds {
    /// Calls started in the range (whatever a query's other conditions).
    pub calls: u64,
    /// The offset the rollups are counted in, if any: whether a query can
    /// read them rather than the calls (`StatsQuery::reads_calls`).
    pub counted_offset: Option<i32>,
    /// Days with at least one call.
    pub days: u64,
    /// Distinct agents, not counting calls without one.
    pub agents: u64,
    pub agent_groups: u64,
    /// Distinct values of the outcomes Udesk pushes, not counting calls
    /// without one: a handful each in practice, whatever the calls.
    pub workflows: u64,
    pub call_results: u64,
    pub categories: u64,
    pub defeat_causes: u64,
}

impl StatsBounds {
    /// The most groups `dimensions` can split the range's calls into.
    pub fn groups(&self, dimensions: &[CallDimension]) -> u64 {
        if dimensions.is_empty() {
            return 1;
        }
        let mut product: u64 = 1;
        let mut seen = Vec::new();
        for dimension in dimensions {
            if seen.contains(dimension) {
                continue;
            }
            seen.push(*dimension);
            let values = match dimension {
                CallDimension::Day => self.days,
                CallDimension::Hour => 24,
                // Calls without an agent form one more group.
                CallDimension::Agent => self.agents + 1,
                CallDimension::AgentGroup => self.agent_groups + 1,
                // Calls without a value form one more group.
                CallDimension::Workflow => self.workflows + 1,
                CallDimension::CallResult => self.call_results + 1,
                CallDimension::Category => self.categories + 1,
                CallDimension::DefeatCause => self.defeat_causes + 1,
            };
            product = product.saturating_mul(values.max(1));
        }
        product.min(self.calls.max(1))
    }
}

/// The bounds of the calls started in `[from_ms, before_ms)` (either end
/// open), with days in `offset_seconds`.
pub fn stats_bounds(
    conn: &Connection,
    from_ms: Option<i64>,
    before_ms: Option<i64>,
    offset_seconds: i32,
) -> Result<StatsBounds, StoreError> {
    let counted_offset = rebuild::counted_offset(conn)?;
    let mut bounds = if counted_offset == Some(offset_seconds) {
        from_rollups(conn, from_ms, before_ms, offset_seconds)?
    } else {
        from_calls(conn, from_ms, before_ms)?
    };
    bounds.counted_offset = counted_offset;
    Ok(bounds)
}

/// The first and last local days (in `offset_seconds`, as the rollups count
/// them) holding a start in the range.
fn days(from_ms: Option<i64>, before_ms: Option<i64>, offset_seconds: i32) -> (String, String) {
    let utc = FixedOffset::east_opt(0).expect("zero offset");
    let offset = FixedOffset::east_opt(offset_seconds).unwrap_or(utc);
    let day = |ms: i64| {
        DateTime::from_timestamp_millis(ms).map_or_else(
            || {
                if ms < 0 {
                    "0000-00-00".to_owned()
                } else {
                    "9999-99-99".to_owned()
                }
            },
            |time| time.with_timezone(&offset).format("%Y-%m-%d").to_string(),
        )
    };
    (
        from_ms.map_or_else(|| "0000-00-00".to_owned(), day),
        // The end is excluded: a range ending at midnight ends the day before.
        before_ms.map_or_else(|| "9999-99-99".to_owned(), |ms| day(ms.saturating_sub(1))),
    )
}

fn from_rollups(
    conn: &Connection,
    from_ms: Option<i64>,
    before_ms: Option<i64>,
    offset_seconds: i32,
) -> Result<StatsBounds, StoreError> {
    let (first, last) = days(from_ms, before_ms, offset_seconds);
    let (days, calls): (i64, i64) = conn
        .prepare_cached(
            "SELECT count(*), coalesce(sum(calls), 0) FROM rollup_day WHERE day BETWEEN ?1 AND ?2",
        )?
        .query_row(params![first, last], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let (agents, agent_groups): (i64, i64) = conn
        .prepare_cached(
            "SELECT count(DISTINCT agent_id), count(DISTINCT user_group_id) FROM rollup_agent_day
             WHERE day BETWEEN ?1 AND ?2",
        )?
        .query_row(params![first, last], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let outcomes = conn
        .prepare_cached(&format!(
            "SELECT {DISTINCT_OUTCOMES} FROM rollup_outcome_day WHERE day BETWEEN ?1 AND ?2"
        ))?
        .query_row(params![first, last], outcome_counts)?;
    Ok(bounds(calls, days, agents, agent_groups, outcomes))
}

/// The distinct outcomes of a range, in [`Outcomes`]' order.
const DISTINCT_OUTCOMES: &str = "count(DISTINCT workflow), count(DISTINCT call_result), \
     count(DISTINCT category), count(DISTINCT defeat_cause)";

/// Distinct workflows, call results, categories and defeat causes.
type Outcomes = [i64; 4];

fn outcome_counts(row: &rusqlite::Row) -> rusqlite::Result<Outcomes> {
    Ok([row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?])
}

fn from_calls(
    conn: &Connection,
    from_ms: Option<i64>,
    before_ms: Option<i64>,
) -> Result<StatsBounds, StoreError> {
    let from_ms = from_ms.unwrap_or(i64::MIN);
    let before_ms = before_ms.unwrap_or(i64::MAX);
    let (calls, first_ms, last_ms): (i64, Option<i64>, Option<i64>) = conn
        .prepare_cached(
            "SELECT count(*), min(started_at_ms), max(started_at_ms) FROM calls
             WHERE started_at_ms >= ?1 AND started_at_ms < ?2",
        )?
        .query_row(params![from_ms, before_ms], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?;
    let days = match (first_ms, last_ms) {
        // Two more: the span's ends may fall in days of their own.
        (Some(first), Some(last)) => (last - first) / 86_400_000 + 2,
        _ => 0,
    };
    let (agents, agent_groups): (i64, i64) = conn
        .prepare_cached(
            "SELECT count(DISTINCT agent_id), count(DISTINCT user_group_id) FROM calls
             WHERE started_at_ms >= ?1 AND started_at_ms < ?2",
        )?
        .query_row(params![from_ms, before_ms], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    let outcomes = conn
        .prepare_cached(&format!(
            "SELECT {DISTINCT_OUTCOMES} FROM calls WHERE started_at_ms >= ?1 AND started_at_ms < ?2"
        ))?
        .query_row(params![from_ms, before_ms], outcome_counts)?;
    Ok(bounds(calls, days, agents, agent_groups, outcomes))
}

fn bounds(
    calls: i64,
    days: i64,
    agents: i64,
    agent_groups: i64,
    [workflows, call_results, categories, defeat_causes]: Outcomes,
) -> StatsBounds {
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    StatsBounds {
        calls: count(calls),
        counted_offset: None,
        days: count(days),
        agents: count(agents),
        agent_groups: count(agent_groups),
        workflows: count(workflows),
        call_results: count(call_results),
        categories: count(categories),
        defeat_causes: count(defeat_causes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(calls: u64, days: u64, agents: u64) -> StatsBounds {
        StatsBounds {
            calls,
            counted_offset: None,
            days,
            agents,
            agent_groups: 3,
            workflows: 2,
            call_results: 9,
            categories: 4,
            defeat_causes: 0,
        }
    }

    #[test]
    fn groups_are_bounded_by_the_dimensions_and_by_the_calls() {
        use CallDimension::*;
        let month = bounds(30_000, 30, 49);
        assert_eq!(month.groups(&[]), 1);
        assert_eq!(month.groups(&[Day]), 30);
        assert_eq!(month.groups(&[Day, Hour]), 720);
        assert_eq!(month.groups(&[Day, Hour, Agent]), 30_000);
        assert_eq!(month.groups(&[Hour, Agent, Hour]), 1_200);
        assert_eq!(month.groups(&[Workflow]), 3);
        assert_eq!(month.groups(&[Day, CallResult]), 300);
        assert_eq!(month.groups(&[Day, Hour, Agent, CallResult]), 30_000);
        assert_eq!(bounds(0, 0, 0).groups(&[Day, Agent]), 1);
    }
}
