//! The element types of a call's children, served as the domain and the
//! store hold them: events, collection elements, parse warnings.

use async_graphql::{ID, Object, OutputType};
use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use super::recordings::IvrRecordingOf;
use crate::domain::ConversationId;
use crate::domain::collections::{
    CalloutTask, CustomField, IvrRecording, IvrVariable, QuestionnaireAnswer,
};
use crate::storage::CallEvent;
use crate::storage::read::EventWarning;

/// One stored push of a call.
#[Object]
impl CallEvent {
    /// The push's occasion, e.g. `agent_incall` or `end`; empty when it had none.
    async fn occasion(&self) -> &str {
        &self.occasion
    }

    /// The push's own `timestamp`; null when it had none or it was unreadable.
    async fn timestamp(&self) -> Option<DateTime<FixedOffset>> {
        self.timestamp
    }

    /// When the service first received this push.
    async fn received_at(&self) -> DateTime<FixedOffset> {
        self.received_at
    }

    /// How many times it was delivered (byte-identical redeliveries are counted, not stored).
    async fn deliveries(&self) -> i64 {
        self.deliveries
    }

    /// The push as received: the JSON object, or a form body's fields as one.
    /// A stored body that cannot be read as an object is given as its text.
    async fn payload(&self) -> Value {
        self.payload_value()
    }

    /// The push exactly as received (after any `Content-Encoding` was
    /// undone), as text: the bytes `reprocess`, forwarding and backups use.
    async fn body(&self) -> String {
        self.body_text().into_owned()
    }
}

/// A custom field of the call's business record.
#[Object]
impl CustomField {
    /// The field's id, e.g. `TextField_286` or `SelectField_257`.
    async fn id(&self) -> &str {
        &self.id
    }

    /// The field's label.
    async fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// A string for text fields, a list for select, cascade and checkbox fields.
    async fn value(&self) -> Option<&Value> {
        self.value.as_ref()
    }
}

/// A manual outbound task containing the customer's number.
#[Object]
impl CalloutTask {
    /// The task's id.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// The task's name.
    async fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

/// How a collection's element is served as a field of its call: as it is,
/// or (an IVR recording, whose archived copy is the call's) with the call
/// it belongs to.
pub trait ShownInCall {
    type Shown: OutputType;
    /// `position`: its place in the collection, from 0.
    fn shown_in(self, call: ConversationId, position: usize) -> Self::Shown;
}

macro_rules! shown_as_it_is {
    ($($item:ty),*) => {
        $(impl ShownInCall for $item {
            type Shown = $item;
            fn shown_in(self, _call: ConversationId, _position: usize) -> $item {
                self
            }
        })*
    };
}

shown_as_it_is!(
    String,
    CalloutTask,
    CustomField,
    IvrVariable,
    QuestionnaireAnswer
);

impl ShownInCall for IvrRecording {
    type Shown = IvrRecordingOf;
    fn shown_in(self, call: ConversationId, position: usize) -> IvrRecordingOf {
        IvrRecordingOf {
            call,
            position,
            recording: self,
        }
    }
}

/// One IVR variable.
#[Object]
impl IvrVariable {
    /// The variable's name.
    async fn name(&self) -> &str {
        &self.name
    }

    /// Its value, as text.
    async fn value(&self) -> &str {
        &self.value
    }
}

/// One answer of the call's questionnaire.
#[Object]
impl QuestionnaireAnswer {
    /// The question.
    async fn question(&self) -> &str {
        &self.question
    }

    /// The answer; null when the customer gave none.
    async fn answer(&self) -> Option<&str> {
        self.answer.as_deref()
    }
}

/// A field of a push that could not be read: the push was kept whole and the
/// call's value for the field left empty.
#[Object(name = "ParseWarning")]
impl EventWarning {
    /// Udesk's name of the field, e.g. `total_time`.
    async fn field(&self) -> &str {
        &self.warning.field
    }

    /// The value as pushed, as JSON text.
    async fn raw_value(&self) -> &str {
        &self.warning.raw_value
    }

    /// What was wrong with it.
    async fn problem(&self) -> &str {
        &self.warning.problem
    }

    /// When the push carrying it arrived.
    async fn received_at(&self) -> DateTime<FixedOffset> {
        self.received_at
    }
}
