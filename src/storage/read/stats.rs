//! Call statistics: counts and talk-time figures grouped by dimensions.
//!
//! Days and hours are computed at query time from `started_at_ms` in the
//! service's default UTC offset, which is a setting, so no index can hold
//! them; the filter's index (for a time range, `calls_for_stats`, which
//! covers every key and measure) feeds the grouping instead.

use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;

use super::filter::{CallFilter, filter_condition};
use crate::domain::UdeskId;
use crate::storage::StoreError;

/// What `callStats` can group by. Several may be combined.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    /// The grouped expression; `{offset}` is replaced by the offset in seconds.
    ///
    /// The unary `+` (a no-op on any value) keeps the planner from walking a
    /// column's own index to get the groups in order: that index is not
    /// covering, so a month of a million calls cost 350–800 ms of row
    /// lookups, against 150 ms through `calls_for_stats`. The agent's index
    /// covers every measure, so agents keep it (75 ms).
    fn expression(self) -> &'static str {
        match self {
            CallDimension::Agent => "agent_id",
            CallDimension::AgentGroup => "+user_group_id",
            CallDimension::Workflow => "+workflow",
            CallDimension::CallResult => "+call_result",
            CallDimension::Category => "+category",
            CallDimension::DefeatCause => "+defeat_cause",
            CallDimension::Day => "date(started_at_ms / 1000 + {offset}, 'unixepoch')",
            CallDimension::Hour => {
                "CAST(strftime('%H', started_at_ms / 1000 + {offset}, 'unixepoch') AS INTEGER)"
            }
        }
    }
}

/// The dimensions in the order given, each once.
fn distinct(group_by: &[CallDimension]) -> Vec<CallDimension> {
    let mut dimensions: Vec<CallDimension> = Vec::new();
    for dimension in group_by {
        if !dimensions.contains(dimension) {
            dimensions.push(*dimension);
        }
    }
    dimensions
}

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
}

/// The SQL of a statistics query and its parameters; exposed for the
/// query-plan test. Each dimension is grouped once, in the order given.
pub fn stats_sql(
    filter: &CallFilter,
    group_by: &[CallDimension],
    offset_seconds: i32,
) -> (String, Vec<SqlValue>) {
    let dimensions = distinct(group_by);
    let keys: Vec<String> = dimensions
        .iter()
        .map(|d| {
            d.expression()
                .replace("{offset}", &offset_seconds.to_string())
        })
        .collect();
    let condition = filter_condition(filter);
    let mut select = keys.clone();
    select.extend(
        [
            "count(*)",
            "coalesce(sum(total_time > 0), 0)",
            "coalesce(sum(total_time), 0)",
            "avg(total_time)",
            "avg(queue_time)",
            "avg(ring_time)",
            "max(total_time)",
        ]
        .map(String::from),
    );
    let mut sql = format!(
        "SELECT {} FROM calls WHERE {}",
        select.join(", "),
        condition.or_true()
    );
    if !keys.is_empty() {
        let positions: Vec<String> = (1..=keys.len()).map(|i| i.to_string()).collect();
        sql.push_str(&format!(" GROUP BY {0} ORDER BY {0}", positions.join(", ")));
    }
    (sql, condition.params)
}

/// Computes the statistics; with no dimensions, one row for all matching calls.
pub fn call_stats(
    conn: &Connection,
    filter: &CallFilter,
    group_by: &[CallDimension],
    offset_seconds: i32,
) -> Result<Vec<CallStatsRow>, StoreError> {
    let (sql, params) = stats_sql(filter, group_by, offset_seconds);
    let dimensions = distinct(group_by);
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(rusqlite::params_from_iter(params), |row| {
        let mut record = CallStatsRow::default();
        for (index, dimension) in dimensions.iter().enumerate() {
            match dimension {
                CallDimension::Agent => {
                    record.agent_id = row.get::<_, Option<i64>>(index)?.map(UdeskId)
                }
                CallDimension::AgentGroup => {
                    record.agent_group_id = row.get::<_, Option<i64>>(index)?.map(UdeskId)
                }
                CallDimension::Workflow => record.workflow = row.get(index)?,
                CallDimension::CallResult => record.call_result = row.get(index)?,
                CallDimension::Category => record.category = row.get(index)?,
                CallDimension::DefeatCause => record.defeat_cause = row.get(index)?,
                CallDimension::Day => record.day = row.get(index)?,
                CallDimension::Hour => record.hour = row.get(index)?,
            }
        }
        let measures = dimensions.len();
        record.count = row.get(measures)?;
        record.answered_count = row.get(measures + 1)?;
        record.total_time = row.get(measures + 2)?;
        record.avg_total_time = row.get(measures + 3)?;
        record.avg_queue_time = row.get(measures + 4)?;
        record.avg_ring_time = row.get(measures + 5)?;
        record.max_total_time = row.get(measures + 6)?;
        Ok(record)
    })?;
    // With no grouping, SQL answers one row even when nothing matched: a
    // dashboard's "0 calls today" needs that row of zeros.
    Ok(rows.collect::<Result<_, _>>()?)
}
