//! udesk-calls: receives Udesk's call event pushes, keeps every push and a
//! merged picture of every call in SQLite, and serves the calls over GraphQL.
//!
//! The layers, from the wire inwards; each imports only from those above it
//! in this list:
//!
//! - [`wire`]: the bytes of a push → a JSON object; tolerant readers for
//!   Udesk's values (numbers in strings, three time formats, …).
//! - [`domain`]: the push table (every field and collection, listed once), a
//!   validated [`domain::Push`], the preparation of a body, and the merge of a
//!   call's pushes into one [`domain::Call`].
//! - [`storage`]: SQLite, and nothing else names it: migrations, the single
//!   group-committing writer, the reader pool and the typed reads of
//!   [`Store`], `reprocess`.
//! - Transports: [`graphql`] (the API's schema over the store's types),
//!   [`http`] (webhook, `/graphql`, GraphiQL, health, metrics, the server),
//!   [`jobs`] (the runner of the job queue's work: claims, order, retries,
//!   a destination's health), [`forward`] (every stored push passed on to
//!   other URLs, a kind of job), [`recordings`] (every recording archived
//!   before its link expires, a kind of job) and [`cli`] (the commands, logging), with [`config`] (validated
//!   settings), and [`export`] (calls as CSV or NDJSON for `export` and
//!   `GET /export/calls.csv`).
//!
//! `ARCHITECTURE.md` has the bird's-eye view and the invariants.

pub mod cli;
pub mod config;
pub mod domain;
pub mod export;
pub mod forward;
pub mod graphql;
pub mod http;
pub mod jobs;
pub mod recordings;
pub mod storage;
pub mod wire;

pub use config::Settings;
pub use http::serve;
pub use storage::{Store, StoreOptions};
