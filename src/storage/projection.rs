//! Writing a merged call: its `calls` row and the rows of its collections.
//!
//! The projection is a merge of all of the call's events (see
//! `domain::call`), redone whenever one arrives and written in the same
//! transaction as the event, so the database never shows an event without
//! its effect.

use std::sync::LazyLock;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params};

use crate::domain::collections::Collections;
use crate::domain::fields::{FieldValue, SCALAR_FIELDS};
use crate::domain::{CallProjection, StoredPush, project};
use crate::wire::time::format_time;

use super::StoreError;
use super::events::events_of_call;
use super::recent_calls::{RecentCall, RecentCalls};

/// Columns of `calls` that are not push fields, in the order bound below.
const CALL_COLUMNS: &[&str] = &[
    "conversation_id",
    "status",
    "last_occasion",
    "started_at",
    "started_at_ms",
    "first_received_at",
    "last_received_at",
    "last_event_at",
    "event_count",
    "warning_count",
];

/// The upsert of a `calls` row, built once from the field table.
static UPSERT_CALL: LazyLock<String> = LazyLock::new(|| {
    let columns: Vec<&str> = CALL_COLUMNS
        .iter()
        .copied()
        .chain(SCALAR_FIELDS.iter().map(|field| field.name))
        .collect();
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let updates: Vec<String> = columns[1..]
        .iter()
        .map(|column| format!("{column} = excluded.{column}"))
        .collect();
    format!(
        "INSERT INTO calls ({}) VALUES ({}) ON CONFLICT (conversation_id) DO UPDATE SET {}",
        columns.join(", "),
        placeholders.join(", "),
        updates.join(", ")
    )
});

/// Tables holding a call's collections; all keyed by (conversation_id, position).
pub const COLLECTION_TABLES: &[&str] = &[
    "custom_fields",
    "tickets",
    "callout_tasks",
    "relevant_agents",
    "agent_tags",
    "ivr_recordings",
    "ivr_variables",
    "questionnaire_answers",
    "weixin_openids",
];

/// Recomputes one call from all its stored events and writes it whole.
pub fn reproject_call(
    tx: &Connection,
    conversation_id: i64,
    offset: chrono::FixedOffset,
) -> Result<(), StoreError> {
    let pushes = load_pushes(tx, conversation_id, offset)?;
    match project(&pushes) {
        Some(call) => write_call(tx, &call, None),
        None => Ok(()),
    }
}

/// Merges a call again after `arrived` was stored, and writes what changed.
///
/// The writer remembers recently merged calls, so the common case (one more
/// push of a call it has seen) neither parses the call's earlier pushes again
/// nor rewrites collections that did not change. The memory is used only when
/// the database holds exactly the pushes it remembers plus `arrived`, so a
/// push written by another process (an `import` beside `serve`) is never
/// missed.
pub fn merge_arrived_push(
    tx: &Connection,
    arrived: StoredPush,
    offset: chrono::FixedOffset,
    recent: &mut RecentCalls,
) -> Result<(), StoreError> {
    let conversation_id = arrived.push.conversation_id;
    let (stored, newest): (i64, i64) = tx
        .prepare_cached("SELECT count(*), max(id) FROM events WHERE conversation_id = ?1")?
        .query_row([conversation_id], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let remembered = recent
        .take(conversation_id)
        .filter(|call| call.pushes.len() as i64 + 1 == stored && newest == arrived.event_id);
    let (pushes, previous) = match remembered {
        Some(RecentCall {
            mut pushes,
            written,
        }) => {
            pushes.push(arrived);
            (pushes, Some(written.collections))
        }
        // A first push: nothing of the call is stored besides it.
        None if stored == 1 => (vec![arrived], Some(Collections::default())),
        None => (load_pushes(tx, conversation_id, offset)?, None),
    };
    let call = project(&pushes).expect("a call with a stored push");
    write_call(tx, &call, previous.as_ref())?;
    recent.put(RecentCall {
        pushes,
        written: call,
    });
    Ok(())
}

fn load_pushes(
    tx: &Connection,
    conversation_id: i64,
    offset: chrono::FixedOffset,
) -> Result<Vec<StoredPush>, StoreError> {
    events_of_call(tx, conversation_id)?
        .iter()
        .map(|row| row.to_stored_push(offset))
        .collect()
}

/// Writes a call's row and its collections. `stored` is what the collection
/// tables hold for the call when known; unchanged collections are skipped.
pub fn write_call(
    tx: &Connection,
    call: &CallProjection,
    stored: Option<&Collections>,
) -> Result<(), StoreError> {
    let mut values: Vec<SqlValue> = vec![
        call.conversation_id.into(),
        call.status.as_str().to_owned().into(),
        call.last_occasion.clone().into(),
        format_time(&call.started_at).into(),
        call.started_at_ms.into(),
        format_time(&call.first_received_at).into(),
        format_time(&call.last_received_at).into(),
        call.last_event_at.as_ref().map(format_time).into(),
        call.event_count.into(),
        call.warning_count.into(),
    ];
    values.extend(call.scalars.0.iter().map(|value| match value {
        None => SqlValue::Null,
        Some(FieldValue::Text(text)) => SqlValue::Text(text.clone()),
        Some(FieldValue::Int(int)) => SqlValue::Integer(*int),
        Some(FieldValue::Bool(flag)) => SqlValue::Integer(i64::from(*flag)),
        Some(FieldValue::Time(time)) => SqlValue::Text(format_time(time)),
    }));
    tx.prepare_cached(&UPSERT_CALL)?
        .execute(rusqlite::params_from_iter(values))?;
    write_collections(tx, call.conversation_id, &call.collections, stored)
}

fn write_collections(
    tx: &Connection,
    id: i64,
    new: &Collections,
    stored: Option<&Collections>,
) -> Result<(), StoreError> {
    let rows = Rows { tx, id };
    rows.replace(
        "custom_fields",
        "field_id, name, value",
        &new.custom_fields,
        stored.map(|s| &s.custom_fields),
        |field| {
            vec![
                field.id.clone().into(),
                field.name.clone().into(),
                field.value.as_ref().map(|v| v.to_string()).into(),
            ]
        },
    )?;
    rows.replace(
        "tickets",
        "ticket_number",
        &new.ticket_numbers,
        stored.map(|s| &s.ticket_numbers),
        |number| vec![number.clone().into()],
    )?;
    rows.replace(
        "callout_tasks",
        "task_id, name",
        &new.callout_tasks,
        stored.map(|s| &s.callout_tasks),
        |task| vec![task.id.into(), task.name.clone().into()],
    )?;
    rows.replace(
        "relevant_agents",
        "agent",
        &new.relevant_agents,
        stored.map(|s| &s.relevant_agents),
        |agent| vec![agent.clone().into()],
    )?;
    rows.replace(
        "agent_tags",
        "tag",
        &new.agent_tags,
        stored.map(|s| &s.agent_tags),
        |tag| vec![tag.clone().into()],
    )?;
    rows.replace(
        "ivr_recordings",
        "recording_id, url",
        &new.ivr_recordings,
        stored.map(|s| &s.ivr_recordings),
        |recording| vec![recording.id.into(), recording.url.clone().into()],
    )?;
    rows.replace(
        "ivr_variables",
        "name, value",
        &new.ivr_variables,
        stored.map(|s| &s.ivr_variables),
        |variable| vec![variable.name.clone().into(), variable.value.clone().into()],
    )?;
    rows.replace(
        "questionnaire_answers",
        "question, answer",
        &new.questionnaire_answers,
        stored.map(|s| &s.questionnaire_answers),
        |answer| vec![answer.question.clone().into(), answer.answer.clone().into()],
    )?;
    rows.replace(
        "weixin_openids",
        "openid",
        &new.weixin_openids,
        stored.map(|s| &s.weixin_openids),
        |openid| vec![openid.clone().into()],
    )
}

/// The rows of one call's collections.
struct Rows<'a> {
    tx: &'a Connection,
    id: i64,
}

impl Rows<'_> {
    /// Makes `table` hold `new`, one row per element: (conversation_id,
    /// position, `columns`…). `stored` is what it holds now, when known.
    fn replace<T: PartialEq>(
        &self,
        table: &str,
        columns: &str,
        new: &Option<Vec<T>>,
        stored: Option<&Option<Vec<T>>>,
        values: impl Fn(&T) -> Vec<SqlValue>,
    ) -> Result<(), StoreError> {
        if stored == Some(new) {
            return Ok(());
        }
        if !matches!(stored, Some(None)) {
            self.tx
                .prepare_cached(&format!("DELETE FROM {table} WHERE conversation_id = ?1"))?
                .execute([self.id])?;
        }
        let Some(items) = new else {
            return Ok(());
        };
        let width = columns.split(',').count();
        let placeholders: Vec<String> = (1..=width + 2).map(|i| format!("?{i}")).collect();
        let mut insert = self.tx.prepare_cached(&format!(
            "INSERT INTO {table} (conversation_id, position, {columns}) VALUES ({})",
            placeholders.join(", ")
        ))?;
        for (position, item) in items.iter().enumerate() {
            let mut row: Vec<SqlValue> = vec![self.id.into(), (position as i64).into()];
            row.extend(values(item));
            insert.execute(rusqlite::params_from_iter(row))?;
        }
        Ok(())
    }
}

/// Drops every projection, so `reprocess` can rebuild them from the events.
pub fn clear_projections(tx: &Connection) -> Result<(), StoreError> {
    for table in COLLECTION_TABLES {
        tx.execute(&format!("DELETE FROM {table}"), params![])?;
    }
    tx.execute("DELETE FROM calls", params![])?;
    Ok(())
}
