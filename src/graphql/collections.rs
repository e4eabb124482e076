//! The element types of a call's collections.

use async_graphql::{ID, SimpleObject};
use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use crate::domain::collections as domain;
use crate::storage::read::children::{EventRecord, WarningRecord};

/// One stored push of a call.
#[derive(SimpleObject, Clone, Debug)]
pub struct CallEvent {
    /// The push's occasion, e.g. `agent_incall` or `end`; empty when it had none.
    pub occasion: String,
    /// The push's own `timestamp`; null when it had none or it was unreadable.
    pub timestamp: Option<DateTime<FixedOffset>>,
    /// When the service first received this push.
    pub received_at: DateTime<FixedOffset>,
    /// How many times it was delivered (byte-identical redeliveries are counted, not stored).
    pub deliveries: i64,
    /// The push as received: the JSON object, or a form body's fields as one.
    pub payload: Value,
}

impl From<EventRecord> for CallEvent {
    fn from(event: EventRecord) -> Self {
        CallEvent {
            occasion: event.occasion,
            timestamp: event.timestamp,
            received_at: event.received_at,
            deliveries: event.deliveries,
            payload: event.payload,
        }
    }
}

/// A custom field of the call's business record.
#[derive(SimpleObject, Clone, Debug)]
pub struct CustomField {
    /// The field's id, e.g. `TextField_286` or `SelectField_257`.
    pub id: String,
    /// The field's label.
    pub name: Option<String>,
    /// A string for text fields, a list for select, cascade and checkbox fields.
    pub value: Option<Value>,
}

impl From<domain::CustomField> for CustomField {
    fn from(field: domain::CustomField) -> Self {
        CustomField {
            id: field.id,
            name: field.name,
            value: field.value,
        }
    }
}

/// A manual outbound task containing the customer's number.
#[derive(SimpleObject, Clone, Debug)]
pub struct CalloutTask {
    /// The task's id.
    pub id: ID,
    /// The task's name.
    pub name: Option<String>,
}

impl From<domain::CalloutTask> for CalloutTask {
    fn from(task: domain::CalloutTask) -> Self {
        CalloutTask {
            id: ID(task.id.to_string()),
            name: task.name,
        }
    }
}

/// A recording made in the IVR.
#[derive(SimpleObject, Clone, Debug)]
pub struct IvrRecording {
    /// The recording's id.
    pub id: Option<ID>,
    /// Where to fetch it (signed URLs expire).
    pub url: Option<String>,
}

impl From<domain::IvrRecording> for IvrRecording {
    fn from(recording: domain::IvrRecording) -> Self {
        IvrRecording {
            id: recording.id.map(|id| ID(id.to_string())),
            url: recording.url,
        }
    }
}

/// One IVR variable.
#[derive(SimpleObject, Clone, Debug)]
pub struct IvrVariable {
    /// The variable's name.
    pub name: String,
    /// Its value, as text.
    pub value: String,
}

impl From<domain::IvrVariable> for IvrVariable {
    fn from(variable: domain::IvrVariable) -> Self {
        IvrVariable {
            name: variable.name,
            value: variable.value,
        }
    }
}

/// One answer of the call's questionnaire.
#[derive(SimpleObject, Clone, Debug)]
pub struct QuestionnaireAnswer {
    /// The question.
    pub question: String,
    /// The answer; null when the customer gave none.
    pub answer: Option<String>,
}

impl From<domain::QuestionnaireAnswer> for QuestionnaireAnswer {
    fn from(answer: domain::QuestionnaireAnswer) -> Self {
        QuestionnaireAnswer {
            question: answer.question,
            answer: answer.answer,
        }
    }
}

/// A field of a push that could not be read: the push was kept whole and the
/// call's value for the field left empty.
#[derive(SimpleObject, Clone, Debug)]
pub struct ParseWarning {
    /// Udesk's name of the field, e.g. `total_time`.
    pub field: String,
    /// The value as pushed, as JSON text.
    pub raw_value: String,
    /// What was wrong with it.
    pub problem: String,
    /// When the push carrying it arrived.
    pub received_at: DateTime<FixedOffset>,
}

impl From<WarningRecord> for ParseWarning {
    fn from(warning: WarningRecord) -> Self {
        ParseWarning {
            field: warning.field,
            raw_value: warning.raw_value,
            problem: warning.problem,
            received_at: warning.received_at,
        }
    }
}
