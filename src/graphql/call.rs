//! The `Call` type: the domain's [`Call`] served as is, its push fields
//! expanded from the push table, so each is typed and camelCased without
//! being written out here.
//!
//! The scalar fields are read from the stored row; events, collections,
//! parse warnings and related calls are loaded through the data loader
//! ([`super::loaders`]), so a page of calls costs one query per kind of
//! child, not one per call.

use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, ID, Object, OutputType, QueryPathSegment};
use chrono::{DateTime, FixedOffset};

use crate::domain::collections::{
    CalloutTask, CustomField, IvrRecording, IvrVariable, QuestionnaireAnswer,
};
use crate::domain::fields::kind;
use crate::domain::table::with_push_table;
use crate::domain::{Call, CollectionKind, UdeskId};
use crate::storage::CallEvent;
use crate::storage::read::{Child, Children, EventWarning};

use super::budget::RequestBudget;
use super::collections::ShownInCall;
use super::enums::ApiCallStatus;
use super::error::ApiError;
use super::loaders::{CallLoader, ChildrenOf, SharingCallId};
use super::recordings::{Recording, recording_of};

/// What `relatedCalls` may cost, as a multiple of the fields asked of each:
/// a series rarely holds more than a few calls, and nesting it should cost.
const RELATED_CALLS_COST: usize = 10;

/// How many elements a call's list (its events, a collection, its parse
/// warnings) is counted as holding: a call has a handful of pushes and
/// most collections a few elements, so a page of calls costs its lists
/// several times over, not once.
const CHILD_LIST_COST: usize = 5;

/// The complexity of one of a call's lists: its element's fields (one for
/// a list of scalars) for each element it is counted as holding.
fn child_list_complexity(child_complexity: usize) -> usize {
    CHILD_LIST_COST * child_complexity.max(1) + 1
}

/// How a push field's value is served.
pub trait ToGraphql {
    type Output: OutputType;
    fn to_graphql(&self) -> Self::Output;
}

impl ToGraphql for String {
    type Output = String;
    fn to_graphql(&self) -> String {
        self.clone()
    }
}

impl ToGraphql for i64 {
    type Output = i64;
    fn to_graphql(&self) -> i64 {
        *self
    }
}

impl ToGraphql for bool {
    type Output = bool;
    fn to_graphql(&self) -> bool {
        *self
    }
}

impl ToGraphql for DateTime<FixedOffset> {
    type Output = DateTime<FixedOffset>;
    fn to_graphql(&self) -> DateTime<FixedOffset> {
        *self
    }
}

/// Udesk ids exceed 32 bits: served as `ID` strings.
impl ToGraphql for UdeskId {
    type Output = ID;
    fn to_graphql(&self) -> ID {
        ID(self.0.to_string())
    }
}

/// Expands the push table into `#[Object] impl Call`. The table's first
/// field, `call_id`, is served beside the call's own id, as the schema has
/// always listed it.
macro_rules! call_object {
    (
        fields {
            $(#[doc = $first_doc:literal])* $first:ident : $first_kind:ident ,
            $( $(#[doc = $doc:literal])* $name:ident : $kind:ident $(= $udesk:literal)? $(| $alias:literal)* ),* $(,)?
        }
        collections {
            $( $(#[doc = $cdoc:literal])* $variant:ident $cname:ident : $item:ty = $reader:ident,
                [$($key:literal),*] => $table:literal ($($column:ident),*) ),* $(,)?
        }
    ) => {
        /// One call (one `conversation_id`), merged from all its pushes: each field
        /// holds the latest pushed value, and once the `end` push is stored, its values.
        #[Object]
        #[allow(clippy::wrong_self_convention, reason = "Udesk's `from_agent_id` is a field, not a conversion")]
        impl Call {
            /// An opaque id of this call for Relay and normalized caches
            /// (`Node`), stable across restarts; `conversationId` is Udesk's.
            pub async fn id(&self) -> ID {
                super::relay::call_id(self.conversation_id)
            }

            /// Udesk's id of this call. A string: it may exceed 32 bits.
            async fn conversation_id(&self) -> ID {
                ID(self.conversation_id.to_string())
            }

            $(#[doc = $first_doc])*
            async fn $first(&self) -> Option<<kind::$first_kind as ToGraphql>::Output> {
                self.scalars.$first.as_ref().map(ToGraphql::to_graphql)
            }

            /// `IN_PROGRESS` until the `end` push is stored, then `ENDED`.
            async fn status(&self) -> ApiCallStatus {
                self.status.into()
            }

            /// The occasion of the latest push by event time, e.g. `end` (see `occasions`).
            async fn last_occasion(&self) -> &str {
                &self.last_occasion
            }

            /// `callStartAt`; failing that, the earliest ring time of any push;
            /// failing that, the earliest push timestamp; failing that (no push
            /// carried a time), when the first push arrived.
            async fn started_at(&self) -> Option<DateTime<FixedOffset>> {
                Some(self.started_at)
            }

            $(
                $(#[doc = $doc])*
                async fn $name(&self) -> Option<<kind::$kind as ToGraphql>::Output> {
                    self.scalars.$name.as_ref().map(ToGraphql::to_graphql)
                }
            )*

            /// How many distinct pushes of this call are stored.
            async fn event_count(&self) -> i64 {
                self.event_count
            }

            /// When the first push of this call arrived.
            async fn first_received_at(&self) -> DateTime<FixedOffset> {
                self.first_received_at
            }

            /// When the latest new push of this call arrived (a redelivery is
            /// counted in its event's `deliveries`, not here).
            async fn last_received_at(&self) -> DateTime<FixedOffset> {
                self.last_received_at
            }

            /// Every stored push of this call, whole, in event-time order (pushes
            /// without a timestamp first, then by arrival).
            #[graphql(complexity = "child_list_complexity(child_complexity)")]
            async fn events(&self, ctx: &Context<'_>) -> Result<Vec<CallEvent>, ApiError> {
                // Bodies are read and decompressed only when asked for.
                // The bodies of one call may take what the answer (or the
                // subscription's message) may hold, no more.
                let asked = ctx.look_ahead();
                let limit = ctx.data_opt::<Arc<RequestBudget>>().map_or_else(
                    || ctx.data_unchecked::<DataLoader<CallLoader>>().loader().max_body_bytes,
                    |budget| budget.max_response_bytes(),
                );
                let bodies = (asked.field("payload").exists() || asked.field("body").exists())
                    .then_some(limit);
                match load(ctx, self, Child::Events { bodies }).await? {
                    Some(Children::Events(events)) => {
                        let bytes: usize = events.iter().map(|event| event.body.len()).sum();
                        let budget = ctx.data_opt::<Arc<RequestBudget>>();
                        if bodies.is_some() && budget.is_some_and(|b| !b.add_bodies_loaded(bytes)) {
                            return Err(ApiError::TooLarge(limit));
                        }
                        Ok(events.as_ref().clone())
                    }
                    Some(Children::EventsTooLarge) => Err(ApiError::TooLarge(limit)),
                    _ => Ok(Vec::new()),
                }
            }

            $(
                $(#[doc = $cdoc])*
                #[graphql(complexity = "child_list_complexity(child_complexity)")]
                async fn $cname(
                    &self,
                    ctx: &Context<'_>,
                ) -> Result<Vec<<$item as ShownInCall>::Shown>, ApiError> {
                    let child = Child::Collection(CollectionKind::$variant);
                    Ok(match load(ctx, self, child).await? {
                        Some(Children::Collection(collections)) => collections
                            .$cname
                            .unwrap_or_default()
                            .into_iter()
                            .enumerate()
                            .map(|(position, item)| item.shown_in(self.conversation_id, position))
                            .collect(),
                        _ => Vec::new(),
                    })
                }
            )*

            /// Fields of this call's pushes that could not be read; their normalized
            /// value was left empty, the raw push keeps them.
            #[graphql(complexity = "child_list_complexity(child_complexity)")]
            async fn parse_warnings(&self, ctx: &Context<'_>) -> Result<Vec<EventWarning>, ApiError> {
                Ok(match load(ctx, self, Child::ParseWarnings).await? {
                    Some(Children::ParseWarnings(warnings)) => warnings,
                    _ => Vec::new(),
                })
            }

            /// The call's recording (`recordUrl`) and the copy kept of it; null
            /// when the call has none.
            async fn recording(&self, ctx: &Context<'_>) -> Result<Option<Recording>, ApiError> {
                let Some(url) = self.scalars.record_url.as_deref() else {
                    return Ok(None);
                };
                Ok(Some(recording_of(ctx, self.conversation_id, "", url.trim()).await?))
            }

            /// The other calls of the same `callId` (transfers, consults…), by start
            /// time; empty when this call has no `callId`.
            #[graphql(complexity = "RELATED_CALLS_COST * child_complexity + 1")]
            async fn related_calls(&self, ctx: &Context<'_>) -> Result<Vec<Call>, ApiError> {
                let Some(call_id) = self.scalars.call_id.clone() else {
                    return Ok(Vec::new());
                };
                let calls = load_one(ctx, SharingCallId(call_id)).await?;
                Ok(calls
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|call| call.conversation_id != self.conversation_id)
                    .collect())
            }
        }
    };
}

with_push_table!(call_object);

/// Loads one kind of child of `call`.
async fn load(ctx: &Context<'_>, call: &Call, child: Child) -> Result<Option<Children>, ApiError> {
    load_one(
        ctx,
        ChildrenOf {
            child,
            conversation_id: call.conversation_id,
        },
    )
    .await
}

/// Loads `key` through the batching loader when the field's object is one
/// of a list, at once when it is alone.
pub async fn load_one<K>(
    ctx: &Context<'_>,
    key: K,
) -> Result<Option<<CallLoader as Loader<K>>::Value>, ApiError>
where
    K: Send + Sync + Clone + Eq + std::hash::Hash + 'static,
    CallLoader: Loader<K, Error = ApiError>,
{
    let loader = ctx.data_unchecked::<DataLoader<CallLoader>>();
    if in_a_list(ctx) {
        loader.load_one(key).await
    } else {
        Ok(loader
            .loader()
            .load(std::slice::from_ref(&key))
            .await?
            .remove(&key))
    }
}

/// Whether the field being resolved belongs to an element of a list (a
/// page's nodes, related calls…), whose siblings' loads are worth waiting
/// for. A call looked up alone has none: the loader's wait (a timer, which
/// tokio rounds up to the next millisecond) would be most of its lookup.
fn in_a_list(ctx: &Context<'_>) -> bool {
    ctx.path_node.is_some_and(|node| {
        std::iter::once(&node)
            .chain(node.parents())
            .any(|node| matches!(node.segment, QueryPathSegment::Index(_)))
    })
}
