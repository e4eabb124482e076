//! The read side of the store: the queries the GraphQL API runs.
//!
//! Every function takes a connection from [`crate::Store::read`] and returns
//! plain records; the SQL builders are public so the query-plan test can
//! examine exactly the statements the service runs.

pub mod calls;
pub mod children;
pub mod filter;
pub mod lookups;
pub mod stats;

pub use calls::{CallOrder, CallRecord, Page, PageQuery, Position};
pub use filter::CallFilter;
pub use stats::{Dimension, StatsRecord};
