//! The SQL of one source of a statistics answer: its groups' keys and the
//! sums and maxima of the measures, over `calls` or over rollup rows.

use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;

use super::CallDimension;
use crate::storage::StoreError;
use crate::storage::read::filter::{CallFilter, filter_condition};
use crate::storage::rollups::figures::Figures;
use crate::storage::rollups::measures::{BASE, Measure};
use crate::storage::rollups::plan::Source;
use crate::storage::rollups::{Grain, Key, local_seconds};

/// One source and what to read from it.
pub struct SourceQuery<'a> {
    pub source: &'a Source,
    pub filter: &'a CallFilter,
    pub dimensions: &'a [CallDimension],
    pub offset_seconds: i32,
    pub measures: &'a [Measure],
    /// The columns of the measures to compute; `None` for all. Others read
    /// as NULL: summing two dozen columns over thousands of rollup rows
    /// costs three times what the few a dashboard shows do.
    pub wanted: Option<&'a [String]>,
}

impl SourceQuery<'_> {
    fn computes(&self, measure: &Measure) -> bool {
        // The count is always computed: empty groups are told by it.
        measure.column == "calls"
            || self
                .wanted
                .is_none_or(|wanted| wanted.contains(&measure.column))
    }

    fn select(&self, expression: impl Fn(&Measure) -> String) -> Vec<String> {
        self.measures
            .iter()
            .map(|m| {
                if self.computes(m) {
                    expression(m)
                } else {
                    "NULL".into()
                }
            })
            .collect()
    }
}

/// The grouped expression over `calls`.
///
/// The unary `+` (a no-op on any value) keeps the planner from walking a
/// column's own index to get the groups in order: that index is not
/// covering, so a month of a million calls cost 350–800 ms of row lookups,
/// against 150 ms through `calls_for_stats`, which covers every key and
/// measure.
fn over_calls(dimension: CallDimension, offset_seconds: i32) -> String {
    match dimension {
        CallDimension::Day => Grain::Day.of_calls(offset_seconds),
        CallDimension::Hour => format!(
            "CAST(strftime('%H', {}, 'unixepoch') AS INTEGER)",
            local_seconds(offset_seconds)
        ),
        other => format!("+{}", other.column().expect("a column")),
    }
}

/// The grouped expression over a rollup table of `grain`.
fn over_rollups(dimension: CallDimension, grain: Grain) -> String {
    match (dimension, grain) {
        (CallDimension::Day, Grain::Day) => "day".into(),
        (CallDimension::Day, Grain::Hour) => "substr(hour, 1, 10)".into(),
        // The plan reads hour tables whenever hours are grouped by.
        (CallDimension::Hour, _) => "CAST(substr(hour, 12, 2) AS INTEGER)".into(),
        (other, _) => other.column().expect("a column").into(),
    }
}

/// The statement and its parameters.
fn statement(query: &SourceQuery<'_>) -> (String, Vec<SqlValue>) {
    let (table, keys, measures, condition) = match query.source {
        Source::Calls { from_ms, to_ms } => {
            let filter = CallFilter {
                started_from_ms: *from_ms,
                started_before_ms: *to_ms,
                ..query.filter.clone()
            };
            let keys: Vec<String> = query
                .dimensions
                .iter()
                .map(|d| over_calls(*d, query.offset_seconds))
                .collect();
            let measures = query.select(Measure::over_calls);
            ("calls", keys, measures, filter_condition(&filter))
        }
        Source::Rollup {
            family,
            grain,
            from,
            to,
        } => {
            // The rollups keep the filter's columns under the same names;
            // the time range is the source's own.
            let filter = CallFilter {
                started_from_ms: None,
                started_before_ms: None,
                ..query.filter.clone()
            };
            let mut condition = filter_condition(&filter);
            let time = grain.column();
            for (bound, operator) in [(from, ">="), (to, "<")] {
                if let Some(bound) = bound {
                    condition.push(format!("{time} {operator} ?"));
                    condition.params.push(SqlValue::Text(bound.clone()));
                }
            }
            let keys: Vec<String> = query
                .dimensions
                .iter()
                .map(|d| over_rollups(*d, *grain))
                .collect();
            let measures = query.select(Measure::over_rollups);
            (family.table(*grain), keys, measures, condition)
        }
    };
    let mut select = keys.clone();
    select.extend(measures);
    let mut sql = format!(
        "SELECT {} FROM {table} WHERE {}",
        select.join(", "),
        condition.or_true()
    );
    if !keys.is_empty() {
        let positions: Vec<String> = (1..=keys.len()).map(|i| i.to_string()).collect();
        sql.push_str(&format!(" GROUP BY {}", positions.join(", ")));
    }
    (sql, condition.params)
}

/// The source's groups: their keys in the order of the dimensions, and
/// their figures in the order of the measures.
pub fn group_rows(
    conn: &Connection,
    query: &SourceQuery<'_>,
) -> Result<Vec<(Vec<Key>, Figures)>, StoreError> {
    let (sql, params) = statement(query);
    let keys = query.dimensions.len();
    let measures = query.measures.len();
    let mut prepared = conn.prepare_cached(&sql)?;
    let rows = prepared.query_map(rusqlite::params_from_iter(params), |row| {
        let key: Vec<Key> = (0..keys)
            .map(|index| row.get(index))
            .collect::<Result<_, _>>()?;
        Ok((key, Figures::read(row, keys, measures)?))
    })?;
    let mut groups: Vec<(Vec<Key>, Figures)> = rows.collect::<Result<_, _>>()?;
    // Without a grouping, SQL answers one row even when nothing matched;
    // an empty source adds nothing.
    if keys == 0 {
        groups.retain(|(_, figures)| figures.sum(0) > 0);
    }
    Ok(groups)
}

/// The SQL counting a grouping from `calls` alone, with the base measures;
/// exposed for the query-plan test.
pub fn stats_sql(
    filter: &CallFilter,
    group_by: &[CallDimension],
    offset_seconds: i32,
) -> (String, Vec<SqlValue>) {
    let source = Source::Calls {
        from_ms: filter.started_from_ms,
        to_ms: filter.started_before_ms,
    };
    statement(&SourceQuery {
        source: &source,
        filter,
        dimensions: group_by,
        offset_seconds,
        measures: &BASE,
        wanted: None,
    })
}
