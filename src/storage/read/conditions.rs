//! What each condition of a call filter means, written once: a
//! [`Condition`] names a column of `calls` and a test on it, and both the
//! SQL a page of calls is read with (`filter::filter_condition`) and the
//! match of a call in memory that live updates make ([`LiveFilter`]) are
//! derived from it. They cannot drift apart: a condition has one meaning,
//! read two ways, and `live/tests.rs` runs both over the same calls.

use rusqlite::types::Value as SqlValue;

use super::filter::CallFilter;
use super::live::LiveCall;

/// A column of `calls` a filter tests, and how a call in memory reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    AgentId,
    AgentEmail,
    AgentGroupId,
    Workflow,
    CallResult,
    Category,
    Status,
    LastOccasion,
    CustomerPhone,
    CallId,
    DefeatCause,
    Survey,
    StartedAtMs,
    TotalTime,
}

/// A value as a condition compares it; `Null` is SQL's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell<'a> {
    Null,
    Integer(i64),
    Text(&'a str),
}

impl Column {
    pub fn sql(self) -> &'static str {
        match self {
            Column::AgentId => "agent_id",
            Column::AgentEmail => "agent_email",
            Column::AgentGroupId => "user_group_id",
            Column::Workflow => "workflow",
            Column::CallResult => "call_result",
            Column::Category => "category",
            Column::Status => "status",
            Column::LastOccasion => "last_occasion",
            Column::CustomerPhone => "customer_phone",
            Column::CallId => "call_id",
            Column::DefeatCause => "defeat_cause",
            Column::Survey => "survey",
            Column::StartedAtMs => "started_at_ms",
            Column::TotalTime => "total_time",
        }
    }

    /// The column's value in `live`, as its row in `calls` holds it.
    fn read(self, live: &LiveCall) -> Cell<'_> {
        let call = &live.call;
        let s = &call.scalars;
        let id = |value: Option<crate::domain::UdeskId>| {
            value.map_or(Cell::Null, |id| Cell::Integer(id.0))
        };
        match self {
            Column::AgentId => id(s.agent_id),
            Column::AgentEmail => text(&s.agent_email),
            Column::AgentGroupId => id(s.user_group_id),
            Column::Workflow => text(&s.workflow),
            Column::CallResult => text(&s.call_result),
            Column::Category => text(&s.category),
            Column::Status => Cell::Text(call.status.as_str()),
            Column::LastOccasion => Cell::Text(&call.last_occasion),
            Column::CustomerPhone => text(&s.customer_phone),
            Column::CallId => text(&s.call_id),
            Column::DefeatCause => text(&s.defeat_cause),
            Column::Survey => text(&s.survey),
            Column::StartedAtMs => Cell::Integer(call.started_at_ms()),
            Column::TotalTime => s.total_time.map_or(Cell::Null, Cell::Integer),
        }
    }
}

/// A text column's value: NULL when absent.
fn text(value: &Option<String>) -> Cell<'_> {
    value.as_deref().map_or(Cell::Null, Cell::Text)
}

/// How a bound compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    AtLeast,
    Below,
    AtMost,
}

/// A yes-or-no property of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Property {
    /// Talked: a talk time above 0.
    Answered,
    HasRecording,
    HasTickets,
}

impl Property {
    /// The SQL that holds when the property is `wanted`; each is written so
    /// that an index of migration 02 serves it.
    fn sql(self, wanted: bool) -> &'static str {
        match (self, wanted) {
            (Property::Answered, true) => "total_time > 0",
            (Property::Answered, false) => "coalesce(total_time, 0) <= 0",
            (Property::HasRecording, true) => "(record_url IS NOT NULL) = 1",
            (Property::HasRecording, false) => "(record_url IS NOT NULL) = 0",
            (Property::HasTickets, true) => "ticket_count > 0",
            (Property::HasTickets, false) => "ticket_count = 0",
        }
    }

    fn of(self, live: &LiveCall) -> bool {
        match self {
            Property::Answered => live.call.scalars.total_time.unwrap_or(0) > 0,
            Property::HasRecording => live.call.scalars.record_url.is_some(),
            Property::HasTickets => live.ticket_count > 0,
        }
    }
}

/// One condition a call must meet.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// The column holds one of `values`: a NULL is none of them, and an
    /// empty list matches nothing.
    AnyOf {
        column: Column,
        values: Vec<SqlValue>,
    },
    /// The column compares with `bound` as `how` says; a NULL fails.
    Compare {
        column: Column,
        how: Bound,
        bound: i64,
    },
    /// The property is as `wanted`.
    Is { property: Property, wanted: bool },
}

impl Condition {
    /// The condition as SQL over `calls`, with its parameters.
    pub fn sql(&self) -> (String, Vec<SqlValue>) {
        match self {
            Condition::AnyOf { values, .. } if values.is_empty() => ("0".to_owned(), Vec::new()),
            Condition::AnyOf { column, values } => (
                format!(
                    "{} IN ({})",
                    column.sql(),
                    crate::storage::sql::placeholders(values.len())
                ),
                values.clone(),
            ),
            Condition::Compare { column, how, bound } => {
                let operator = match how {
                    Bound::AtLeast => ">=",
                    Bound::Below => "<",
                    Bound::AtMost => "<=",
                };
                (
                    format!("{} {operator} ?", column.sql()),
                    vec![SqlValue::Integer(*bound)],
                )
            }
            Condition::Is { property, wanted } => (property.sql(*wanted).to_owned(), Vec::new()),
        }
    }

    /// Whether `live` meets the condition, as SQL would find.
    pub fn holds(&self, live: &LiveCall) -> bool {
        match self {
            Condition::AnyOf { column, values } => {
                let cell = column.read(live);
                values.iter().any(|value| match (value, cell) {
                    (SqlValue::Integer(wanted), Cell::Integer(found)) => *wanted == found,
                    (SqlValue::Text(wanted), Cell::Text(found)) => wanted == found,
                    _ => false,
                })
            }
            Condition::Compare { column, how, bound } => match column.read(live) {
                Cell::Integer(value) => match how {
                    Bound::AtLeast => value >= *bound,
                    Bound::Below => value < *bound,
                    Bound::AtMost => value <= *bound,
                },
                Cell::Null | Cell::Text(_) => false,
            },
            Condition::Is { property, wanted } => property.of(live) == *wanted,
        }
    }
}

impl CallFilter {
    /// The filter's conditions, each of which a call must meet.
    pub fn conditions(&self) -> Vec<Condition> {
        let ids = |ids: &Vec<crate::domain::UdeskId>| {
            ids.iter().map(|id| SqlValue::Integer(id.0)).collect()
        };
        let texts = |texts: &Vec<String>| {
            texts
                .iter()
                .map(|text| SqlValue::Text(text.clone()))
                .collect()
        };
        let mut conditions = Vec::new();
        let mut any_of = |column: Column, values: Option<Vec<SqlValue>>| {
            if let Some(values) = values {
                conditions.push(Condition::AnyOf { column, values });
            }
        };
        any_of(Column::AgentId, self.agent_ids.as_ref().map(ids));
        any_of(Column::AgentEmail, self.agent_emails.as_ref().map(texts));
        any_of(Column::AgentGroupId, self.agent_group_ids.as_ref().map(ids));
        any_of(Column::Workflow, self.workflows.as_ref().map(texts));
        any_of(Column::CallResult, self.call_results.as_ref().map(texts));
        any_of(Column::Category, self.categories.as_ref().map(texts));
        any_of(
            Column::Status,
            self.statuses.as_ref().map(|statuses| {
                statuses
                    .iter()
                    .map(|status| SqlValue::Text(status.as_str().to_owned()))
                    .collect()
            }),
        );
        any_of(
            Column::LastOccasion,
            self.last_occasions.as_ref().map(texts),
        );
        any_of(
            Column::CustomerPhone,
            self.customer_phones.as_ref().map(texts),
        );
        any_of(Column::CallId, self.call_ids.as_ref().map(texts));
        any_of(Column::DefeatCause, self.defeat_causes.as_ref().map(texts));
        any_of(Column::Survey, self.surveys.as_ref().map(texts));
        let bounds = [
            (Column::StartedAtMs, Bound::AtLeast, self.started_from_ms),
            (Column::StartedAtMs, Bound::Below, self.started_before_ms),
        ];
        let answered = self.answered.map(|wanted| Condition::Is {
            property: Property::Answered,
            wanted,
        });
        let talk = [
            (Column::TotalTime, Bound::AtLeast, self.talk_time_min),
            (Column::TotalTime, Bound::AtMost, self.talk_time_max),
        ];
        let compare = |(column, how, bound): (Column, Bound, Option<i64>)| {
            bound.map(|bound| Condition::Compare { column, how, bound })
        };
        conditions.extend(bounds.into_iter().filter_map(compare));
        conditions.extend(answered);
        conditions.extend(talk.into_iter().filter_map(compare));
        conditions.extend(self.has_recording.map(|wanted| Condition::Is {
            property: Property::HasRecording,
            wanted,
        }));
        conditions.extend(self.has_tickets.map(|wanted| Condition::Is {
            property: Property::HasTickets,
            wanted,
        }));
        conditions
    }

    /// The filter made ready to match calls in memory, many times.
    pub fn for_live_updates(&self) -> LiveFilter {
        LiveFilter {
            conditions: self.conditions(),
        }
    }
}

/// A filter that live updates match each changed call against.
#[derive(Clone, Debug)]
pub struct LiveFilter {
    conditions: Vec<Condition>,
}

impl LiveFilter {
    /// Whether `live` meets every condition.
    pub fn matches(&self, live: &LiveCall) -> bool {
        self.conditions
            .iter()
            .all(|condition| condition.holds(live))
    }
}
