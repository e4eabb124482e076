//! The GraphQL API: the schema, its limits, and its SDL.
//!
//! The contract (`service.md`, "GraphQL") fixes the core names; the rest is
//! described in the schema itself (`schema.graphql`). Types live beside the
//! store records they serve: `call` and `collections` for calls, `connection`
//! for paging, `stats`, `lookups`, and `query` for the root.

pub mod call;
pub mod call_children;
pub mod collections;
pub mod connection;
pub mod error;
pub mod filter;
pub mod loaders;
pub mod lookups;
pub mod query;
pub mod stats;

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{EmptyMutation, EmptySubscription, Schema, SchemaBuilder};
use chrono::FixedOffset;

use crate::storage::Store;

pub use query::{Query, StatsOffset};

pub type ApiSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// How deep a query may nest. A dashboard query (calls → edges → node →
/// events → payload, or one level of related calls) needs about 6; the
/// introspection query GraphiQL sends when it opens needs 15, and the IDE
/// shows no schema without it. Cost is bounded by [`MAX_COMPLEXITY`].
pub const MAX_DEPTH: usize = 15;

/// The most a query may cost. A connection costs its children once per call
/// it may return, so a page of 500 calls with ~60 fields and their events and
/// collections (~150 per call) fits; asking for 500 calls and their related
/// calls' related calls does not.
pub const MAX_COMPLEXITY: usize = 100_000;

fn builder() -> SchemaBuilder<Query, EmptyMutation, EmptySubscription> {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
}

/// The schema serving `store`, with days of statistics in `default_offset`.
pub fn build_schema(store: Arc<Store>, default_offset: FixedOffset) -> ApiSchema {
    let loader = DataLoader::new(
        loaders::CallLoader {
            store: store.clone(),
        },
        tokio::spawn,
    );
    builder()
        .data(store)
        .data(StatsOffset(default_offset))
        .data(loader)
        .finish()
}

/// The schema in SDL, as `udesk-calls schema` prints it and `schema.graphql` holds it.
pub fn sdl() -> String {
    builder().finish().sdl()
}
