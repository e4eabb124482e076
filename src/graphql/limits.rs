//! The bounds on what one query may cost, enforced as a schema extension so
//! that its refusal carries its own code (`QUERY_TOO_COMPLEX`) rather than
//! one guessed from a message.
//!
//! async-graphql computes a query's depth and complexity while validating
//! it; this extension compares them with the limits below.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextValidation};
use async_graphql::{ServerError, ValidationResult};

use super::error::with_code;

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

/// The extension refusing queries over [`MAX_DEPTH`] or [`MAX_COMPLEXITY`].
pub struct QueryLimits;

impl ExtensionFactory for QueryLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(QueryLimits)
    }
}

#[async_trait::async_trait]
impl Extension for QueryLimits {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        let refusal = if result.complexity > MAX_COMPLEXITY {
            format!(
                "Query is too complex: it may cost {}, the limit is {MAX_COMPLEXITY}; ask for fewer items or fields",
                result.complexity
            )
        } else if result.depth > MAX_DEPTH {
            format!(
                "Query is nested too deep: {} levels, the limit is {MAX_DEPTH}",
                result.depth
            )
        } else {
            return Ok(result);
        };
        Err(vec![with_code(
            ServerError::new(refusal, None),
            super::error::QUERY_TOO_COMPLEX,
        )])
    }
}
