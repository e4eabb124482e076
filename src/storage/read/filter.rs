//! A call filter, and the `WHERE` clause and parameters it becomes.
//!
//! Every condition is written so that an index of migration 02 can serve it
//! (the query-plan test checks this): lists become `IN (…)`, booleans compare
//! an indexed expression, and "has tickets" reads the trigger-kept count.

use rusqlite::types::Value as SqlValue;

use crate::domain::{CallStatus, UdeskId};

/// Which calls to read; every condition given must hold. A list means "any
/// of", and an empty list matches nothing.
#[derive(Clone, Debug, Default)]
pub struct CallFilter {
    pub agent_ids: Option<Vec<UdeskId>>,
    pub agent_emails: Option<Vec<String>>,
    pub agent_group_ids: Option<Vec<UdeskId>>,
    pub workflows: Option<Vec<String>>,
    pub call_results: Option<Vec<String>>,
    pub categories: Option<Vec<String>>,
    pub statuses: Option<Vec<CallStatus>>,
    pub last_occasions: Option<Vec<String>>,
    pub customer_phones: Option<Vec<String>>,
    pub call_ids: Option<Vec<String>>,
    pub defeat_causes: Option<Vec<String>>,
    pub surveys: Option<Vec<String>>,
    /// Inclusive lower bound of the start, Unix milliseconds.
    pub started_from_ms: Option<i64>,
    /// Exclusive upper bound of the start, Unix milliseconds.
    pub started_before_ms: Option<i64>,
    /// True: talk time above 0; false: no talk time, or 0.
    pub answered: Option<bool>,
    /// Inclusive bounds on the talk time; a call without one never matches.
    pub talk_time_min: Option<i64>,
    pub talk_time_max: Option<i64>,
    pub has_recording: Option<bool>,
    pub has_tickets: Option<bool>,
}

/// A `WHERE` clause (without the keyword) and its positional parameters.
#[derive(Clone, Debug, Default)]
pub struct SqlCondition {
    pub sql: String,
    pub params: Vec<SqlValue>,
}

impl SqlCondition {
    pub fn push(&mut self, clause: String) {
        if !self.sql.is_empty() {
            self.sql.push_str(" AND ");
        }
        self.sql.push_str(&clause);
    }

    /// The clause, or `1` when there is no condition.
    pub fn or_true(&self) -> &str {
        if self.sql.is_empty() { "1" } else { &self.sql }
    }
}

/// Translates a filter into SQL over the `calls` table, condition by
/// condition (`conditions.rs` says what each means).
pub fn filter_condition(filter: &CallFilter) -> SqlCondition {
    let mut condition = SqlCondition::default();
    for each in filter.conditions() {
        let (sql, params) = each.sql();
        condition.push(sql);
        condition.params.extend(params);
    }
    condition
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_filter_is_no_condition() {
        assert_eq!(filter_condition(&CallFilter::default()).or_true(), "1");
    }

    #[test]
    fn an_empty_list_matches_nothing_and_lists_bind_each_value() {
        let filter = CallFilter {
            agent_ids: Some(vec![]),
            workflows: Some(vec!["in".into(), "out_direct".into()]),
            ..CallFilter::default()
        };
        let condition = filter_condition(&filter);
        assert_eq!(condition.sql, "0 AND workflow IN (?, ?)");
        assert_eq!(condition.params.len(), 2);
    }
}
