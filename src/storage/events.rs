//! Events (the stored pushes), their parse warnings, and rejected pushes.
//!
//! An event keeps its push byte for byte; [`CallEvent`] is one read back,
//! for the merge (parsed again, exactly as on arrival) and for the API (as
//! JSON). Its columns are listed once, in [`EVENT_COLUMNS`].

use std::collections::HashSet;

use chrono::{DateTime, FixedOffset};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use crate::domain::{AcceptedPush, ConversationId, Push, Rejection, StoredPush};
use crate::wire::time::format_time;
use crate::wire::{BodyFormat, Decoded, decode_body};

use super::StoreError;
use super::bodies::chains::{Base, BodyReader, MAX_DEPTH, StoredAs, StoredBody};
use super::bodies::{Bodies, Encoded};
use super::sql::{BodyValue, read_required_time, read_time};

/// An event that was already stored: its redelivery is counted.
pub struct KnownEvent {
    pub event_id: i64,
    pub conversation_id: ConversationId,
    pub deliveries: i64,
    /// Its row's `body_sha256`.
    pub stored_hash: Vec<u8>,
}

/// What the events of a push's call say of it.
pub enum Seen {
    /// Stored before, byte for byte: its redelivery was counted.
    Before(KnownEvent),
    /// New: to be stored with this `body_sha256`.
    New { stored_hash: Vec<u8> },
}

/// How much of a body's SHA-256 a new row keeps: within one call, eight
/// bytes tell pushes apart, and a match is compared byte for byte.
const STORED_HASH_BYTES: usize = 8;

/// Counts a byte-identical redelivery, or says how to store a new body.
/// Rows of earlier versions keep the whole hash, new ones its start.
pub fn count_redelivery(
    tx: &Connection,
    bodies: &Bodies,
    push: &AcceptedPush,
) -> Result<Seen, StoreError> {
    let short = &push.sha256[..STORED_HASH_BYTES];
    let candidates: Vec<(i64, bool, StoredBody)> = tx
        .prepare_cached(
            "SELECT id, length(body_sha256) = 32, body_dictionary, body_base, body
             FROM events WHERE conversation_id = ?1 AND body_sha256 IN (?2, ?3)",
        )?
        .query_map(
            params![push.push.conversation_id, short, &push.sha256[..]],
            |row| {
                let event_id = row.get(0)?;
                Ok((event_id, row.get(1)?, StoredBody::read(event_id, row, 2)?))
            },
        )?
        .collect::<Result<_, _>>()?;
    let mut short_taken = false;
    for (event_id, whole_hash, stored) in candidates {
        let stored_hash = if whole_hash { &push.sha256[..] } else { short }.to_vec();
        let same = whole_hash || {
            short_taken = true;
            BodyReader::new(bodies, tx, 1).read(stored)?.trim_ascii() == push.raw.body.trim_ascii()
        };
        if same {
            let deliveries = tx
                .prepare_cached(
                    "UPDATE events SET deliveries = deliveries + 1, last_received_at = ?2
                     WHERE id = ?1 RETURNING deliveries",
                )?
                .query_row(
                    params![event_id, format_time(&push.raw.received_at)],
                    |row| row.get(0),
                )?;
            return Ok(Seen::Before(KnownEvent {
                event_id,
                conversation_id: push.push.conversation_id,
                deliveries,
                stored_hash,
            }));
        }
    }
    // Another body of the call starts with the same eight bytes of hash:
    // this one keeps all of it.
    let kept = if short_taken { &push.sha256[..] } else { short };
    Ok(Seen::New {
        stored_hash: kept.to_vec(),
    })
}

/// Where `base` (the base of a push of `conversation_id`) is stored, if
/// it was and its row still holds it; `None` when the push cannot be kept
/// as a delta of it.
pub fn stored_base(
    tx: &Connection,
    conversation_id: ConversationId,
    base: &Base,
) -> Result<Option<i64>, StoreError> {
    let Some(stored) = base.stored_as() else {
        return Ok(None);
    };
    Ok(can_be_base(tx, conversation_id, &stored)?.then_some(stored.event_id))
}

/// Whether the row `stored` names is still that push of `conversation_id`
/// and fewer than [`MAX_DEPTH`] deltas from a push kept on its own: its
/// chain is followed, since what made it (the writer, the upkeep, a
/// redelivery counted against it) may not know its depth.
pub fn can_be_base(
    tx: &Connection,
    conversation_id: ConversationId,
    stored: &StoredAs,
) -> Result<bool, StoreError> {
    let mut link = tx.prepare_cached(
        "SELECT conversation_id, body_sha256, body_base FROM events WHERE id = ?1",
    )?;
    // A row's call, `body_sha256` and base.
    type Link = (ConversationId, Vec<u8>, Option<i64>);
    let mut row = |id: i64| -> Result<Option<Link>, StoreError> {
        Ok(link
            .query_row([id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .optional()?)
    };
    let Some((call, hash, mut below)) = row(stored.event_id)? else {
        return Ok(false);
    };
    if call != conversation_id || hash != stored.stored_hash {
        return Ok(false);
    }
    for _ in 0..MAX_DEPTH {
        let Some(id) = below else {
            return Ok(true);
        };
        match row(id)? {
            Some((call, _, next)) if call == conversation_id => below = next,
            _ => return Ok(false),
        }
    }
    // MAX_DEPTH deltas below it already: a delta of it would be one more.
    Ok(false)
}

/// Stores a new event with its warnings and its body as `encoded` keeps
/// it (as received when `None`), a delta of event `base` when it names
/// one; returns its id.
pub fn insert_event(
    tx: &Connection,
    push: &AcceptedPush,
    encoded: Option<&Encoded>,
    base: Option<i64>,
    stored_hash: &[u8],
    numbers: &[String],
    numbers_kept: &mut HashSet<(i64, String)>,
) -> Result<i64, StoreError> {
    let parsed = &push.push;
    let received_at = format_time(&push.raw.received_at);
    let event_id: i64 = tx
        .prepare_cached(
            "INSERT INTO events (conversation_id, occasion, event_at, event_at_ms, received_at,
                 last_received_at, body_format, body, body_sha256, form_payload, warning_count,
                 content_type, body_dictionary, body_base)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
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
                match encoded {
                    Some(encoded) => BodyValue(&encoded.bytes),
                    None => BodyValue(&push.raw.body),
                },
                stored_hash,
                push.form_payload,
                parsed.warnings.len() as i64,
                push.raw.content_type,
                encoded.map(|encoded| encoded.dictionary),
                base,
            ],
            |row| row.get(0),
        )?;
    insert_warnings(tx, event_id, parsed)?;
    // A call's pushes repeat its numbers: each is inserted once a
    // transaction (and ignored if an earlier one kept it).
    let id = parsed.conversation_id.0;
    let new: Vec<String> = numbers
        .iter()
        .filter(|number| numbers_kept.insert((id, (*number).clone())))
        .cloned()
        .collect();
    insert_numbers(tx, id, &new)?;
    Ok(event_id)
}

/// Keeps the long numbers of a call's push (see `bodies::reversed_numbers`)
/// for a purge to find the call by.
pub fn insert_numbers(
    tx: &Connection,
    conversation_id: i64,
    reversed_numbers: &[String],
) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO call_numbers (reversed_digits, conversation_id) VALUES (?1, ?2)",
    )?;
    // Every push carries its call's own id: no purge looks for it.
    let own: String = conversation_id.to_string().chars().rev().collect();
    for number in reversed_numbers.iter().filter(|number| **number != own) {
        insert.execute(params![number, conversation_id])?;
    }
    Ok(())
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

/// Keeps a refused body with the status it was answered with and why.
pub fn insert_rejected(
    tx: &Connection,
    rejection: &Rejection,
    http_status: u16,
) -> Result<i64, StoreError> {
    let raw = &rejection.raw;
    Ok(tx
        .prepare_cached(
            "INSERT INTO rejected_pushes (received_at, http_status, error, content_type, body)
             VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        )?
        .query_row(
            params![
                format_time(&raw.received_at),
                http_status,
                rejection.reason.to_string(),
                raw.content_type,
                BodyValue(&raw.body),
            ],
            |row| row.get(0),
        )?)
}

/// The Content-Type under which a stored form body was read on arrival.
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// The columns [`StoredEvent::read`] reads, in its order.
pub const EVENT_COLUMNS: &str = "id, conversation_id, occasion, event_at, received_at, deliveries, \
     body_format, body, form_payload, body_dictionary, body_base";

/// [`EVENT_COLUMNS`] with the body and form fields left empty, for a
/// reader that asked for neither (they are never read or decompressed).
pub const EVENT_COLUMNS_BUT_BODIES: &str = "id, conversation_id, occasion, event_at, received_at, \
     deliveries, body_format, x'' AS body, NULL AS form_payload, NULL AS body_dictionary, \
     NULL AS body_base";

/// An event as its row keeps it: its body perhaps compressed.
pub struct StoredEvent {
    event: CallEvent,
    dictionary: Option<i64>,
    base: Option<i64>,
}

impl StoredEvent {
    /// Reads a row selected as [`EVENT_COLUMNS`].
    pub fn read(row: &Row) -> rusqlite::Result<StoredEvent> {
        let format: String = row.get(6)?;
        Ok(StoredEvent {
            event: CallEvent {
                event_id: row.get(0)?,
                conversation_id: row.get(1)?,
                occasion: row.get::<_, Option<String>>(2)?.unwrap_or_default(),
                timestamp: read_time(row, 3)?,
                received_at: read_required_time(row, 4)?,
                deliveries: row.get(5)?,
                format: if format == "form" {
                    BodyFormat::Form
                } else {
                    BodyFormat::Json
                },
                body: row
                    .get_ref(7)?
                    .as_bytes_or_null()?
                    .unwrap_or_default()
                    .to_vec(),
                form_payload: row.get(8)?,
            },
            dictionary: row.get(9)?,
            base: row.get(10)?,
        })
    }

    /// The event with its body as received.
    pub fn restore(self, reader: &mut BodyReader) -> Result<CallEvent, StoreError> {
        let StoredEvent {
            mut event,
            dictionary,
            base,
        } = self;
        event.body = reader.read(StoredBody {
            event_id: event.event_id,
            dictionary,
            base,
            stored: std::mem::take(&mut event.body),
        })?;
        Ok(event)
    }
}

/// One stored push of a call.
#[derive(Clone, Debug)]
pub struct CallEvent {
    /// The event's row id: increases with arrival.
    pub event_id: i64,
    pub conversation_id: ConversationId,
    /// The push's occasion; empty when it had none.
    pub occasion: String,
    /// The push's own `timestamp`, when it had a readable one.
    pub timestamp: Option<DateTime<FixedOffset>>,
    pub received_at: DateTime<FixedOffset>,
    pub deliveries: i64,
    pub format: BodyFormat,
    pub body: Vec<u8>,
    pub form_payload: Option<String>,
}

impl CallEvent {
    /// The stored body decoded again, exactly as on arrival: the object
    /// received, or a form body's fields as one. A form body is read from
    /// its own bytes, not from `form_payload` (kept for people): that JSON
    /// text can nest deeper than a JSON parser reads back (a field of 127
    /// nested arrays, inside the object), so a push accepted once could
    /// then never be merged or reprocessed again.
    pub fn decoded(&self) -> Result<Decoded, String> {
        let content_type = match self.format {
            BodyFormat::Form => Some(FORM_CONTENT_TYPE),
            BodyFormat::Json => None,
        };
        decode_body(&self.body, content_type).map_err(|e| e.to_string())
    }

    /// The push as a JSON object.
    pub fn object(&self) -> Option<serde_json::Map<String, Value>> {
        self.decoded().ok().map(|decoded| decoded.object)
    }

    /// The push as received, as text (bytes that are not UTF-8 read as
    /// U+FFFD).
    pub fn body_text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The push as JSON for the API: the object, or its raw text as a JSON
    /// string when it cannot be read as one (a body stored by an earlier
    /// version that nests deeper than is read now).
    pub fn payload_value(&self) -> Value {
        match self.object() {
            Some(object) => Value::Object(object),
            None => Value::String(self.body_text().into_owned()),
        }
    }

    /// Parses the stored body again, exactly as it was parsed on arrival.
    /// A body no longer read (an earlier version stored one nested deeper
    /// than [`crate::wire::json::MAX_DEPTH`]) still counts in its call as
    /// what its row knows, its occasion and time, with a warning, so its
    /// call can still be merged and reprocessed.
    pub fn to_stored_push(&self, offset: FixedOffset) -> Result<StoredPush, StoreError> {
        let failed = |e: String| StoreError::Internal(format!("event {}: {e}", self.event_id));
        let push = match self.decoded() {
            Ok(decoded) => Push::from_decoded(&decoded, offset),
            Err(unread) => {
                let mut known = serde_json::Map::new();
                known.insert("conversation_id".into(), self.conversation_id.0.into());
                known.insert("occasion".into(), self.occasion.clone().into());
                if let Some(timestamp) = &self.timestamp {
                    known.insert("timestamp".into(), format_time(timestamp).into());
                }
                Push::from_object(&known, offset).map(|mut push| {
                    push.warnings.push(crate::domain::ParseWarning {
                        field: "(body)".into(),
                        raw_value: String::new(),
                        problem: format!("the stored body is not read again: {unread}"),
                    });
                    push
                })
            }
        }
        .map_err(|e| failed(e.to_string()))?;
        Ok(StoredPush {
            event_id: self.event_id,
            received_at: self.received_at,
            push,
        })
    }
}

/// Each of a call's events in arrival order, with its body as received,
/// given to `each` one at a time: a call of many large pushes is never
/// held whole.
pub fn each_event_of_call(
    tx: &Connection,
    bodies: &Bodies,
    conversation_id: ConversationId,
    mut each: impl FnMut(CallEvent) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut select = tx.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE conversation_id = ?1 ORDER BY id"
    ))?;
    let mut rows = select.query([conversation_id])?;
    let mut reader = BodyReader::new(bodies, tx, 2);
    while let Some(row) = rows.next()? {
        each(StoredEvent::read(row)?.restore(&mut reader)?)?;
    }
    Ok(())
}
