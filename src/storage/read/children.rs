//! What hangs off many calls at once: their events, parse warnings and
//! collections, one query per kind.
//!
//! The API asks for the children of a whole page together (its data loader
//! gathers the ids), so a page of 500 calls costs one query per kind rather
//! than 500.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use rusqlite::{Connection, Row};

use crate::domain::{CollectionKind, Collections, ConversationId, ParseWarning};
use crate::storage::bodies::Bodies;
use crate::storage::bodies::chains::{BodyReader, MAX_DEPTH};
use crate::storage::events::{CallEvent, EVENT_COLUMNS, EVENT_COLUMNS_BUT_BODIES, StoredEvent};
use crate::storage::sql::{placeholders, read_required_time};
use crate::storage::{StoreError, collection_rows};

/// A kind of child of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Child {
    /// With their bodies up to so many bytes a call, or (when no one asked
    /// for them) without: the bodies are most of what a call's events
    /// weigh, compressed.
    Events {
        bodies: Option<usize>,
    },
    ParseWarnings,
    Collection(CollectionKind),
}

/// The children of one kind of one call.
#[derive(Clone, Debug)]
pub enum Children {
    /// In event-time order (events without a timestamp first), then arrival;
    /// shared, since every field asking for them gets the same ones.
    Events(Arc<Vec<CallEvent>>),
    /// The call's bodies exceed the bound asked for: none are kept, so one
    /// call of hundreds of megabytes of pushes is never held in memory.
    EventsTooLarge,
    /// In arrival order of their pushes, then position in the push.
    ParseWarnings(Vec<EventWarning>),
    /// The collection asked for is set; the others are `None`.
    Collection(Collections),
}

/// A parse warning and when the push carrying it arrived.
#[derive(Clone, Debug)]
pub struct EventWarning {
    pub warning: ParseWarning,
    pub received_at: DateTime<FixedOffset>,
}

/// The children of `child` kind of every call in `ids`; calls without any
/// are absent. A call whose bodies, decoded, exceed the bound its kind
/// names has [`Children::EventsTooLarge`] instead of its events.
pub fn children_of(
    conn: &Connection,
    bodies: &Bodies,
    child: Child,
    ids: &[ConversationId],
) -> Result<HashMap<ConversationId, Children>, StoreError> {
    Ok(match child {
        Child::Events { bodies: None } => grouped(
            conn,
            &format!(
                "SELECT {EVENT_COLUMNS_BUT_BODIES} FROM events WHERE conversation_id IN ({{ids}}) \
                 ORDER BY conversation_id, event_at_ms, id"
            ),
            ids,
            1,
            StoredEvent::read,
        )?
        .into_iter()
        .map(|(id, events)| {
            let mut reader = BodyReader::new(bodies, conn, 1);
            let events = events
                .into_iter()
                .map(|event| event.restore(&mut reader))
                .collect::<Result<_, _>>()?;
            Ok((id, Children::Events(Arc::new(events))))
        })
        .collect::<Result<_, StoreError>>()?,
        Child::Events {
            bodies: Some(max_body_bytes),
        } => events_with_bodies(conn, bodies, ids, max_body_bytes)?,
        Child::ParseWarnings => grouped(
            conn,
            "SELECT w.field, w.raw_value, w.problem, e.received_at, w.conversation_id
             FROM parse_warnings w JOIN events e ON e.id = w.event_id
             WHERE w.conversation_id IN ({ids}) ORDER BY w.conversation_id, w.event_id, w.position",
            ids,
            4,
            |row| {
                Ok(EventWarning {
                    warning: ParseWarning {
                        field: row.get(0)?,
                        raw_value: row.get(1)?,
                        problem: row.get(2)?,
                    },
                    received_at: read_required_time(row, 3)?,
                })
            },
        )?
        .into_iter()
        .map(|(id, warnings)| (id, Children::ParseWarnings(warnings)))
        .collect(),
        Child::Collection(kind) => collection_rows::read(conn, kind, ids)?
            .into_iter()
            .map(|(id, collections)| (id, Children::Collection(collections)))
            .collect(),
    })
}

/// Decoded bodies kept while a page's events are read: a call's pushes in
/// event-time order are nearly always in arrival order too, so each one's
/// base was just decoded.
const BODIES_KEPT: usize = MAX_DEPTH as usize + 1;

/// The events of `ids` with their bodies, decoded one at a time: a call is
/// given up (its events dropped, the rest of its rows skipped undecoded) as
/// soon as its bodies pass `max_body_bytes`.
fn events_with_bodies(
    conn: &Connection,
    bodies: &Bodies,
    ids: &[ConversationId],
    max_body_bytes: usize,
) -> Result<HashMap<ConversationId, Children>, StoreError> {
    // Per call: the bytes decoded so far, and its events (none once past).
    let mut by_call: HashMap<ConversationId, (usize, Option<Vec<CallEvent>>)> = HashMap::new();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE conversation_id IN ({}) \
         ORDER BY conversation_id, event_at_ms, id",
        placeholders(ids.len())
    );
    let mut statement = conn.prepare(&sql)?;
    let mut rows = statement.query(rusqlite::params_from_iter(ids))?;
    let mut reader = BodyReader::new(bodies, conn, BODIES_KEPT);
    while let Some(row) = rows.next()? {
        let id: ConversationId = row.get(1)?;
        let (bytes, kept) = by_call.entry(id).or_insert_with(|| (0, Some(Vec::new())));
        let Some(events) = kept else {
            continue;
        };
        let event = StoredEvent::read(row)?.restore(&mut reader)?;
        *bytes = bytes.saturating_add(event.body.len());
        if *bytes > max_body_bytes {
            *kept = None;
        } else {
            events.push(event);
        }
    }
    Ok(by_call
        .into_iter()
        .map(|(id, (_, kept))| match kept {
            Some(events) => (id, Children::Events(Arc::new(events))),
            None => (id, Children::EventsTooLarge),
        })
        .collect())
}

/// Runs `sql` (with `{ids}` standing for the id list, and the call's id in
/// column `id_column`) and groups the rows by call, keeping their order.
fn grouped<T>(
    conn: &Connection,
    sql: &str,
    ids: &[ConversationId],
    id_column: usize,
    read: impl Fn(&Row) -> rusqlite::Result<T>,
) -> Result<HashMap<ConversationId, Vec<T>>, StoreError> {
    let mut by_call: HashMap<ConversationId, Vec<T>> = HashMap::new();
    if ids.is_empty() {
        return Ok(by_call);
    }
    let sql = sql.replace("{ids}", &placeholders(ids.len()));
    let mut statement = conn.prepare(&sql)?;
    let mut rows = statement.query(rusqlite::params_from_iter(ids))?;
    while let Some(row) = rows.next()? {
        by_call
            .entry(row.get(id_column)?)
            .or_default()
            .push(read(row)?);
    }
    Ok(by_call)
}
