//! What a `callStats` costs, known before it runs: the groups it can
//! return, and the calls it must read when the rollups cannot answer it.
//!
//! async-graphql's complexity counts a field once whatever its arguments,
//! so `callStats(groupBy: [DAY, HOUR, AGENT]) { count }` cost 2 while it may
//! return a row for every call, and 250 aliases of it held gigabytes. Here
//! each `callStats` of a document (aliases and fragments counted, variables
//! and their defaults read) is charged:
//! - the most groups it can return over its range (the days with calls × 24
//!   hours × the agents seen, never more than the calls:
//!   `storage::read::stats::bounds`), each [`GROUP_COST`] plus the fields
//!   asked of it, since a group is held whole until the answer is built;
//! - one per call of its range when its filter, grouping or thresholds
//!   need the calls themselves, read one by one.
//!
//! The charge joins the request's complexity, so the request, and its batch
//! together, stay within [`MAX_COMPLEXITY`](super::limits::MAX_COMPLEXITY):
//! rows, reads and so memory and time are bounded per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_graphql::extensions::ExtensionContext;
use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::{InputType, Request, ServerError, Value, Variables};

use super::StatsOffset;
use super::cost::MAX_NESTING;
use super::error::{INTERNAL, with_code};
use super::filter::CallFilterInput;
use super::stats::DEFAULT_THRESHOLD;
use crate::storage::Store;
use crate::storage::read::{CallDimension, StatsBounds, StatsQuery};

/// What one group of a `callStats` answer costs besides its fields: a
/// group's keys and sums are held until the answer is built (about 2 KB
/// each, measured), so 250,000 allows some 50,000 groups in one request.
pub const GROUP_COST: u64 = 4;

/// How long the bounds of one range are reused: a dashboard refreshing its
/// figures reads them once, and they grow by seconds of calls at most.
const BOUNDS_KEPT_FOR: Duration = Duration::from_secs(5);
/// Ranges whose bounds are kept at once; past this the cache starts over.
const RANGES_KEPT: usize = 256;

/// A range of starts, in Unix milliseconds, and the offset of its days.
type Range = (Option<i64>, Option<i64>, i32);

/// One `callStats` of a document, as far as its cost goes.
#[derive(Clone, Debug, PartialEq)]
pub struct StatsAsked {
    /// Its `filter` argument, variables put in.
    pub filter: Option<Value>,
    pub group_by: Vec<CallDimension>,
    /// The `serviceLevel` thresholds asked of its groups.
    pub thresholds: Vec<u32>,
    /// The fields asked of each group (at least one is counted).
    pub fields: u64,
}

impl StatsAsked {
    /// The statistics query it runs; `None` when its filter is refused
    /// (then it runs nothing). A filter that does not parse is left to
    /// validation and counted as none, the costliest.
    fn query(&self, offset_seconds: i32) -> Option<StatsQuery> {
        let input = self
            .filter
            .clone()
            .and_then(|value| <CallFilterInput as InputType>::parse(Some(value)).ok());
        Some(StatsQuery {
            filter: CallFilterInput::validate(input.as_ref()).ok()?,
            group_by: self.group_by.clone(),
            offset_seconds,
            thresholds: self.thresholds.clone(),
            measures: None,
        })
    }
}

/// Bounds recently read, by range: schema data. Keyed by the range alone,
/// not the whole filter, so that neither its size nor its variety costs
/// memory or reads.
#[derive(Default)]
pub struct BoundsCache {
    kept: Mutex<HashMap<Range, (Instant, StatsBounds)>>,
}

impl BoundsCache {
    async fn bounds(&self, store: &Store, query: &StatsQuery) -> Result<StatsBounds, ServerError> {
        let key = (
            query.filter.started_from_ms,
            query.filter.started_before_ms,
            query.offset_seconds,
        );
        if let Some((at, bounds)) = self.kept().get(&key)
            && at.elapsed() < BOUNDS_KEPT_FOR
        {
            return Ok(*bounds);
        }
        let bounds = store
            .stats_bounds(key.0, key.1, key.2)
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
        kept.insert(key, (Instant::now(), bounds));
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
        let Some(query) = asked.query(offset_seconds) else {
            continue;
        };
        let bounds = cache.bounds(store, &query).await?;
        let groups = bounds.groups(&asked.group_by);
        let per_group = GROUP_COST + asked.fields.max(1);
        let reads = match query.reads_calls(bounds.counted_offset) {
            true => bounds.calls,
            false => 0,
        };
        total = total
            .saturating_add(groups.saturating_mul(per_group))
            .saturating_add(reads);
    }
    Ok(usize::try_from(total).unwrap_or(usize::MAX))
}

/// Every `callStats` of `document`'s operations, as often as fragments
/// spread it. The document was measured first (`cost`): its fragments form
/// no cycle and expand to a bounded number of fields.
pub fn stats_asked(document: &ExecutableDocument, variables: &Variables) -> Vec<StatsAsked> {
    let mut found = Vec::new();
    for (_, operation) in document.operations.iter() {
        // A variable not sent takes its declared default, as when it runs.
        let mut variables = variables.clone();
        for definition in &operation.node.variable_definitions {
            let definition = &definition.node;
            if let Some(default) = &definition.default_value
                && !variables.contains_key(&definition.name.node)
            {
                variables.insert(definition.name.node.clone(), default.node.clone());
            }
        }
        let mut walk = Walk {
            document,
            variables: &variables,
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

    fn argument(&self, field: &Field, name: &str) -> Option<Value> {
        let value = field.get_argument(name)?;
        value
            .node
            .clone()
            .into_const_with(|variable| self.variables.get(&variable).cloned().ok_or(()))
            .ok()
    }

    fn asked(&self, field: &Field, nesting: usize) -> StatsAsked {
        let mut thresholds = Vec::new();
        self.thresholds(&field.selection_set.node, nesting + 1, &mut thresholds);
        StatsAsked {
            filter: self.argument(field, "filter"),
            group_by: self
                .argument(field, "groupBy")
                .map_or_else(Vec::new, |value| dimensions(&value)),
            thresholds,
            fields: self.leaves(&field.selection_set.node, nesting + 1),
        }
    }

    /// The `thresholdSeconds` of every `serviceLevel` below `set` (20 when
    /// not given); an unreadable one is left to validation.
    fn thresholds(&self, set: &SelectionSet, nesting: usize, found: &mut Vec<u32>) {
        if nesting > MAX_NESTING {
            return;
        }
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) if field.node.name.node == "serviceLevel" => {
                    let seconds = match self.argument(&field.node, "thresholdSeconds") {
                        Some(Value::Number(number)) => {
                            number.as_u64().and_then(|n| u32::try_from(n).ok())
                        }
                        Some(_) => None,
                        None => Some(DEFAULT_THRESHOLD),
                    };
                    if let Some(seconds) = seconds
                        && !found.contains(&seconds)
                    {
                        found.push(seconds);
                    }
                }
                Selection::Field(_) => {}
                Selection::InlineFragment(inline) => {
                    self.thresholds(&inline.node.selection_set.node, nesting + 1, found);
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) =
                        self.document.fragments.get(&spread.node.fragment_name.node)
                    {
                        self.thresholds(&fragment.node.selection_set.node, nesting + 1, found);
                    }
                }
            }
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
        let query = found[1].query(8 * 3600).unwrap();
        assert_eq!(query.filter.started_from_ms, Some(1_793_462_400_000));
        assert_eq!(query.filter.started_before_ms, None);
        assert!(found[2].group_by.is_empty());
    }

    #[test]
    fn a_variable_not_sent_takes_its_declared_default() {
        let found = asked(
            "query($by: [CallDimension!] = [DAY, HOUR, AGENT], $s: Int = 30) {
                callStats(groupBy: $by) { count serviceLevel(thresholdSeconds: $s) serviceLevel }
             }",
            serde_json::json!({}),
        );
        assert_eq!(
            found[0].group_by,
            [
                CallDimension::Day,
                CallDimension::Hour,
                CallDimension::Agent
            ]
        );
        assert_eq!(found[0].thresholds, [30, 20]);
        let sent = asked(
            "query($by: [CallDimension!] = [DAY]) { callStats(groupBy: $by) { count } }",
            serde_json::json!({ "by": ["AGENT"] }),
        );
        assert_eq!(sent[0].group_by, [CallDimension::Agent]);
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
