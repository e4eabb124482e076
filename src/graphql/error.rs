//! The API's errors and their `extensions.code`.
//!
//! Every code comes from where the error arises: resolvers return
//! [`ApiError`], each variant one code; the query limits
//! ([`super::limits`]) refuse with `QUERY_TOO_COMPLEX` or
//! `RESPONSE_TOO_LARGE`, the time limit with `QUERY_TIMEOUT`; what async-graphql
//! refuses itself before running anything (syntax, validation, variables)
//! is the client's mistake, `BAD_USER_INPUT` ([`code_or_bad_input`]). Storage failures
//! are logged with their detail and shown to clients only as "internal
//! error", so SQL and paths never leak. There is no `NOT_FOUND`: an unknown
//! call is `null` (the contract), and a cursor stays valid even when its
//! call is gone, since pages continue from the cursor's key, not its row.

use async_graphql::{ErrorExtensions, ServerError};

use crate::storage::StoreError;

/// The code of a request the client got wrong.
pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
/// The code of a query over the depth or complexity limit.
pub const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";
/// The code of an answer that would exceed the response size limit.
pub const RESPONSE_TOO_LARGE: &str = "RESPONSE_TOO_LARGE";
/// The code of a request that ran past the time limit and was stopped.
pub const QUERY_TIMEOUT: &str = "QUERY_TIMEOUT";
pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
/// The code of a subscription that fell too far behind the updates: it
/// ends, and its connection is closed.
pub const SUBSCRIBER_TOO_SLOW: &str = "SUBSCRIBER_TOO_SLOW";
/// The code of a subscription whose updates could not all be read: it
/// ends, and its connection is closed.
pub const UPDATES_LOST: &str = "UPDATES_LOST";
pub const INTERNAL: &str = "INTERNAL";

/// Why a resolver failed. Deliberately not `Display`: async-graphql turns
/// any `Display` into an error without a code, and every error here has one.
#[derive(Clone, Debug)]
pub enum ApiError {
    /// An argument is invalid: a page size, a cursor, an id.
    BadUserInput(String),
    /// The store failed; the detail is logged, not shown.
    Internal,
    /// A subscriber fell too far behind the updates and missed some.
    FellBehind,
    /// Updates could not be read for every subscriber.
    UpdatesLost,
    /// What was asked would exceed the response limit, in bytes.
    TooLarge(usize),
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
            ApiError::Internal => (
                "internal error; the server log has the details".to_owned(),
                INTERNAL,
            ),
            ApiError::FellBehind => (
                "this subscriber fell more than 1,024 updates behind and missed some; the \
                 connection is closed: subscribe again and read what changed meanwhile with \
                 `calls`"
                    .to_owned(),
                SUBSCRIBER_TOO_SLOW,
            ),
            ApiError::UpdatesLost => (
                "updates were lost on the server (it fell behind, or a read failed); the \
                 connection is closed: subscribe again and read what changed meanwhile with \
                 `calls`"
                    .to_owned(),
                UPDATES_LOST,
            ),
            ApiError::TooLarge(limit) => (
                format!(
                    "Response too large: this call's pushes alone exceed {limit} bytes; ask for \
                     its events without `payload` and `body`, or fewer of its calls at once"
                ),
                RESPONSE_TOO_LARGE,
            ),
        };
        async_graphql::Error::new(message).extend_with(|_, extensions| extensions.set("code", code))
    }
}

/// `error` with `extensions.code` set to `code`.
pub fn with_code(mut error: ServerError, code: &str) -> ServerError {
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
    error
}

/// Gives `BAD_USER_INPUT` to an error without a code: only async-graphql's
/// own refusals of a request it could not run lack one.
pub fn code_or_bad_input(error: &mut ServerError) {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", BAD_USER_INPUT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_and_message(error: ApiError) -> (String, String) {
        let error = async_graphql::Error::from(error);
        let code = error
            .extensions
            .as_ref()
            .and_then(|extensions| extensions.get("code"))
            .map(|code| code.to_string())
            .unwrap_or_default();
        (code, error.message)
    }

    #[test]
    fn a_store_failure_is_internal_and_its_detail_is_not_shown() {
        let failure = StoreError::Internal("no such table: calls at /srv/secret/path.db".into());
        let (code, message) = code_and_message(ApiError::from(failure));
        assert_eq!(code, "\"INTERNAL\"");
        assert!(
            !message.contains("secret") && !message.contains("calls"),
            "{message}"
        );
    }

    #[test]
    fn bad_input_keeps_its_message_and_code() {
        let (code, message) =
            code_and_message(ApiError::bad_input("first must be between 0 and 500"));
        assert_eq!(code, "\"BAD_USER_INPUT\"");
        assert_eq!(message, "first must be between 0 and 500");
    }
}
