//! Events (accepted pushes), their parse warnings, and rejected pushes.

use chrono::{DateTime, FixedOffset};
use rusqlite::{Connection, OptionalExtension, params};

use crate::domain::StoredPush;
use crate::domain::push::Push;
use crate::ingest::{AcceptedPush, RejectedPush};
use crate::wire::time::format_time;
use crate::wire::{BodyFormat, decode_body};

use super::StoreError;

/// An event that was already stored: its redelivery is counted.
pub struct KnownEvent {
    pub event_id: i64,
    pub conversation_id: i64,
    pub deliveries: i64,
}

/// Counts a byte-identical redelivery; `None` when the body is new.
pub fn count_redelivery(
    tx: &Connection,
    push: &AcceptedPush,
) -> Result<Option<KnownEvent>, StoreError> {
    let received_at = format_time(&push.raw.received_at);
    Ok(tx
        .prepare_cached(
            "UPDATE events SET deliveries = deliveries + 1, last_received_at = ?2
             WHERE body_sha256 = ?1
             RETURNING id, conversation_id, deliveries",
        )?
        .query_row(params![&push.sha256[..], received_at], |row| {
            Ok(KnownEvent {
                event_id: row.get(0)?,
                conversation_id: row.get(1)?,
                deliveries: row.get(2)?,
            })
        })
        .optional()?)
}

/// Stores a new event with its warnings; returns its id.
pub fn insert_event(tx: &Connection, push: &AcceptedPush) -> Result<i64, StoreError> {
    let parsed = &push.push;
    let received_at = format_time(&push.raw.received_at);
    let body = BodyValue(&push.raw.body);
    let event_id: i64 = tx
        .prepare_cached(
            "INSERT INTO events (conversation_id, occasion, event_at, event_at_ms, received_at,
                 last_received_at, body_format, body, body_sha256, form_payload, warning_count)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8, ?9, ?10)
             RETURNING id",
        )?
        .query_row(
            params![
                parsed.conversation_id,
                parsed.occasion,
                parsed.timestamp.as_ref().map(format_time),
                parsed.timestamp.map(|t| t.timestamp_millis()),
                received_at,
                push.format.as_str(),
                body,
                &push.sha256[..],
                push.form_payload,
                parsed.warnings.len() as i64,
            ],
            |row| row.get(0),
        )?;
    insert_warnings(tx, event_id, parsed)?;
    Ok(event_id)
}

pub fn insert_warnings(tx: &Connection, event_id: i64, push: &Push) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO parse_warnings (event_id, position, conversation_id, field, raw_value, problem)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (position, warning) in push.warnings.iter().enumerate() {
        insert.execute(params![
            event_id,
            position as i64,
            push.conversation_id,
            warning.field,
            warning.raw_value,
            warning.problem,
        ])?;
    }
    Ok(())
}

pub fn insert_rejected(tx: &Connection, rejected: &RejectedPush) -> Result<i64, StoreError> {
    Ok(tx
        .prepare_cached(
            "INSERT INTO rejected_pushes (received_at, http_status, error, content_type, body)
             VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        )?
        .query_row(
            params![
                format_time(&rejected.raw.received_at),
                rejected.reason.http_status(),
                rejected.reason.to_string(),
                rejected.raw.content_type,
                BodyValue(&rejected.raw.body),
            ],
            |row| row.get(0),
        )?)
}

/// A stored event, as the merge and `reprocess` read it back.
pub struct EventRow {
    pub event_id: i64,
    pub received_at: DateTime<FixedOffset>,
    pub format: BodyFormat,
    pub body: Vec<u8>,
    pub form_payload: Option<String>,
}

impl EventRow {
    /// Parses the stored body again, exactly as it was parsed on arrival.
    pub fn to_stored_push(&self, offset: FixedOffset) -> Result<StoredPush, StoreError> {
        let object = match (&self.format, &self.form_payload) {
            (BodyFormat::Form, Some(payload)) => serde_json::from_str(payload)
                .map_err(|e| StoreError::Internal(format!("event {}: {e}", self.event_id)))?,
            _ => {
                decode_body(&self.body, None)
                    .map_err(|e| StoreError::Internal(format!("event {}: {e}", self.event_id)))?
                    .1
            }
        };
        let push = Push::from_object(&object, offset)
            .map_err(|e| StoreError::Internal(format!("event {}: {e}", self.event_id)))?;
        Ok(StoredPush {
            event_id: self.event_id,
            received_at: self.received_at,
            push,
        })
    }
}

/// The events of one call, in arrival order.
pub fn events_of_call(tx: &Connection, conversation_id: i64) -> Result<Vec<EventRow>, StoreError> {
    let mut select = tx.prepare_cached(
        "SELECT id, received_at, body_format, body, form_payload
         FROM events WHERE conversation_id = ?1 ORDER BY id",
    )?;
    let rows = select.query_map([conversation_id], read_event_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn read_event_row(row: &rusqlite::Row) -> rusqlite::Result<EventRow> {
    let received_at: String = row.get(1)?;
    let format: String = row.get(2)?;
    Ok(EventRow {
        event_id: row.get(0)?,
        received_at: DateTime::parse_from_rfc3339(&received_at).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
        })?,
        format: if format == "form" {
            BodyFormat::Form
        } else {
            BodyFormat::Json
        },
        body: row.get_ref(3)?.as_bytes()?.to_vec(),
        form_payload: row.get(4)?,
    })
}

/// A body stored as text when it is UTF-8 (so `sqlite3` shows it), else as a blob.
struct BodyValue<'a>(&'a [u8]);

impl rusqlite::ToSql for BodyValue<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match std::str::from_utf8(self.0) {
            Ok(text) => ValueRef::Text(text.as_bytes()),
            Err(_) => ValueRef::Blob(self.0),
        }))
    }
}
