//! The GraphQL API: the schema, its limits, and its SDL.
//!
//! The contract (`service.md`, "GraphQL") fixes the core names; the rest is
//! described in the schema itself (`schema.graphql`). The API serves the
//! domain's and the store's own types ([`Call`](crate::domain::Call), the
//! rows of `storage::read`): this module adds their GraphQL fields and
//! descriptions (`call`, `collections`, `stats`, `lookups`, `forwarding`), paging
//! (`connection`), input validation (`filter`), batching (`loaders`) and
//! the root (`query`); what a query may cost (`cost`, `limits`) and the
//! runtime queries run on (`runtime`).

pub mod budget;
pub mod call;
pub mod collections;
pub mod connection;
pub mod cost;
pub mod error;
pub mod filter;
pub mod forwarding;
pub mod limits;
pub mod loaders;
pub mod lookups;
pub mod query;
pub mod runtime;
pub mod stats;

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{EmptyMutation, EmptySubscription, Schema, SchemaBuilder};
use chrono::FixedOffset;

use crate::storage::Store;

pub use limits::{MAX_COMPLEXITY, MAX_DEPTH};
pub use query::{Query, StatsOffset};

pub type ApiSchema = Schema<Query, EmptyMutation, EmptySubscription>;

fn builder() -> SchemaBuilder<Query, EmptyMutation, EmptySubscription> {
    Schema::build(Query, EmptyMutation, EmptySubscription).extension(limits::QueryLimits)
}

/// The schema serving `store`, with days of statistics in `default_offset`.
pub fn build_schema(store: Arc<Store>, default_offset: FixedOffset) -> ApiSchema {
    let loader = DataLoader::new(
        loaders::CallLoader {
            store: store.clone(),
        },
        |load| tokio::spawn(runtime::traced(load)),
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
