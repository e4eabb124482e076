//! udesk-calls: receives Udesk's call event pushes, keeps every push and a
//! merged picture of every call in SQLite, and serves the calls over GraphQL.
//!
//! The layers, from the wire inwards:
//!
//! - [`wire`]: the bytes of a push → a JSON object; tolerant readers for
//!   Udesk's values (numbers in strings, three time formats, …).
//! - [`domain`]: a validated [`domain::Push`], the table of fields, and the
//!   merge of a call's pushes into one [`domain::CallProjection`].
//! - [`ingest`]: the pipeline the webhook and `import` share.
//! - [`storage`]: SQLite, and nothing else touches it: migrations, the single
//!   group-committing writer, the reader pool, the read queries, `reprocess`.
//! - [`graphql`]: the API's types and resolvers over `storage::read`.
//! - Transports: [`http`] (webhook, `/graphql`, GraphiQL, the server) and
//!   [`cli`] (the commands).
//! - [`config`]: validated settings.

pub mod cli;
pub mod config;
pub mod domain;
pub mod graphql;
pub mod http;
pub mod ingest;
pub mod storage;
pub mod wire;

pub use config::Settings;
pub use http::serve;
pub use storage::{Store, StoreOptions};
