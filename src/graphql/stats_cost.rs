//! What a `callStats` costs: the groups it can return, known before it runs.
//!
//! async-graphql's complexity counts a field once whatever its arguments,
//! so `callStats(groupBy: [DAY, HOUR, AGENT]) { count }` cost 2 while it may
//! return a row for every call, and 250 aliases of it held gigabytes. Here
//! each `callStats` of a document (aliases and fragments counted) is charged
//! the most groups it can return over the range it asks for (the days with
//! calls × 24 hours × the agents seen, never more than the calls:
//! `storage::read::stats::bounds`), times the fields asked of each group.
//! The charge joins the request's complexity, so the request, and its batch
//! together, stay within [`MAX_COMPLEXITY`](super::limits::MAX_COMPLEXITY):
//! rows and so memory are bounded per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_graphql::extensions::ExtensionContext;
use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::{Request, ServerError, Value, Variables};
use chrono::{DateTime, FixedOffset};

use super::StatsOffset;
use super::cost::MAX_NESTING;
use super::error::{INTERNAL, with_code};
use crate::storage::Store;
use crate::storage::read::{CallDimension, StatsBounds};

/// How long bounds read for one range are reused: a dashboard refreshing
/// its figures reads them once, and they grow by seconds of calls at most.
const BOUNDS_KEPT_FOR: Duration = Duration::from_secs(5);
/// Ranges whose bounds are kept at once; past this the cache starts over.
const RANGES_KEPT: usize = 256;

/// One `callStats` of a document, as far as its cost goes.
#[derive(Clone, Debug, PartialEq)]
pub struct StatsAsked {
    pub from: Option<DateTime<FixedOffset>>,
    pub before: Option<DateTime<FixedOffset>>,
    pub group_by: Vec<CallDimension>,
    /// The fields asked of each group (at least one is counted).
    pub fields: u64,
}

type Range = (Option<i64>, Option<i64>);

/// Bounds recently read, by range: schema data.
#[derive(Default)]
pub struct BoundsCache {
    kept: Mutex<HashMap<Range, (Instant, StatsBounds)>>,
}

impl BoundsCache {
    async fn bounds(
        &self,
        store: &Store,
        asked: &StatsAsked,
        offset_seconds: i32,
    ) -> Result<StatsBounds, ServerError> {
        let range = (
            asked.from.map(|time| time.timestamp_millis()),
            asked.before.map(|time| time.timestamp_millis()),
        );
        if let Some((at, bounds)) = self.kept().get(&range)
            && at.elapsed() < BOUNDS_KEPT_FOR
        {
            return Ok(*bounds);
        }
        let bounds = store
            .stats_bounds(asked.from, asked.before, offset_seconds)
            .await
            .map_err(|error| {
                tracing::error!(%error, "the bounds of a callStats could not be read");
                let error =
                    ServerError::new("internal error; the server log has the details", None);
                with_code(error, INTERNAL)
            })?;
        let mut kept = self.kept();
        if kept.len() >= RANGES_KEPT {
            kept.clear();
        }
        kept.insert(range, (Instant::now(), bounds));
        Ok(bounds)
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, HashMap<Range, (Instant, StatsBounds)>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the `callStats` of `request` cost together; nothing without one, or
/// for a document that does not parse (async-graphql reports why).
pub async fn charge(
    ctx: &ExtensionContext<'_>,
    request: &mut Request,
) -> Result<usize, ServerError> {
    if !request.query.contains("callStats") {
        return Ok(0);
    }
    let (Some(store), Some(cache)) = (
        ctx.data_opt::<Arc<Store>>(),
        ctx.data_opt::<Arc<BoundsCache>>(),
    ) else {
        return Ok(0);
    };
    let offset_seconds = ctx
        .data_opt::<StatsOffset>()
        .map_or(0, |offset| offset.0.local_minus_utc());
    let variables = request.variables.clone();
    let Ok(document) = request.parsed_query() else {
        return Ok(0);
    };
    let mut total: u64 = 0;
    for asked in stats_asked(document, &variables) {
        let bounds = cache.bounds(store, &asked, offset_seconds).await?;
        let groups = bounds.groups(&asked.group_by);
        total = total.saturating_add(groups.saturating_mul(asked.fields.max(1)));
    }
    Ok(usize::try_from(total).unwrap_or(usize::MAX))
}

/// Every `callStats` of `document`'s operations, as often as fragments
/// spread it. The document was measured first (`cost`): its fragments form
/// no cycle and expand to a bounded number of fields.
pub fn stats_asked(document: &ExecutableDocument, variables: &Variables) -> Vec<StatsAsked> {
    let mut found = Vec::new();
    for (_, operation) in document.operations.iter() {
        let mut walk = Walk {
            document,
            variables,
            found: &mut found,
        };
        walk.selections(&operation.node.selection_set.node, 0);
    }
    found
}

struct Walk<'a> {
    document: &'a ExecutableDocument,
    variables: &'a Variables,
    found: &'a mut Vec<StatsAsked>,
}

impl Walk<'_> {
    fn selections(&mut self, set: &SelectionSet, nesting: usize) {
        if nesting > MAX_NESTING {
            return;
        }
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) if field.node.name.node == "callStats" => {
                    let asked = self.asked(&field.node, nesting);
                    self.found.push(asked);
                }
                Selection::Field(field) => {
                    self.selections(&field.node.selection_set.node, nesting + 1);
                }
                Selection::InlineFragment(inline) => {
                    self.selections(&inline.node.selection_set.node, nesting + 1);
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) =
                        self.document.fragments.get(&spread.node.fragment_name.node)
                    {
                        self.selections(&fragment.node.selection_set.node, nesting + 1);
                    }
                }
            }
        }
    }

    fn asked(&self, field: &Field, nesting: usize) -> StatsAsked {
        let argument = |name: &str| {
            let value = field.get_argument(name)?;
            value
                .node
                .clone()
                .into_const_with(|variable| self.variables.get(&variable).cloned().ok_or(()))
                .ok()
        };
        let (from, before) = argument("filter").map_or((None, None), |filter| started_at(&filter));
        StatsAsked {
            from,
            before,
            group_by: argument("groupBy").map_or_else(Vec::new, |value| dimensions(&value)),
            fields: self.leaves(&field.selection_set.node, nesting + 1),
        }
    }

    /// The fields without a selection of their own below `set`.
    fn leaves(&self, set: &SelectionSet, nesting: usize) -> u64 {
        if nesting > MAX_NESTING {
            return 0;
        }
        set.items
            .iter()
            .map(|selection| match &selection.node {
                Selection::Field(field) if field.node.selection_set.node.items.is_empty() => 1,
                Selection::Field(field) => self.leaves(&field.node.selection_set.node, nesting + 1),
                Selection::InlineFragment(inline) => {
                    self.leaves(&inline.node.selection_set.node, nesting + 1)
                }
                Selection::FragmentSpread(spread) => self
                    .document
                    .fragments
                    .get(&spread.node.fragment_name.node)
                    .map_or(0, |fragment| {
                        self.leaves(&fragment.node.selection_set.node, nesting + 1)
                    }),
            })
            .sum()
    }
}

/// The dimensions of a `groupBy` value: a list, or one value (GraphQL
/// accepts one where a list is expected). Unknown names are left to
/// validation.
fn dimensions(value: &Value) -> Vec<CallDimension> {
    let one = |value: &Value| {
        let name = match value {
            Value::Enum(name) => name.as_str(),
            Value::String(name) => name.as_str(),
            _ => return None,
        };
        Some(match name {
            "AGENT" => CallDimension::Agent,
            "WORKFLOW" => CallDimension::Workflow,
            "CALL_RESULT" => CallDimension::CallResult,
            "CATEGORY" => CallDimension::Category,
            "DAY" => CallDimension::Day,
            "HOUR" => CallDimension::Hour,
            "AGENT_GROUP" => CallDimension::AgentGroup,
            "DEFEAT_CAUSE" => CallDimension::DefeatCause,
            _ => return None,
        })
    };
    match value {
        Value::List(items) => items.iter().filter_map(one).collect(),
        other => one(other).into_iter().collect(),
    }
}

/// The ends of `filter.startedAt`; an end that is missing or not a time is
/// open (a bad time is refused by validation).
fn started_at(filter: &Value) -> (Option<DateTime<FixedOffset>>, Option<DateTime<FixedOffset>>) {
    let Value::Object(filter) = filter else {
        return (None, None);
    };
    let Some(Value::Object(range)) = filter.get("startedAt") else {
        return (None, None);
    };
    let end = |name: &str| match range.get(name) {
        Some(Value::String(text)) => DateTime::parse_from_rfc3339(text).ok(),
        _ => None,
    };
    (end("from"), end("to"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(query: &str, variables: serde_json::Value) -> Vec<StatsAsked> {
        let document = async_graphql::parser::parse_query(query).unwrap();
        stats_asked(&document, &Variables::from_json(variables))
    }

    #[test]
    fn aliases_fragments_and_variables_are_all_counted() {
        let found = asked(
            "query($by: [CallDimension!]) {
                a: callStats(groupBy: [DAY, HOUR]) { count answeredCount }
                b: callStats(groupBy: $by, filter: { startedAt: { from: \"2026-11-01T00:00:00+08:00\" } }) { ...F }
                ... on Query { c: callStats { count } }
             }
             fragment F on CallStatsRow { count day agentId }",
            serde_json::json!({ "by": ["AGENT"] }),
        );
        assert_eq!(found.len(), 3);
        assert_eq!(found[0].group_by, [CallDimension::Day, CallDimension::Hour]);
        assert_eq!(found[0].fields, 2);
        assert_eq!(found[1].group_by, [CallDimension::Agent]);
        assert_eq!(found[1].fields, 3);
        assert_eq!(
            found[1].from,
            Some(DateTime::parse_from_rfc3339("2026-11-01T00:00:00+08:00").unwrap())
        );
        assert_eq!(found[1].before, None);
        assert!(found[2].group_by.is_empty());
    }

    #[test]
    fn a_single_dimension_counts_as_a_list_of_one() {
        let found = asked(
            "{ callStats(groupBy: AGENT) { count } }",
            serde_json::json!({}),
        );
        assert_eq!(found[0].group_by, [CallDimension::Agent]);
    }
}
