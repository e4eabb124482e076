//! The `Query` root: calls, statistics, agents, code lists, rejected pushes,
//! forwarding targets.

use std::sync::Arc;

use async_graphql::{Context, ID, Object};
use chrono::FixedOffset;

use super::recordings::RecordingsArchive;
use crate::domain::{Call, ConversationId};
use crate::storage::Store;
use crate::storage::jobs::JobKind;
use crate::storage::read::{
    Agent, CallOrder, CallStatsRow, CodeLabel, CodeList, DefeatCause, StatsQuery,
};

use super::connection::{CallConnection, MAX_PAGE_SIZE, PageInfo, call_page_query, page_size};
use super::enums::{ApiCallDimension, ApiCallOrder};
use super::error::ApiError;
use super::filter::CallFilterInput;
use super::forwarding::ForwardingTarget;
use super::lookups::{
    RejectedPushConnection, RejectedPushEdge, read_rejected_cursor, rejected_cursor,
};
use super::relay::{Node, NodeKey, read_id};
use super::stats;

/// The service's default UTC offset: where days and hours of statistics start.
#[derive(Clone, Copy, Debug)]
pub struct StatsOffset(pub FixedOffset);

pub struct Query;

fn store<'a>(ctx: &Context<'a>) -> Result<&'a Arc<Store>, ApiError> {
    ctx.data::<Arc<Store>>().map_err(|_| {
        tracing::error!("the GraphQL schema was built without a store");
        ApiError::Internal
    })
}

/// The cost of a connection field: its children once per item it may return.
/// An invalid size costs one page item, so the resolver (not the complexity
/// limit) reports it with its own message.
fn page_complexity(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let size = last
        .or(first)
        .unwrap_or(super::connection::DEFAULT_PAGE_SIZE);
    let size = if (0..=MAX_PAGE_SIZE).contains(&size) {
        size.max(1) as usize
    } else {
        1
    };
    size * child_complexity + 1
}

/// The read side of udesk-calls: calls, their statistics, agents, Udesk's
/// code lists and the pushes the webhook refused.
#[Object]
impl Query {
    /// One call by its `conversationId`; null when no push of it was received.
    async fn call(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Udesk's `conversation_id` of the call.")] conversation_id: ID,
    ) -> Result<Option<Call>, ApiError> {
        let id: i64 = conversation_id.parse().map_err(|_| {
            ApiError::bad_input(format!(
                "{:?} is not a conversationId (an integer)",
                conversation_id.as_str()
            ))
        })?;
        Ok(store(ctx)?.call(ConversationId(id)).await?)
    }

    /// The object of an `id` taken from any `Node` (a `Call`): Relay's way
    /// to fetch an object again. Null for an id that names nothing.
    async fn node(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `id` of a `Call` (or any `Node`), as it was served.")] id: ID,
    ) -> Result<Option<Node>, ApiError> {
        match read_id(&id) {
            Some(NodeKey::Call(conversation_id)) => {
                Ok(store(ctx)?.call(conversation_id).await?.map(Node::Call))
            }
            None => Ok(None),
        }
    }

    /// The calls matching `filter`, a page at a time (Relay connection).
    /// Walk forward with `first`/`after` or backward with `last`/`before`;
    /// pages hold 50 calls unless asked otherwise, at most 500.
    #[graphql(complexity = "page_complexity(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)] // the contract's arguments, plus the context
    async fn calls(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which calls; every call when absent.")] filter: Option<CallFilterInput>,
        #[graphql(
            desc = "The order of the list; null means the default.",
            default_with = "Some(ApiCallOrder::StartedAtDesc)"
        )]
        order_by: Option<ApiCallOrder>,
        #[graphql(desc = "How many calls from the start (after `after`): 0 to 500, default 50.")]
        first: Option<i32>,
        #[graphql(desc = "Start after this cursor (an `endCursor` or an edge's `cursor`).")] after: Option<String>,
        #[graphql(desc = "How many calls from the end (before `before`): 0 to 500.")] last: Option<
            i32,
        >,
        #[graphql(desc = "End before this cursor (a `startCursor` or an edge's `cursor`).")] before: Option<String>,
    ) -> Result<CallConnection, ApiError> {
        let order_by = order_by.map_or_else(CallOrder::default, CallOrder::from);
        let filter = CallFilterInput::validate(filter.as_ref())?;
        let query = call_page_query(order_by, first, after.as_deref(), last, before.as_deref())?;
        let store = store(ctx)?.clone();
        let count = ctx.look_ahead().field("totalCount").exists();
        let (page, total_count) = store
            .calls_page(filter.clone(), query.clone(), count)
            .await?;
        Ok(CallConnection {
            store,
            filter,
            query,
            page,
            total_count,
        })
    }

    /// Counts and talk-time figures of the calls matching `filter`, one row
    /// per combination of the `groupBy` keys (one row for all when absent),
    /// sorted by the keys. Days and hours are in the service's default UTC offset.
    async fn call_stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which calls; every call when absent.")] filter: Option<CallFilterInput>,
        #[graphql(desc = "The keys to group by.")] group_by: Option<Vec<ApiCallDimension>>,
    ) -> Result<Vec<CallStatsRow>, ApiError> {
        let filter = CallFilterInput::validate(filter.as_ref())?;
        let offset_seconds = ctx
            .data_opt::<StatsOffset>()
            .map(|offset| offset.0.local_minus_utc())
            .unwrap_or(0);
        let thresholds = stats::thresholds_asked(ctx)?;
        let query = StatsQuery {
            filter,
            group_by: group_by
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            offset_seconds,
            measures: Some(stats::measures_asked(ctx, &thresholds)),
            thresholds,
        };
        Ok(store(ctx)?.stats(query).await?)
    }

    /// Every agent seen in the calls, by id, with the details of their latest call.
    async fn agents(&self, ctx: &Context<'_>) -> Result<Vec<Agent>, ApiError> {
        Ok(store(ctx)?.agents().await?)
    }

    /// Udesk's push occasions with Chinese and English labels.
    async fn occasions(&self, ctx: &Context<'_>) -> Result<Vec<CodeLabel>, ApiError> {
        code_list(ctx, CodeList::Occasions).await
    }

    /// Udesk's advanced-call types (`category`) with Chinese and English labels.
    async fn categories(&self, ctx: &Context<'_>) -> Result<Vec<CodeLabel>, ApiError> {
        code_list(ctx, CodeList::Categories).await
    }

    /// Udesk's workflows with Chinese and English labels.
    async fn workflows(&self, ctx: &Context<'_>) -> Result<Vec<CodeLabel>, ApiError> {
        code_list(ctx, CodeList::Workflows).await
    }

    /// Udesk's outbound failure reasons (`defeatCause` holds a `name`).
    async fn defeat_causes(&self, ctx: &Context<'_>) -> Result<Vec<DefeatCause>, ApiError> {
        Ok(store(ctx)?.defeat_causes().await?)
    }

    /// Pushes the webhook refused, newest first, for operators to inspect and replay.
    #[graphql(complexity = "page_complexity(first, None, child_complexity)")]
    async fn rejected_pushes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many: 0 to 500, default 50.")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
    ) -> Result<RejectedPushConnection, ApiError> {
        let limit = page_size(first, None)?;
        let before_id = after.as_deref().map(read_rejected_cursor).transpose()?;
        let page = store(ctx)?.rejected_page(before_id, limit).await?;
        let edges: Vec<RejectedPushEdge> = page
            .pushes
            .into_iter()
            .map(|push| RejectedPushEdge {
                cursor: rejected_cursor(push.id),
                node: push,
            })
            .collect();
        Ok(RejectedPushConnection {
            total_count: page.total_count,
            page_info: PageInfo {
                has_next_page: page.has_more,
                has_previous_page: page.has_newer,
                start_cursor: edges.first().map(|edge| edge.cursor.clone()),
                end_cursor: edges.last().map(|edge| edge.cursor.clone()),
            },
            nodes: edges.iter().map(|edge| edge.node.clone()).collect(),
            edges,
        })
    }

    /// Where stored pushes are forwarded (`serve --forward-to`), in the
    /// order given, then any URL no longer given that still has pushes
    /// queued; with each, how many pushes are pending, parked and delivered.
    async fn forwarding_targets(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<ForwardingTarget>, ApiError> {
        let store = store(ctx)?;
        let configured = store.push_job_targets(JobKind::Forward);
        Ok(store
            .job_targets(JobKind::Forward)
            .await?
            .into_iter()
            .map(|summary| {
                let is_configured = configured.contains(&summary.target);
                ForwardingTarget::of(summary, is_configured)
            })
            .collect())
    }

    /// The recordings archive (`serve --recordings-to`): recordings pending,
    /// archived and failed, and the bytes kept; all zero when recordings
    /// were never archived.
    async fn recordings_archive(&self, ctx: &Context<'_>) -> Result<RecordingsArchive, ApiError> {
        Ok(store(ctx)?.archive_totals().await?.into())
    }
}

async fn code_list(ctx: &Context<'_>, list: CodeList) -> Result<Vec<CodeLabel>, ApiError> {
    Ok(store(ctx)?.code_list(list).await?)
}
