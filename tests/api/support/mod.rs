//! Shared test support.
//!
//! - [`app`]: the real app served in the test's runtime on 127.0.0.1:0 with
//!   its own temporary database, and a client for its webhook and `/graphql`.
//! - [`binary`]: the real `udesk-calls` binary, run as an operator runs it.
//! - [`calls`]: generated calls and pushes.
//! - [`chromium`]: headless Chromium over the DevTools protocol.
//! - [`payloads`]: the recorded pushes in `tests/payloads/`.
//! - [`db`]: read-only views of a database file.
//! - [`fuzz_input`]: fuzzer-chosen pushes, edited from recorded ones;
//!   [`fuzz_runs`]: budgets, counts and a hang watchdog for fuzz targets.
//! - [`steady_pushes`]: concurrent senders that remember what was answered 200.
//! - [`subscriber`]: a `graphql-transport-ws` client over a real WebSocket.
//! - [`receiver`]: a real HTTP receiver for forwarded pushes that can fail
//!   at random; [`forwarded`]: what it got, checked against the database.
//! - [`tmpfs`]: a small real filesystem a test can fill up.
//! - [`tools`]: programs run beside the service (Datasette, Litestream from a
//!   cached virtualenv; a pseudo-terminal) and a guard that ends them.

pub mod app;
pub mod audio_source;
pub mod binary;
pub mod calls;
pub mod chromium;
pub mod db;
pub mod forwarded;
pub mod fuzz_input;
pub mod fuzz_runs;
pub mod payloads;
pub mod receiver;
pub mod skip;
pub mod steady_pushes;
pub mod subscriber;
pub mod tmpfs;
pub mod tools;

pub use app::{TestApp, WEBHOOK};
