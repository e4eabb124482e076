//! The scalar fields of a push, listed once.
//!
//! Parsing, merging and storage all walk this table, so a field Udesk adds is
//! one line here plus a column in a migration. Names are Udesk's own
//! (snake_case); they are also the column names of `calls`.

use chrono::{DateTime, FixedOffset};

/// How a field's value is read and stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    /// A count or duration.
    Int,
    /// A Udesk id: an integer that may exceed 32 bits.
    Id,
    Bool,
    Time,
}

#[derive(Debug)]
pub struct ScalarField {
    /// Udesk's name, and the column's.
    pub name: &'static str,
    /// Other spellings Udesk uses for the same field.
    pub aliases: &'static [&'static str],
    pub kind: FieldKind,
}

/// A normalized value of a scalar field.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    Text(String),
    Int(i64),
    Bool(bool),
    Time(DateTime<FixedOffset>),
}

const fn field(name: &'static str, kind: FieldKind) -> ScalarField {
    ScalarField {
        name,
        aliases: &[],
        kind,
    }
}

use FieldKind::{Bool, Id, Int, Text, Time};

/// Every scalar field of a push but `conversation_id`, `occasion` and
/// `timestamp`, which describe the push rather than the call.
pub const SCALAR_FIELDS: &[ScalarField] = &[
    field("call_id", Text),
    field("nick_name", Text),
    field("customer_phone", Text),
    field("mobile_area", Text),
    field("display_number", Text),
    field("workflow", Text),
    field("from_agent_id", Id),
    field("call_result", Text),
    field("is_leave_message", Bool),
    field("total_time", Int),
    field("record_url", Text),
    field("survey", Text),
    field("outline_phone_number", Text),
    field("agent_id", Id),
    field("customer_ring_at", Time),
    field("agent_ring_at", Time),
    field("customer_answer_at", Time),
    field("agent_answer_at", Time),
    field("customer_hangup_at", Time),
    field("agent_hangup_at", Time),
    field("agent_email", Text),
    field("agent_nick_name", Text),
    field("category", Text),
    field("task_name", Text),
    ScalarField {
        name: "queue_statue",
        aliases: &["queue_status"],
        kind: Text,
    },
    field("queue_time", Int),
    field("dtmf", Text),
    field("device_info", Text),
    field("drop_side", Text),
    field("defeat_cause", Text),
    field("multi_ring_count", Int),
    field("task_id", Id),
    field("queue_overflow", Text),
    field("ivr_time", Int),
    field("ivr_variables", Text),
    field("lang", Text),
    field("is_blocked", Bool),
    field("level", Text),
    field("description", Text),
    field("organization_name", Text),
    field("owner_name", Text),
    field("owner_group_name", Text),
    field("note_id", Id),
    field("note_content", Text),
    field("note_template_id", Id),
    field("note_template_name", Text),
    field("questionnaire_id", Id),
    field("biz_id", Text),
    field("customer_id", Id),
    field("customer_token", Text),
    field("customer_web_token", Text),
    field("customer_sdk_token", Text),
    field("user_group_id", Id),
    field("user_group_name", Text),
    field("call_start_at", Time),
    field("ring_time", Int),
    field("created_at", Time),
];

/// The position of a field in [`SCALAR_FIELDS`], for code that needs one by name.
pub fn field_index(name: &str) -> usize {
    SCALAR_FIELDS
        .iter()
        .position(|field| field.name == name)
        .unwrap_or_else(|| panic!("{name} is not a scalar field"))
}

/// The scalar values of a push or a call, aligned with [`SCALAR_FIELDS`].
#[derive(Clone, Debug, PartialEq)]
pub struct Scalars(pub Vec<Option<FieldValue>>);

impl Default for Scalars {
    fn default() -> Self {
        Scalars(vec![None; SCALAR_FIELDS.len()])
    }
}

impl Scalars {
    pub fn get(&self, name: &str) -> Option<&FieldValue> {
        self.0[field_index(name)].as_ref()
    }

    pub fn time(&self, name: &str) -> Option<DateTime<FixedOffset>> {
        match self.get(name) {
            Some(FieldValue::Time(time)) => Some(*time),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_field_and_alias_is_named_once() {
        let mut seen = HashSet::new();
        for field in SCALAR_FIELDS {
            assert!(seen.insert(field.name), "{} twice", field.name);
            for alias in field.aliases {
                assert!(seen.insert(alias), "{alias} twice");
            }
        }
    }
}
