//! Call statistics: counts, talk times and the call-center measures, grouped
//! by dimensions.
//!
//! Answered from the rollups wherever they can (see `storage::rollups::plan`),
//! from `calls` otherwise; each source yields the sums and maxima of
//! `rollups::measures` per group, merged here and turned into figures.

mod bounds;
mod row;
mod sources;

use std::collections::BTreeMap;

use rusqlite::Connection;

pub use self::bounds::{StatsBounds, stats_bounds};
pub use self::row::CallStatsRow;
pub use self::sources::stats_sql;
use self::sources::{SourceQuery, group_rows};
use super::filter::CallFilter;
use crate::domain::call_center::SERVICE_LEVEL_THRESHOLDS;
use crate::storage::StoreError;
use crate::storage::rollups::figures::Figures;
use crate::storage::rollups::measures::{BASE, KEPT, Measure, answered_within};
use crate::storage::rollups::plan::{self, Source};
use crate::storage::rollups::{Key, rebuild};

/// What `callStats` can group by. Several may be combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    /// The `calls` column grouped by; `None` for the times.
    pub fn column(self) -> Option<&'static str> {
        match self {
            CallDimension::Agent => Some("agent_id"),
            CallDimension::AgentGroup => Some("user_group_id"),
            CallDimension::Workflow => Some("workflow"),
            CallDimension::CallResult => Some("call_result"),
            CallDimension::Category => Some("category"),
            CallDimension::DefeatCause => Some("defeat_cause"),
            CallDimension::Day | CallDimension::Hour => None,
        }
    }
}

/// A statistics query.
#[derive(Clone, Debug, Default)]
pub struct StatsQuery {
    pub filter: CallFilter,
    pub group_by: Vec<CallDimension>,
    /// Days and hours start at this offset from UTC, in seconds.
    pub offset_seconds: i32,
    /// The service-level thresholds asked for, in seconds.
    pub thresholds: Vec<u32>,
    /// The rollup columns (`rollups::measures`) the answer needs; `None`
    /// for every one.
    pub measures: Option<Vec<String>>,
}

impl StatsQuery {
    /// The dimensions in the order given, each once.
    fn dimensions(&self) -> Vec<CallDimension> {
        let mut dimensions: Vec<CallDimension> = Vec::new();
        for dimension in &self.group_by {
            if !dimensions.contains(dimension) {
                dimensions.push(*dimension);
            }
        }
        dimensions
    }

    /// The sources answering the query with rollups, and the family, when
    /// they can.
    pub(crate) fn rollup_plan(&self, conn: &Connection) -> Result<Option<Vec<Source>>, StoreError> {
        Ok(self.plan_with(rebuild::counted_offset(conn)?))
    }

    /// Whether the query reads the calls of its range one by one rather
    /// than the rollups, these being counted in `counted_offset`.
    pub fn reads_calls(&self, counted_offset: Option<i32>) -> bool {
        self.plan_with(counted_offset).is_none()
    }

    fn plan_with(&self, counted_offset: Option<i32>) -> Option<Vec<Source>> {
        let standard = self
            .thresholds
            .iter()
            .all(|t| SERVICE_LEVEL_THRESHOLDS.contains(t));
        if !standard || counted_offset != Some(self.offset_seconds) {
            return None;
        }
        let mut columns = plan::filtered_columns(&self.filter)?;
        columns.extend(self.group_by.iter().filter_map(|d| d.column()));
        let family = plan::family_for(&columns)?;
        let by_hour = self.group_by.contains(&CallDimension::Hour);
        Some(plan::sources(
            family,
            self.filter.started_from_ms,
            self.filter.started_before_ms,
            by_hour,
            self.offset_seconds,
        ))
    }
}

/// Computes the statistics; with no dimensions, one row for all matching
/// calls (a dashboard's "0 calls today" needs that row of zeros).
pub fn call_stats(conn: &Connection, query: &StatsQuery) -> Result<Vec<CallStatsRow>, StoreError> {
    match query.rollup_plan(conn)? {
        Some(sources) => answer(conn, query, &sources, &KEPT, SERVICE_LEVEL_THRESHOLDS),
        None => call_stats_from_calls(conn, query),
    }
}

/// The statistics counted from `calls` alone, whatever the rollups hold;
/// what the rollups are checked against.
pub fn call_stats_from_calls(
    conn: &Connection,
    query: &StatsQuery,
) -> Result<Vec<CallStatsRow>, StoreError> {
    let mut thresholds = query.thresholds.clone();
    thresholds.sort_unstable();
    thresholds.dedup();
    let measures: Vec<Measure> = BASE
        .iter()
        .cloned()
        .chain(thresholds.iter().map(|t| answered_within(*t)))
        .collect();
    let everything = Source::Calls {
        from_ms: query.filter.started_from_ms,
        to_ms: query.filter.started_before_ms,
    };
    answer(conn, query, &[everything], &measures, &thresholds)
}

fn answer(
    conn: &Connection,
    query: &StatsQuery,
    sources: &[Source],
    measures: &[Measure],
    thresholds: &[u32],
) -> Result<Vec<CallStatsRow>, StoreError> {
    let dimensions = query.dimensions();
    let mut groups: BTreeMap<Vec<Key>, Figures> = BTreeMap::new();
    for source in sources {
        let source_query = SourceQuery {
            source,
            filter: &query.filter,
            dimensions: &dimensions,
            offset_seconds: query.offset_seconds,
            measures,
            wanted: query.measures.as_deref(),
        };
        for (keys, figures) in group_rows(conn, &source_query)? {
            match groups.get_mut(&keys) {
                Some(known) => known.absorb(&figures, measures),
                None => {
                    groups.insert(keys, figures);
                }
            }
        }
    }
    if dimensions.is_empty() && groups.is_empty() {
        let zeros = Figures(vec![None; measures.len()]);
        let mut figures = zeros.clone();
        figures.absorb(&zeros, measures);
        groups.insert(Vec::new(), figures);
    }
    Ok(groups
        .into_iter()
        .map(|(keys, figures)| {
            let mut row = CallStatsRow::new(&dimensions, &keys, &figures, thresholds);
            // The rollups count every standard threshold; show those asked for.
            row.answered_within
                .retain(|(threshold, _)| query.thresholds.contains(threshold));
            row
        })
        .collect())
}
