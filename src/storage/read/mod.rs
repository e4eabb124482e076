//! The read side of the store: the queries the API runs, as typed methods of
//! [`Store`].
//!
//! Each method runs its SQL on a pooled reader off the async runtime. The
//! SQL builders are public so the query-plan test can examine exactly the
//! statements the service runs.

pub mod calls;
pub mod children;
pub mod conditions;
pub mod filter;
pub mod live;
pub mod lookups;
pub mod stats;

use std::collections::HashMap;

pub use calls::{CallOrder, Page, PageQuery, Position};
pub use children::{Child, Children, EventWarning};
pub use conditions::LiveFilter;
pub use filter::CallFilter;
pub use live::LiveCall;
pub use lookups::{Agent, CodeLabel, CodeList, DefeatCause, RejectedPush};
pub use stats::{CallDimension, CallStatsRow, StatsBounds, StatsQuery};

use super::{Store, StoreError};
use crate::domain::{Call, ConversationId};

/// A page of rejected pushes, newest first.
#[derive(Clone, Debug)]
pub struct RejectedPage {
    pub pushes: Vec<RejectedPush>,
    /// Whether older ones follow.
    pub has_more: bool,
    /// Whether newer ones precede (the page started after a cursor).
    pub has_newer: bool,
    pub total_count: i64,
}

impl Store {
    /// One call by id.
    pub async fn call(&self, id: ConversationId) -> Result<Option<Call>, StoreError> {
        self.read(move |conn| calls::call_by_id(conn, id)).await
    }

    /// One page of the calls matching `filter` and, when `count`, how many
    /// match in all.
    pub async fn calls_page(
        &self,
        filter: CallFilter,
        page: PageQuery,
        count: bool,
    ) -> Result<(Page, Option<i64>), StoreError> {
        // One read for both: each read is a trip to a reader thread and back.
        self.read(move |conn| {
            let calls = calls::calls_page(conn, &filter, &page)?;
            let total = count
                .then(|| calls::count_calls(conn, &filter))
                .transpose()?;
            Ok((calls, total))
        })
        .await
    }

    /// How many calls match `filter`.
    pub async fn count_calls(&self, filter: CallFilter) -> Result<i64, StoreError> {
        self.read(move |conn| calls::count_calls(conn, &filter))
            .await
    }

    /// Whether a matching call lies at or beyond `position` (after it when
    /// `after`, else before it).
    pub async fn any_call_beyond(
        &self,
        filter: CallFilter,
        order: CallOrder,
        position: Position,
        after: bool,
    ) -> Result<bool, StoreError> {
        self.read(move |conn| calls::any_call_beyond(conn, &filter, order, position, after))
            .await
    }

    /// The calls of each `call_id`, by start time.
    pub async fn calls_sharing(
        &self,
        call_ids: Vec<String>,
    ) -> Result<HashMap<String, Vec<Call>>, StoreError> {
        self.read(move |conn| calls::calls_by_call_ids(conn, &call_ids))
            .await
    }

    /// Children of several kinds for several calls, in one read; a call
    /// whose bodies exceed the bound asked has none (`EventsTooLarge`).
    pub async fn children_of(
        &self,
        wanted: HashMap<Child, Vec<ConversationId>>,
    ) -> Result<HashMap<(Child, ConversationId), Children>, StoreError> {
        let bodies = self.bodies.clone();
        self.read(move |conn| {
            let mut found = HashMap::new();
            for (child, ids) in wanted {
                for (id, children) in children::children_of(conn, &bodies, child, &ids)? {
                    found.insert((child, id), children);
                }
            }
            Ok(found)
        })
        .await
    }

    /// Statistics of the calls matching the query's filter, grouped by its
    /// dimensions.
    pub async fn stats(&self, query: StatsQuery) -> Result<Vec<CallStatsRow>, StoreError> {
        self.read(move |conn| stats::call_stats(conn, &query)).await
    }

    /// What bounds the work of statistics over the calls started in
    /// `[from_ms, before_ms)`, days counted in `offset_seconds`.
    pub async fn stats_bounds(
        &self,
        from_ms: Option<i64>,
        before_ms: Option<i64>,
        offset_seconds: i32,
    ) -> Result<StatsBounds, StoreError> {
        self.read(move |conn| stats::stats_bounds(conn, from_ms, before_ms, offset_seconds))
            .await
    }

    /// Every agent seen in the calls.
    pub async fn agents(&self) -> Result<Vec<Agent>, StoreError> {
        self.read(lookups::agents).await
    }

    /// One of Udesk's code lists.
    pub async fn code_list(&self, list: CodeList) -> Result<Vec<CodeLabel>, StoreError> {
        self.read(move |conn| lookups::code_list(conn, list)).await
    }

    /// Udesk's outbound failure reasons.
    pub async fn defeat_causes(&self) -> Result<Vec<DefeatCause>, StoreError> {
        self.read(lookups::defeat_causes).await
    }

    /// Rejected pushes newest first, older than the one with id `before_id`.
    pub async fn rejected_page(
        &self,
        before_id: Option<i64>,
        limit: usize,
    ) -> Result<RejectedPage, StoreError> {
        self.read(move |conn| {
            let (pushes, has_more) = lookups::rejected_pushes(conn, before_id, limit)?;
            Ok(RejectedPage {
                pushes,
                has_more,
                has_newer: match before_id {
                    Some(id) => lookups::any_rejected_from(conn, id)?,
                    None => false,
                },
                total_count: lookups::count_rejected_pushes(conn)?,
            })
        })
        .await
    }
}
