//! The input types that select calls, as a client writes them, and their
//! validation into the store's [`CallFilter`].

use async_graphql::{ID, InputObject};
use chrono::{DateTime, FixedOffset};

use crate::domain::UdeskId;

use super::enums::ApiCallStatus;
use crate::storage::read::CallFilter;

use super::error::ApiError;

/// Which calls to include. Every condition given must hold; a list means
/// "any of", and an empty list matches nothing.
#[derive(InputObject, Clone, Debug, Default)]
#[graphql(name = "CallFilter")]
pub struct CallFilterInput {
    /// Calls handled by any of these agents.
    pub agent_ids: Option<Vec<ID>>,
    /// `in`, `out_callback`, `out_direct` or `out_auto` (see `workflows`).
    pub workflows: Option<Vec<String>>,
    /// Outcomes as Udesk words them, e.g. `客户接听`.
    pub call_results: Option<Vec<String>>,
    /// Calls whose `startedAt` lies in this range.
    pub started_at: Option<TimeRange>,
    /// Calls handled by any of these agents, by login e-mail.
    pub agent_emails: Option<Vec<String>>,
    /// Advanced-call types, e.g. `normal`, `transfer` (see `categories`).
    pub categories: Option<Vec<String>>,
    /// In progress, ended, or both.
    pub statuses: Option<Vec<ApiCallStatus>>,
    /// The occasion of the latest push, e.g. `hangup` for calls whose end is not pushed yet.
    pub last_occasions: Option<Vec<String>>,
    /// The customer's phone number, exactly as pushed.
    pub customer_phones: Option<Vec<String>>,
    /// Series of calls (`callId`).
    pub call_ids: Option<Vec<String>>,
    /// Outbound failure reasons, by `name` (see `defeatCauses`).
    pub defeat_causes: Option<Vec<String>>,
    /// Satisfaction ratings as pushed, e.g. `未评价`.
    pub surveys: Option<Vec<String>>,
    /// True: calls talked (`totalTime` > 0); false: calls without talk
    /// (`totalTime` null or 0).
    pub answered: Option<bool>,
    /// Calls whose `totalTime` (seconds) lies in this range; calls without one never match.
    pub talk_time: Option<IntRange>,
    /// Calls with (true) or without (false) a `recordUrl`.
    pub has_recording: Option<bool>,
    /// Calls with (true) or without (false) ticket numbers.
    pub has_tickets: Option<bool>,
    /// Calls of agents in any of these groups (`userGroupId`).
    pub agent_group_ids: Option<Vec<ID>>,
}

/// A span of time: `from` inclusive, `to` exclusive; either may be left open.
/// Give times with an offset, e.g. `2024-05-01T00:00:00+08:00` or `…Z`.
#[derive(InputObject, Clone, Debug, Default)]
pub struct TimeRange {
    /// The first instant included.
    pub from: Option<DateTime<FixedOffset>>,
    /// The first instant excluded.
    pub to: Option<DateTime<FixedOffset>>,
}

/// A range of whole numbers, both ends inclusive; either may be left open.
#[derive(InputObject, Clone, Debug, Default)]
pub struct IntRange {
    /// The smallest value included.
    pub min: Option<i32>,
    /// The largest value included.
    pub max: Option<i32>,
}

/// The most values a filter's lists may hold together: each becomes an SQL
/// parameter, and SQLite caps their number.
pub const MAX_FILTER_VALUES: usize = 1000;

/// Reads a list of Udesk ids; a value that is not an integer is the client's mistake.
fn ids(field: &str, values: &Option<Vec<ID>>) -> Result<Option<Vec<UdeskId>>, ApiError> {
    values
        .as_ref()
        .map(|values| {
            values
                .iter()
                .map(|id| {
                    id.parse::<i64>().map(UdeskId).map_err(|_| {
                        ApiError::bad_input(format!(
                            "{field}: {:?} is not a Udesk id (an integer)",
                            id.as_str()
                        ))
                    })
                })
                .collect()
        })
        .transpose()
}

impl CallFilterInput {
    /// The store's filter; `None` (no filter) selects every call.
    pub fn validate(filter: Option<&CallFilterInput>) -> Result<CallFilter, ApiError> {
        let Some(filter) = filter else {
            return Ok(CallFilter::default());
        };
        let listed: usize = [
            filter.agent_ids.as_ref().map(Vec::len),
            filter.agent_group_ids.as_ref().map(Vec::len),
            filter.agent_emails.as_ref().map(Vec::len),
            filter.workflows.as_ref().map(Vec::len),
            filter.call_results.as_ref().map(Vec::len),
            filter.categories.as_ref().map(Vec::len),
            filter.statuses.as_ref().map(Vec::len),
            filter.last_occasions.as_ref().map(Vec::len),
            filter.customer_phones.as_ref().map(Vec::len),
            filter.call_ids.as_ref().map(Vec::len),
            filter.defeat_causes.as_ref().map(Vec::len),
            filter.surveys.as_ref().map(Vec::len),
        ]
        .into_iter()
        .flatten()
        .sum();
        if listed > MAX_FILTER_VALUES {
            return Err(ApiError::bad_input(format!(
                "a filter's lists hold at most {MAX_FILTER_VALUES} values together; this one holds {listed}"
            )));
        }
        let range = filter.started_at.clone().unwrap_or_default();
        let talk = filter.talk_time.clone().unwrap_or_default();
        Ok(CallFilter {
            agent_ids: ids("agentIds", &filter.agent_ids)?,
            agent_group_ids: ids("agentGroupIds", &filter.agent_group_ids)?,
            agent_emails: filter.agent_emails.clone(),
            workflows: filter.workflows.clone(),
            call_results: filter.call_results.clone(),
            categories: filter.categories.clone(),
            statuses: filter
                .statuses
                .as_ref()
                .map(|statuses| statuses.iter().map(|&status| status.into()).collect()),
            last_occasions: filter.last_occasions.clone(),
            customer_phones: filter.customer_phones.clone(),
            call_ids: filter.call_ids.clone(),
            defeat_causes: filter.defeat_causes.clone(),
            surveys: filter.surveys.clone(),
            started_from_ms: range.from.map(|t| t.timestamp_millis()),
            started_before_ms: range.to.map(|t| t.timestamp_millis()),
            answered: filter.answered,
            talk_time_min: talk.min.map(i64::from),
            talk_time_max: talk.max.map(i64::from),
            has_recording: filter.has_recording,
            has_tickets: filter.has_tickets,
        })
    }
}
