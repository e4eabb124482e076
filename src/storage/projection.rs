//! Writing a merged call: its `calls` row and the rows of its collections.
//!
//! The projection is recomputed from all of the call's events whenever one
//! arrives (see `domain::call`), and written in the same transaction as the
//! event, so the database never shows an event without its effect.

use std::sync::LazyLock;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params};

use crate::domain::collections::Collections;
use crate::domain::fields::{FieldValue, SCALAR_FIELDS};
use crate::domain::{CallProjection, project};
use crate::wire::time::format_time;

use super::StoreError;
use super::events::events_of_call;

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

/// Recomputes one call from its events and writes it.
pub fn reproject_call(
    tx: &Connection,
    conversation_id: i64,
    offset: chrono::FixedOffset,
) -> Result<(), StoreError> {
    let pushes = events_of_call(tx, conversation_id)?
        .iter()
        .map(|row| row.to_stored_push(offset))
        .collect::<Result<Vec<_>, _>>()?;
    match project(&pushes) {
        Some(call) => write_call(tx, &call),
        None => Ok(()),
    }
}

pub fn write_call(tx: &Connection, call: &CallProjection) -> Result<(), StoreError> {
    let mut values: Vec<SqlValue> = vec![
        call.conversation_id.into(),
        call.status.as_str().to_owned().into(),
        call.last_occasion.clone().into(),
        call.started_at.as_ref().map(format_time).into(),
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
    write_collections(tx, call.conversation_id, &call.collections)
}

fn write_collections(
    tx: &Connection,
    id: i64,
    collections: &Collections,
) -> Result<(), StoreError> {
    for table in COLLECTION_TABLES {
        tx.prepare_cached(&format!("DELETE FROM {table} WHERE conversation_id = ?1"))?
            .execute([id])?;
    }
    let Collections {
        custom_fields,
        ticket_numbers,
        callout_tasks,
        relevant_agents,
        agent_tags,
        ivr_recordings,
        ivr_variables,
        questionnaire_answers,
        weixin_openids,
    } = collections;
    insert_rows(
        tx,
        "INSERT INTO custom_fields (conversation_id, position, field_id, name, value) VALUES (?1, ?2, ?3, ?4, ?5)",
        id,
        custom_fields,
        |field| {
            vec![
                field.id.clone().into(),
                field.name.clone().into(),
                field.value.as_ref().map(|v| v.to_string()).into(),
            ]
        },
    )?;
    insert_rows(
        tx,
        "INSERT INTO tickets (conversation_id, position, ticket_number) VALUES (?1, ?2, ?3)",
        id,
        ticket_numbers,
        |number| vec![number.clone().into()],
    )?;
    insert_rows(
        tx,
        "INSERT INTO callout_tasks (conversation_id, position, task_id, name) VALUES (?1, ?2, ?3, ?4)",
        id,
        callout_tasks,
        |task| vec![task.id.into(), task.name.clone().into()],
    )?;
    insert_rows(
        tx,
        "INSERT INTO relevant_agents (conversation_id, position, agent) VALUES (?1, ?2, ?3)",
        id,
        relevant_agents,
        |agent| vec![agent.clone().into()],
    )?;
    insert_rows(
        tx,
        "INSERT INTO agent_tags (conversation_id, position, tag) VALUES (?1, ?2, ?3)",
        id,
        agent_tags,
        |tag| vec![tag.clone().into()],
    )?;
    insert_rows(
        tx,
        "INSERT INTO ivr_recordings (conversation_id, position, recording_id, url) VALUES (?1, ?2, ?3, ?4)",
        id,
        ivr_recordings,
        |recording| vec![recording.id.into(), recording.url.clone().into()],
    )?;
    insert_rows(
        tx,
        "INSERT INTO ivr_variables (conversation_id, position, name, value) VALUES (?1, ?2, ?3, ?4)",
        id,
        ivr_variables,
        |variable| vec![variable.name.clone().into(), variable.value.clone().into()],
    )?;
    insert_rows(
        tx,
        "INSERT INTO questionnaire_answers (conversation_id, position, question, answer) VALUES (?1, ?2, ?3, ?4)",
        id,
        questionnaire_answers,
        |answer| vec![answer.question.clone().into(), answer.answer.clone().into()],
    )?;
    insert_rows(
        tx,
        "INSERT INTO weixin_openids (conversation_id, position, openid) VALUES (?1, ?2, ?3)",
        id,
        weixin_openids,
        |openid| vec![openid.clone().into()],
    )
}

/// Inserts one row per element: (conversation_id, position, columns…).
fn insert_rows<T>(
    tx: &Connection,
    sql: &str,
    conversation_id: i64,
    items: &Option<Vec<T>>,
    columns: impl Fn(&T) -> Vec<SqlValue>,
) -> Result<(), StoreError> {
    let Some(items) = items else {
        return Ok(());
    };
    let mut insert = tx.prepare_cached(sql)?;
    for (position, item) in items.iter().enumerate() {
        let mut values: Vec<SqlValue> = vec![conversation_id.into(), (position as i64).into()];
        values.extend(columns(item));
        insert.execute(rusqlite::params_from_iter(values))?;
    }
    Ok(())
}

/// Drops every projection, so `reprocess` can rebuild them from the events.
pub fn clear_projections(tx: &Connection) -> Result<(), StoreError> {
    for table in COLLECTION_TABLES {
        tx.execute(&format!("DELETE FROM {table}"), params![])?;
    }
    tx.execute("DELETE FROM calls", params![])?;
    Ok(())
}
