//! What a push and a call are, independent of HTTP and SQL: validation at
//! the boundary (`push`), the table of fields (`fields`), the collections, and
//! the merge of many pushes into one call (`call`).

pub mod call;
pub mod collections;
pub mod fields;
pub mod push;

pub use call::{CallProjection, CallStatus, StoredPush, project};
pub use push::{ParseWarning, Push, PushError};
