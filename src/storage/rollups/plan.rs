//! Which rows answer a statistics query: rollup rows where they can, calls
//! for what they cannot.
//!
//! A time range is cut at the hours and days of the rollups' offset: whole
//! days from a day table, whole hours left at either end from the hour
//! table, and the minutes left before the first whole hour or after the
//! last from `calls`. Grouping by hour of day needs the hour tables
//! throughout. A filter or grouping on a column no family keeps (a phone
//! number, a status, an agent's group together with a call result) is
//! answered from `calls` alone.

use chrono::DateTime;

use super::{Family, Grain};
use crate::storage::read::filter::CallFilter;

/// Where a part of the answer comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Rollup rows whose `hour` or `day` is in `[from, to)`; an absent bound
    /// is open.
    Rollup {
        family: Family,
        grain: Grain,
        from: Option<String>,
        to: Option<String>,
    },
    /// Calls started in `[from_ms, to_ms)`, with the filter's other conditions.
    Calls {
        from_ms: Option<i64>,
        to_ms: Option<i64>,
    },
}

/// The family whose keys cover `columns`, the smallest first.
pub fn family_for(columns: &[&str]) -> Option<Family> {
    Family::ALL
        .into_iter()
        .find(|family| columns.iter().all(|c| family.dimensions().contains(c)))
}

/// The `calls` columns the filter constrains, when the rollups keep every
/// one of them; `None` when a condition needs the calls themselves.
pub fn filtered_columns(filter: &CallFilter) -> Option<Vec<&'static str>> {
    let CallFilter {
        agent_ids,
        agent_emails,
        agent_group_ids,
        workflows,
        call_results,
        categories,
        statuses,
        last_occasions,
        customer_phones,
        call_ids,
        defeat_causes,
        surveys,
        started_from_ms: _,
        started_before_ms: _,
        answered,
        talk_time_min,
        talk_time_max,
        has_recording,
        has_tickets,
    } = filter;
    let needs_calls = agent_emails.is_some()
        || statuses.is_some()
        || last_occasions.is_some()
        || customer_phones.is_some()
        || call_ids.is_some()
        || surveys.is_some()
        || answered.is_some()
        || talk_time_min.is_some()
        || talk_time_max.is_some()
        || has_recording.is_some()
        || has_tickets.is_some();
    if needs_calls {
        return None;
    }
    let kept = [
        ("agent_id", agent_ids.is_some()),
        ("user_group_id", agent_group_ids.is_some()),
        ("workflow", workflows.is_some()),
        ("call_result", call_results.is_some()),
        ("category", categories.is_some()),
        ("defeat_cause", defeat_causes.is_some()),
    ];
    Some(
        kept.iter()
            .filter(|(_, set)| *set)
            .map(|(c, _)| *c)
            .collect(),
    )
}

/// The sources of `[from_ms, to_ms)` for a family; `by_hour` when the
/// grouping needs hours.
pub fn sources(
    family: Family,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    by_hour: bool,
    offset_seconds: i32,
) -> Vec<Source> {
    let bounds = Bounds {
        offset_ms: i64::from(offset_seconds) * 1000,
    };
    let hour = Grain::Hour.millis();
    let first_hour = from_ms.map(|t| bounds.ceil(t, hour));
    let end_hour = to_ms.map(|t| bounds.floor(t, hour));
    if let (Some(first), Some(end)) = (first_hour, end_hour)
        && first >= end
    {
        return vec![Source::Calls { from_ms, to_ms }];
    }
    let mut sources = Vec::new();
    if let (Some(from), Some(first)) = (from_ms, first_hour)
        && from < first
    {
        sources.push(Source::Calls {
            from_ms: Some(from),
            to_ms: Some(first),
        });
    }
    if let (Some(end), Some(to)) = (end_hour, to_ms)
        && end < to
    {
        sources.push(Source::Calls {
            from_ms: Some(end),
            to_ms: Some(to),
        });
    }
    let rollup = |grain: Grain, from: Option<i64>, to: Option<i64>| Source::Rollup {
        family,
        grain,
        from: from.map(|t| bounds.label(t, grain)),
        to: to.map(|t| bounds.label(t, grain)),
    };
    let day = Grain::Day.millis();
    let first_day = first_hour.map(|t| bounds.ceil(t, day));
    let end_day = end_hour.map(|t| bounds.floor(t, day));
    let days_between = match (first_day, end_day) {
        (Some(first), Some(end)) => first < end,
        _ => true,
    };
    if by_hour || !days_between {
        sources.push(rollup(Grain::Hour, first_hour, end_hour));
        return sources;
    }
    sources.push(rollup(Grain::Day, first_day, end_day));
    if let (Some(first), Some(day)) = (first_hour, first_day)
        && first < day
    {
        sources.push(rollup(Grain::Hour, Some(first), Some(day)));
    }
    if let (Some(day), Some(end)) = (end_day, end_hour)
        && day < end
    {
        sources.push(rollup(Grain::Hour, Some(day), Some(end)));
    }
    sources
}

/// Hour and day boundaries in the local time of an offset.
struct Bounds {
    offset_ms: i64,
}

impl Bounds {
    fn floor(&self, t: i64, grain: i64) -> i64 {
        (t + self.offset_ms).div_euclid(grain) * grain - self.offset_ms
    }

    fn ceil(&self, t: i64, grain: i64) -> i64 {
        let floor = self.floor(t, grain);
        if floor == t { t } else { floor + grain }
    }

    /// The `hour` or `day` text of the cell starting at `t`.
    fn label(&self, t: i64, grain: Grain) -> String {
        let local = DateTime::from_timestamp_millis(t + self.offset_ms)
            .unwrap_or_default()
            .naive_utc();
        match grain {
            Grain::Hour => local.format("%Y-%m-%d %H:00").to_string(),
            Grain::Day => local.format("%Y-%m-%d").to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
