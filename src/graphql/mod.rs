//! The GraphQL API: the schema, its limits, and its SDL.
//!
//! The contract (`service.md`, "GraphQL") fixes the core names; the rest is
//! described in the schema itself (`schema.graphql`). The API serves the
//! domain's and the store's own types ([`Call`](crate::domain::Call), the
//! rows of `storage::read`): this module adds their GraphQL fields and
//! descriptions (`call`, `collections`, `stats`, `lookups`, `forwarding`), paging
//! (`connection`), input validation (`filter`), batching (`loaders`) and
//! the roots (`query`, and `subscription`, the live updates); what a query may cost (`cost`, `stats_cost`, `limits`) and the
//! runtime queries run on (`runtime`).

pub mod budget;
pub mod call;
pub mod collections;
pub mod connection;
pub mod cost;
pub mod enums;
pub mod error;
pub mod filter;
pub mod forwarding;
pub mod limits;
pub mod live_feed;
pub mod loaders;
pub mod lookups;
pub mod query;
pub mod recordings;
pub mod relay;
pub mod runtime;
pub mod stats;
pub mod stats_cost;
pub mod subscription;

use std::sync::Arc;
use std::time::Duration;

use async_graphql::dataloader::DataLoader;
use async_graphql::{EmptyMutation, Schema, SchemaBuilder};
use chrono::FixedOffset;

use crate::storage::Store;

pub use limits::{MAX_COMPLEXITY, MAX_DEPTH};
pub use live_feed::LiveFeed;
pub use query::{Query, StatsOffset};
pub use subscription::Subscription;

pub type ApiSchema = Schema<Query, EmptyMutation, Subscription>;

fn builder() -> SchemaBuilder<Query, EmptyMutation, Subscription> {
    Schema::build(Query, EmptyMutation, Subscription).extension(limits::QueryLimits)
}

/// The schema serving `store`, with days of statistics in `default_offset`
/// and answers of at most `max_response_bytes`.
pub fn build_schema(
    store: Arc<Store>,
    default_offset: FixedOffset,
    max_response_bytes: usize,
) -> ApiSchema {
    let loader = DataLoader::new(
        loaders::CallLoader {
            store: store.clone(),
            max_body_bytes: max_response_bytes,
        },
        |load| tokio::spawn(runtime::traced(load)),
    )
    // A page's resolvers queue their loads over a few polls of the request;
    // the loader waits this long for them, then reads every key queued in
    // one go. 200 µs still gathers a page of 40 calls' children in one read
    // (a test counts them), and a slower page costs one read more, not one
    // per call. Tokio's timer rounds the wait up to its next millisecond
    // tick, so a call looked up alone skips the loader (`call::load_one`).
    .delay(Duration::from_micros(200));
    builder()
        .data(Arc::new(LiveFeed::new(store.clone())))
        .data(store)
        .data(StatsOffset(default_offset))
        .data(Arc::new(stats_cost::BoundsCache::default()))
        .data(loader)
        .finish()
}

/// The schema in SDL, as `udesk-calls schema` prints it and `schema.graphql` holds it.
pub fn sdl() -> String {
    builder().finish().sdl()
}
