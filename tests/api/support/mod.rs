//! Shared test support.
//!
//! - [`app`]: the real app served in the test's runtime on 127.0.0.1:0 with
//!   its own temporary database, and a client for its webhook and `/graphql`.
//! - [`binary`]: the real `udesk-calls` binary, run as an operator runs it.
//! - [`calls`]: generated calls and pushes.
//! - [`payloads`]: the recorded pushes in `tests/payloads/`.
//! - [`db`]: read-only views of a database file.

pub mod app;
pub mod binary;
pub mod calls;
pub mod db;
pub mod payloads;

pub use app::{TestApp, WEBHOOK};
