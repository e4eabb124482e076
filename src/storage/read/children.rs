//! The collections of many calls at once, one query per table.
//!
//! The API asks for the children of a whole page together (its data loader
//! gathers the ids), so a page of 500 calls costs one query per collection
//! rather than 500.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset};
use rusqlite::{Connection, Row};
use serde_json::Value;

use crate::domain::collections::{
    CalloutTask, CustomField, IvrRecording, IvrVariable, QuestionnaireAnswer,
};
use crate::wire::decode_body;

use super::calls::{read_required_time, read_time};
use crate::storage::StoreError;

/// One stored push of a call.
#[derive(Clone, Debug)]
pub struct EventRecord {
    /// The push's occasion; empty when it had none.
    pub occasion: String,
    pub timestamp: Option<DateTime<FixedOffset>>,
    pub received_at: DateTime<FixedOffset>,
    pub deliveries: i64,
    /// The body as JSON: the object received, or a form body's fields.
    pub payload: Value,
}

/// A field of a push that could not be read.
#[derive(Clone, Debug)]
pub struct WarningRecord {
    pub field: String,
    pub raw_value: String,
    pub problem: String,
    pub received_at: DateTime<FixedOffset>,
}

pub type ByCall<T> = HashMap<i64, Vec<T>>;

/// Runs `sql` (whose first column is `conversation_id`, with `{ids}` standing
/// for the id list) and groups the rows by call, keeping their order.
fn grouped<T>(
    conn: &Connection,
    sql: &str,
    ids: &[i64],
    read: impl Fn(&Row) -> rusqlite::Result<T>,
) -> Result<ByCall<T>, StoreError> {
    let mut by_call: ByCall<T> = HashMap::new();
    if ids.is_empty() {
        return Ok(by_call);
    }
    let sql = sql.replace("{ids}", &vec!["?"; ids.len()].join(", "));
    let mut statement = conn.prepare(&sql)?;
    let mut rows = statement.query(rusqlite::params_from_iter(ids))?;
    while let Some(row) = rows.next()? {
        by_call.entry(row.get(0)?).or_default().push(read(row)?);
    }
    Ok(by_call)
}

/// Events in event-time order (events without a timestamp first), then arrival.
pub fn events_of(conn: &Connection, ids: &[i64]) -> Result<ByCall<EventRecord>, StoreError> {
    grouped(
        conn,
        "SELECT conversation_id, occasion, event_at, received_at, deliveries, body_format, body, form_payload
         FROM events WHERE conversation_id IN ({ids}) ORDER BY conversation_id, event_at_ms, id",
        ids,
        |row| {
            let format: String = row.get(5)?;
            let form_payload: Option<String> = row.get(7)?;
            let payload = match (format.as_str(), form_payload) {
                ("form", Some(fields)) => serde_json::from_str(&fields).unwrap_or(Value::Null),
                _ => decode_body(row.get_ref(6)?.as_bytes_or_null()?.unwrap_or_default(), None)
                    .map(|(_, object)| Value::Object(object))
                    .unwrap_or(Value::Null),
            };
            Ok(EventRecord {
                occasion: row.get::<_, Option<String>>(1)?.unwrap_or_default(),
                timestamp: read_time(row, 2)?,
                received_at: read_required_time(row, 3)?,
                deliveries: row.get(4)?,
                payload,
            })
        },
    )
}

pub fn warnings_of(conn: &Connection, ids: &[i64]) -> Result<ByCall<WarningRecord>, StoreError> {
    grouped(
        conn,
        "SELECT w.conversation_id, w.field, w.raw_value, w.problem, e.received_at
         FROM parse_warnings w JOIN events e ON e.id = w.event_id
         WHERE w.conversation_id IN ({ids}) ORDER BY w.conversation_id, w.event_id, w.position",
        ids,
        |row| {
            Ok(WarningRecord {
                field: row.get(1)?,
                raw_value: row.get(2)?,
                problem: row.get(3)?,
                received_at: read_required_time(row, 4)?,
            })
        },
    )
}

pub fn custom_fields_of(conn: &Connection, ids: &[i64]) -> Result<ByCall<CustomField>, StoreError> {
    grouped(
        conn,
        "SELECT conversation_id, field_id, name, value FROM custom_fields
         WHERE conversation_id IN ({ids}) ORDER BY conversation_id, position",
        ids,
        |row| {
            let value: Option<String> = row.get(3)?;
            Ok(CustomField {
                id: row.get(1)?,
                name: row.get(2)?,
                value: value.and_then(|text| serde_json::from_str(&text).ok()),
            })
        },
    )
}

pub fn callout_tasks_of(conn: &Connection, ids: &[i64]) -> Result<ByCall<CalloutTask>, StoreError> {
    grouped(
        conn,
        "SELECT conversation_id, task_id, name FROM callout_tasks
         WHERE conversation_id IN ({ids}) ORDER BY conversation_id, position",
        ids,
        |row| {
            Ok(CalloutTask {
                id: row.get(1)?,
                name: row.get(2)?,
            })
        },
    )
}

pub fn ivr_recordings_of(
    conn: &Connection,
    ids: &[i64],
) -> Result<ByCall<IvrRecording>, StoreError> {
    grouped(
        conn,
        "SELECT conversation_id, recording_id, url FROM ivr_recordings
         WHERE conversation_id IN ({ids}) ORDER BY conversation_id, position",
        ids,
        |row| {
            Ok(IvrRecording {
                id: row.get(1)?,
                url: row.get(2)?,
            })
        },
    )
}

pub fn ivr_variables_of(conn: &Connection, ids: &[i64]) -> Result<ByCall<IvrVariable>, StoreError> {
    grouped(
        conn,
        "SELECT conversation_id, name, value FROM ivr_variables
         WHERE conversation_id IN ({ids}) ORDER BY conversation_id, position",
        ids,
        |row| {
            Ok(IvrVariable {
                name: row.get(1)?,
                value: row.get(2)?,
            })
        },
    )
}

pub fn questionnaire_answers_of(
    conn: &Connection,
    ids: &[i64],
) -> Result<ByCall<QuestionnaireAnswer>, StoreError> {
    grouped(
        conn,
        "SELECT conversation_id, question, answer FROM questionnaire_answers
         WHERE conversation_id IN ({ids}) ORDER BY conversation_id, position",
        ids,
        |row| {
            Ok(QuestionnaireAnswer {
                question: row.get(1)?,
                answer: row.get(2)?,
            })
        },
    )
}

/// The text lists of calls: ticket numbers, relevant agents, agent tags,
/// WeChat openids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TextList {
    TicketNumbers,
    RelevantAgents,
    AgentTags,
    WeixinOpenids,
}

impl TextList {
    fn table_and_column(self) -> (&'static str, &'static str) {
        match self {
            TextList::TicketNumbers => ("tickets", "ticket_number"),
            TextList::RelevantAgents => ("relevant_agents", "agent"),
            TextList::AgentTags => ("agent_tags", "tag"),
            TextList::WeixinOpenids => ("weixin_openids", "openid"),
        }
    }
}

pub fn text_list_of(
    conn: &Connection,
    list: TextList,
    ids: &[i64],
) -> Result<ByCall<String>, StoreError> {
    let (table, column) = list.table_and_column();
    grouped(
        conn,
        &format!(
            "SELECT conversation_id, {column} FROM {table}
             WHERE conversation_id IN ({{ids}}) ORDER BY conversation_id, position"
        ),
        ids,
        |row| row.get(1),
    )
}
