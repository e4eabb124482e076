//! A call filter as SQL: the `WHERE` clause and its parameters.
//!
//! Every condition is written so that an index of migration 02 can serve it
//! (the query-plan test checks this): lists become `IN (…)`, booleans compare
//! an indexed expression, and "has tickets" reads the trigger-kept count.

use rusqlite::types::Value as SqlValue;

use crate::domain::{CallStatus, UdeskId};
use crate::storage::sql::placeholders;

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

    /// `column IN (…)`; an empty list is a condition nothing meets.
    fn any_of<T>(
        &mut self,
        column: &str,
        values: &Option<Vec<T>>,
        to_sql: impl Fn(&T) -> SqlValue,
    ) {
        let Some(values) = values else { return };
        if values.is_empty() {
            self.push("0".to_owned());
            return;
        }
        self.push(format!("{column} IN ({})", placeholders(values.len())));
        self.params.extend(values.iter().map(to_sql));
    }

    fn compare(&mut self, expression: &str, operator: &str, value: Option<i64>) {
        if let Some(value) = value {
            self.push(format!("{expression} {operator} ?"));
            self.params.push(value.into());
        }
    }

    /// The clause, or `1` when there is no condition.
    pub fn or_true(&self) -> &str {
        if self.sql.is_empty() { "1" } else { &self.sql }
    }
}

/// Translates a filter into SQL over the `calls` table.
pub fn filter_condition(filter: &CallFilter) -> SqlCondition {
    let id = |id: &UdeskId| SqlValue::Integer(id.0);
    let text = |text: &String| SqlValue::Text(text.clone());
    let mut condition = SqlCondition::default();
    condition.any_of("agent_id", &filter.agent_ids, id);
    condition.any_of("agent_email", &filter.agent_emails, text);
    condition.any_of("user_group_id", &filter.agent_group_ids, id);
    condition.any_of("workflow", &filter.workflows, text);
    condition.any_of("call_result", &filter.call_results, text);
    condition.any_of("category", &filter.categories, text);
    condition.any_of("status", &filter.statuses, |status| {
        SqlValue::Text(status.as_str().to_owned())
    });
    condition.any_of("last_occasion", &filter.last_occasions, text);
    condition.any_of("customer_phone", &filter.customer_phones, text);
    condition.any_of("call_id", &filter.call_ids, text);
    condition.any_of("defeat_cause", &filter.defeat_causes, text);
    condition.any_of("survey", &filter.surveys, text);
    condition.compare("started_at_ms", ">=", filter.started_from_ms);
    condition.compare("started_at_ms", "<", filter.started_before_ms);
    match filter.answered {
        Some(true) => condition.push("total_time > 0".to_owned()),
        Some(false) => condition.push("coalesce(total_time, 0) <= 0".to_owned()),
        None => {}
    }
    condition.compare("total_time", ">=", filter.talk_time_min);
    condition.compare("total_time", "<=", filter.talk_time_max);
    if let Some(wanted) = filter.has_recording {
        condition.push(format!("(record_url IS NOT NULL) = {}", i64::from(wanted)));
    }
    match filter.has_tickets {
        Some(true) => condition.push("ticket_count > 0".to_owned()),
        Some(false) => condition.push("ticket_count = 0".to_owned()),
        None => {}
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
