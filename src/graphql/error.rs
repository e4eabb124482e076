//! The API's errors and their `extensions.code`.
//!
//! Resolvers return [`ApiError`]; each variant is one code. Storage failures
//! are logged with their detail and shown to clients only as "internal
//! error", so SQL and paths never leak.

use async_graphql::ErrorExtensions;

use crate::storage::StoreError;

/// The code of a request the client got wrong.
pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
/// The code of a query over the depth or complexity limit.
pub const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";
pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
pub const NOT_FOUND: &str = "NOT_FOUND";
pub const INTERNAL: &str = "INTERNAL";

/// Why a resolver failed. Deliberately not `Display`: async-graphql turns
/// any `Display` into an error without a code, and every error here has one.
#[derive(Clone, Debug)]
pub enum ApiError {
    /// An argument is invalid: a page size, a cursor, an id.
    BadUserInput(String),
    /// Something the request names does not exist.
    NotFound(String),
    /// The store failed; the detail is logged, not shown.
    Internal,
}

impl ApiError {
    pub fn bad_input(message: impl Into<String>) -> ApiError {
        ApiError::BadUserInput(message.into())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "a GraphQL query failed in the store");
        ApiError::Internal
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        let (message, code) = match error {
            ApiError::BadUserInput(message) => (message, BAD_USER_INPUT),
            ApiError::NotFound(message) => (message, NOT_FOUND),
            ApiError::Internal => (
                "internal error; the server log has the details".to_owned(),
                INTERNAL,
            ),
        };
        async_graphql::Error::new(message).extend_with(|_, extensions| extensions.set("code", code))
    }
}
