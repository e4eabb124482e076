//! The `Call` type: one merged call, every push field typed and camelCased.
//!
//! The scalar fields are plain values copied from the stored row; the
//! collections and related calls (`call_children`) are resolved through the
//! data loader, so a page of calls costs one query per collection, not one
//! per call.

use std::sync::Arc;

use async_graphql::{Enum, ID, SimpleObject};
use chrono::{DateTime, FixedOffset};

use crate::domain::fields::{FieldValue, Scalars};
use crate::storage::read::CallRecord;

/// Whether Udesk has reported the end of a call yet.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallStatus {
    /// No `end` push is stored yet.
    InProgress,
    /// The `end` push is stored; its values are final.
    Ended,
}

impl CallStatus {
    /// The value stored in `calls.status`.
    pub fn as_stored(self) -> &'static str {
        match self {
            CallStatus::InProgress => "IN_PROGRESS",
            CallStatus::Ended => "ENDED",
        }
    }
}

/// One call (one `conversation_id`), merged from all its pushes: each field
/// holds the latest pushed value, and once the `end` push is stored, its values.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct Call {
    /// Udesk's id of this call. A string: it may exceed 32 bits.
    pub conversation_id: ID,
    /// The id shared by one customer's series of calls (transfers, consults).
    pub call_id: Option<String>,
    /// `IN_PROGRESS` until the `end` push is stored, then `ENDED`.
    pub status: CallStatus,
    /// The occasion of the latest push by event time, e.g. `end` (see `occasions`).
    pub last_occasion: String,
    /// `callStartAt`; failing that, the earliest ring time of any push;
    /// failing that, the earliest push timestamp; failing that (no push
    /// carried a time), when the first push arrived.
    pub started_at: Option<DateTime<FixedOffset>>,
    /// The customer's name.
    pub nick_name: Option<String>,
    /// The customer's phone number.
    pub customer_phone: Option<String>,
    /// The phone number's home area, e.g. `北京 北京`.
    pub mobile_area: Option<String>,
    /// The trunk number shown.
    pub display_number: Option<String>,
    /// `in` inbound, `out_callback` two-way callback, `out_direct` direct outbound, `out_auto` automatic outbound (see `workflows`).
    pub workflow: Option<String>,
    /// In advanced calls (transfer, consult…), the previous agent's id.
    pub from_agent_id: Option<ID>,
    /// The outcome as Udesk words it, e.g. `客户接听` (customer answered).
    pub call_result: Option<String>,
    /// Whether a voicemail was left (it is in the recording).
    pub is_leave_message: Option<bool>,
    /// Talk time in seconds.
    pub total_time: Option<i64>,
    /// The recording's URL.
    pub record_url: Option<String>,
    /// The satisfaction rating, e.g. `未评价` (not rated).
    pub survey: Option<String>,
    /// The outbound external number.
    pub outline_phone_number: Option<String>,
    /// The agent's id.
    pub agent_id: Option<ID>,
    /// When the customer's side rang.
    pub customer_ring_at: Option<DateTime<FixedOffset>>,
    /// When the agent's side rang.
    pub agent_ring_at: Option<DateTime<FixedOffset>>,
    /// When the customer answered.
    pub customer_answer_at: Option<DateTime<FixedOffset>>,
    /// When the agent answered.
    pub agent_answer_at: Option<DateTime<FixedOffset>>,
    /// When the customer hung up.
    pub customer_hangup_at: Option<DateTime<FixedOffset>>,
    /// When the agent hung up.
    pub agent_hangup_at: Option<DateTime<FixedOffset>>,
    /// The agent's login e-mail.
    pub agent_email: Option<String>,
    /// The agent's display name.
    pub agent_nick_name: Option<String>,
    /// The advanced-call type, e.g. `normal`, `transfer` (see `categories`).
    pub category: Option<String>,
    /// The task's name.
    pub task_name: Option<String>,
    /// The queue status (Udesk's spelling; `queue_status` in some pushes).
    pub queue_statue: Option<String>,
    /// Time spent queued, in seconds.
    pub queue_time: Option<i64>,
    /// The DTMF keys pressed.
    pub dtmf: Option<String>,
    /// The device type, e.g. `网页电话` (web phone).
    pub device_info: Option<String>,
    /// Who hung up, e.g. `客服` (agent).
    pub drop_side: Option<String>,
    /// Why an outbound call failed: a `name` of `defeatCauses`.
    pub defeat_cause: Option<String>,
    /// The sequential-ring count.
    pub multi_ring_count: Option<i64>,
    /// The automatic outbound task's id.
    pub task_id: Option<ID>,
    /// Queue overflow, e.g. `无溢出` (no overflow).
    pub queue_overflow: Option<String>,
    /// Time spent in the IVR, in seconds.
    pub ivr_time: Option<i64>,
    /// The IVR variables as pushed (`"aa:11,bb:22"`); `ivrVariables` has them as pairs.
    pub ivr_variables_raw: Option<String>,
    /// The customer's language, e.g. `ko`.
    pub lang: Option<String>,
    /// Whether the customer is blacklisted.
    pub is_blocked: Option<bool>,
    /// The customer's level, e.g. `vip`.
    pub level: Option<String>,
    /// The customer's description.
    pub description: Option<String>,
    /// The customer's company.
    pub organization_name: Option<String>,
    /// The customer's owner.
    pub owner_name: Option<String>,
    /// The customer owner's group.
    pub owner_group_name: Option<String>,
    /// The business record's id.
    pub note_id: Option<ID>,
    /// The business record's subject.
    pub note_content: Option<String>,
    /// The business record template's id.
    pub note_template_id: Option<ID>,
    /// The business record template's name.
    pub note_template_name: Option<String>,
    /// The questionnaire's id.
    pub questionnaire_id: Option<ID>,
    /// A caller-defined call id (used with the call widget).
    pub biz_id: Option<String>,
    /// The customer's id.
    pub customer_id: Option<ID>,
    /// The customer's token.
    pub customer_token: Option<String>,
    /// The customer's web token.
    pub customer_web_token: Option<String>,
    /// The customer's SDK token.
    pub customer_sdk_token: Option<String>,
    /// The agent's group id.
    pub user_group_id: Option<ID>,
    /// The agent's group name.
    pub user_group_name: Option<String>,
    /// When the call started, as Udesk reports it.
    pub call_start_at: Option<DateTime<FixedOffset>>,
    /// Ringing duration, in seconds.
    pub ring_time: Option<i64>,
    /// When Udesk created the record.
    pub created_at: Option<DateTime<FixedOffset>>,
    /// How many distinct pushes of this call are stored.
    pub event_count: i64,
    /// When the first push of this call arrived.
    pub first_received_at: DateTime<FixedOffset>,
    /// When the latest new push of this call arrived (a redelivery is
    /// counted in its event's `deliveries`, not here).
    pub last_received_at: DateTime<FixedOffset>,
    #[graphql(skip)]
    pub record: Arc<CallRecord>,
}

impl Call {
    pub fn new(record: CallRecord) -> Call {
        let values = &record.scalars;
        Call {
            conversation_id: ID(record.conversation_id.to_string()),
            status: if record.status == "ENDED" {
                CallStatus::Ended
            } else {
                CallStatus::InProgress
            },
            last_occasion: record.last_occasion.clone(),
            started_at: record.started_at,
            event_count: record.event_count,
            first_received_at: record.first_received_at,
            last_received_at: record.last_received_at,
            call_id: values.text("call_id"),
            nick_name: values.text("nick_name"),
            customer_phone: values.text("customer_phone"),
            mobile_area: values.text("mobile_area"),
            display_number: values.text("display_number"),
            workflow: values.text("workflow"),
            from_agent_id: values.id("from_agent_id"),
            call_result: values.text("call_result"),
            is_leave_message: values.flag("is_leave_message"),
            total_time: values.int("total_time"),
            record_url: values.text("record_url"),
            survey: values.text("survey"),
            outline_phone_number: values.text("outline_phone_number"),
            agent_id: values.id("agent_id"),
            customer_ring_at: values.time("customer_ring_at"),
            agent_ring_at: values.time("agent_ring_at"),
            customer_answer_at: values.time("customer_answer_at"),
            agent_answer_at: values.time("agent_answer_at"),
            customer_hangup_at: values.time("customer_hangup_at"),
            agent_hangup_at: values.time("agent_hangup_at"),
            agent_email: values.text("agent_email"),
            agent_nick_name: values.text("agent_nick_name"),
            category: values.text("category"),
            task_name: values.text("task_name"),
            queue_statue: values.text("queue_statue"),
            queue_time: values.int("queue_time"),
            dtmf: values.text("dtmf"),
            device_info: values.text("device_info"),
            drop_side: values.text("drop_side"),
            defeat_cause: values.text("defeat_cause"),
            multi_ring_count: values.int("multi_ring_count"),
            task_id: values.id("task_id"),
            queue_overflow: values.text("queue_overflow"),
            ivr_time: values.int("ivr_time"),
            ivr_variables_raw: values.text("ivr_variables"),
            lang: values.text("lang"),
            is_blocked: values.flag("is_blocked"),
            level: values.text("level"),
            description: values.text("description"),
            organization_name: values.text("organization_name"),
            owner_name: values.text("owner_name"),
            owner_group_name: values.text("owner_group_name"),
            note_id: values.id("note_id"),
            note_content: values.text("note_content"),
            note_template_id: values.id("note_template_id"),
            note_template_name: values.text("note_template_name"),
            questionnaire_id: values.id("questionnaire_id"),
            biz_id: values.text("biz_id"),
            customer_id: values.id("customer_id"),
            customer_token: values.text("customer_token"),
            customer_web_token: values.text("customer_web_token"),
            customer_sdk_token: values.text("customer_sdk_token"),
            user_group_id: values.id("user_group_id"),
            user_group_name: values.text("user_group_name"),
            call_start_at: values.time("call_start_at"),
            ring_time: values.int("ring_time"),
            created_at: values.time("created_at"),
            record: Arc::new(record),
        }
    }
}

/// Typed reads of the stored values; a value of another kind reads as none.
trait Values {
    fn text(&self, name: &str) -> Option<String>;
    fn id(&self, name: &str) -> Option<ID>;
    fn int(&self, name: &str) -> Option<i64>;
    fn flag(&self, name: &str) -> Option<bool>;
}

impl Values for Scalars {
    fn text(&self, name: &str) -> Option<String> {
        match self.get(name) {
            Some(FieldValue::Text(text)) => Some(text.clone()),
            _ => None,
        }
    }

    fn id(&self, name: &str) -> Option<ID> {
        self.int(name).map(|id| ID(id.to_string()))
    }

    fn int(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Some(FieldValue::Int(number)) => Some(*number),
            _ => None,
        }
    }

    fn flag(&self, name: &str) -> Option<bool> {
        match self.get(name) {
            Some(FieldValue::Bool(flag)) => Some(*flag),
            _ => None,
        }
    }
}
