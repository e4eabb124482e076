//! Relay-style pages of calls: opaque cursors, page sizes, `pageInfo`.
//!
//! A cursor is the base64 of the order's name, the call's sort key and its
//! `conversation_id`; the store pages by that key (keyset pagination), so a
//! walk stays exact while calls arrive. A cursor names its order, so one
//! taken from another order is refused rather than misread.

use std::sync::Arc;

use async_graphql::{Object, SimpleObject};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::domain::{Call, ConversationId};
use crate::storage::Store;
use crate::storage::read::{CallFilter, CallOrder, Page, PageQuery, Position};

use super::error::ApiError;

/// Page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE_SIZE: i32 = 50;
/// The largest `first` or `last` accepted.
pub const MAX_PAGE_SIZE: i32 = 500;

pub fn encode_cursor(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

/// The text inside a cursor, or a `BAD_USER_INPUT` naming the argument.
pub fn decode_cursor(argument: &str, cursor: &str) -> Result<String, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor.trim_end_matches('='))
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            ApiError::bad_input(format!(
                "{argument}: {cursor:?} is not a cursor this API gave out"
            ))
        })
}

fn call_cursor(order: CallOrder, position: Position) -> String {
    encode_cursor(&format!(
        "call:{}:{}:{}",
        order.name(),
        position.key,
        position.conversation_id
    ))
}

fn read_call_cursor(argument: &str, order: CallOrder, cursor: &str) -> Result<Position, ApiError> {
    let text = decode_cursor(argument, cursor)?;
    let malformed = || {
        ApiError::bad_input(format!(
            "{argument}: {cursor:?} is not a cursor this API gave out"
        ))
    };
    let mut parts = text.split(':');
    let (Some("call"), Some(tag), Some(key), Some(id), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(malformed());
    };
    if tag != order.name() {
        return Err(ApiError::bad_input(format!(
            "{argument}: this cursor belongs to the order {tag}, not {}; start again without a cursor",
            order.name()
        )));
    }
    Ok(Position {
        key: key.parse().map_err(|_| malformed())?,
        conversation_id: ConversationId(id.parse().map_err(|_| malformed())?),
    })
}

/// Checks `first` / `last` and returns the page size; negative or above the
/// cap is refused, never silently truncated.
pub fn page_size(first: Option<i32>, last: Option<i32>) -> Result<usize, ApiError> {
    if first.is_some() && last.is_some() {
        return Err(ApiError::bad_input(
            "give first (with after) or last (with before), not both",
        ));
    }
    let (name, size) = match (first, last) {
        (_, Some(last)) => ("last", last),
        (Some(first), None) => ("first", first),
        (None, None) => ("first", DEFAULT_PAGE_SIZE),
    };
    if !(0..=MAX_PAGE_SIZE).contains(&size) {
        return Err(ApiError::bad_input(format!(
            "{name} must be between 0 and {MAX_PAGE_SIZE}, got {size}; walk the pages with the cursors"
        )));
    }
    Ok(size as usize)
}

/// The page the arguments ask for.
pub fn call_page_query(
    order: CallOrder,
    first: Option<i32>,
    after: Option<&str>,
    last: Option<i32>,
    before: Option<&str>,
) -> Result<PageQuery, ApiError> {
    Ok(PageQuery {
        order,
        limit: page_size(first, last)?,
        from_end: last.is_some(),
        after: after
            .map(|c| read_call_cursor("after", order, c))
            .transpose()?,
        before: before
            .map(|c| read_call_cursor("before", order, c))
            .transpose()?,
    })
}

/// A page of calls.
pub struct CallConnection {
    pub store: Arc<Store>,
    pub filter: CallFilter,
    pub query: PageQuery,
    pub page: Page,
    /// Read with the page when the request asked for it.
    pub total_count: Option<i64>,
}

/// Where a page sits in the whole list (Relay's `PageInfo`).
#[derive(SimpleObject, Clone, Debug)]
pub struct PageInfo {
    /// Whether items follow this page: with `first`, more matched than fit;
    /// with `last`/`before`, items exist from `before` on.
    pub has_next_page: bool,
    /// Whether items precede this page: with `last`, more matched than fit;
    /// with `first`/`after`, items exist up to `after`.
    pub has_previous_page: bool,
    /// The cursor of the page's first item.
    pub start_cursor: Option<String>,
    /// The cursor of the page's last item; pass it as `after` for the next page.
    pub end_cursor: Option<String>,
}

/// A call and its cursor.
#[derive(SimpleObject, Clone, Debug)]
pub struct CallEdge {
    /// Pass as `after` or `before` to continue from this call.
    pub cursor: String,
    /// The call.
    pub node: Call,
}

impl CallConnection {
    fn cursor_of(&self, call: &Call) -> String {
        let position = Position {
            key: self.query.order.key_of(call),
            conversation_id: call.conversation_id,
        };
        call_cursor(self.query.order, position)
    }

    /// Whether a matching call lies at or beyond `position` (see the store).
    async fn any_beyond(&self, position: Option<Position>, after: bool) -> Result<bool, ApiError> {
        let Some(position) = position else {
            return Ok(false);
        };
        Ok(self
            .store
            .any_call_beyond(self.filter.clone(), self.query.order, position, after)
            .await?)
    }
}

/// A page of calls, with the total count of matching calls.
#[Object]
impl CallConnection {
    /// How many calls match the filter, on every page.
    async fn total_count(&self) -> Result<i64, ApiError> {
        match self.total_count {
            Some(count) => Ok(count),
            None => Ok(self.store.count_calls(self.filter.clone()).await?),
        }
    }

    /// Where this page sits.
    async fn page_info(&self) -> Result<PageInfo, ApiError> {
        let (has_next_page, has_previous_page) = if self.query.from_end {
            (
                self.any_beyond(self.query.before, true).await?,
                self.page.has_more,
            )
        } else {
            (
                self.page.has_more,
                self.any_beyond(self.query.after, false).await?,
            )
        };
        Ok(PageInfo {
            has_next_page,
            has_previous_page,
            start_cursor: self.page.calls.first().map(|call| self.cursor_of(call)),
            end_cursor: self.page.calls.last().map(|call| self.cursor_of(call)),
        })
    }

    /// The calls with their cursors.
    async fn edges(&self) -> Vec<CallEdge> {
        self.page
            .calls
            .iter()
            .map(|call| CallEdge {
                cursor: self.cursor_of(call),
                node: call.clone(),
            })
            .collect()
    }

    /// The calls, when cursors are not needed.
    async fn nodes(&self) -> Vec<Call> {
        self.page.calls.clone()
    }
}
