//! The tables of a call's collections, written and read from the push table's
//! description ([`CollectionKind`]): one generic path for every collection.
//!
//! Each table holds `(conversation_id, position, columns…)`, one row per
//! element, in the order pushed.

use std::collections::HashMap;

use rusqlite::Connection;

use crate::domain::fields::FieldValue;
use crate::domain::{CollectionKind, Collections, ConversationId};

use super::StoreError;
use super::sql::{field_value, placeholders, to_sql_value};

/// Makes the collection tables hold `new` for the call. `stored` is what they
/// hold now, when known: unchanged collections are then left alone.
pub fn write(
    tx: &Connection,
    id: ConversationId,
    new: &Collections,
    stored: Option<&Collections>,
) -> Result<(), StoreError> {
    for &kind in CollectionKind::ALL {
        if stored.is_some_and(|stored| stored.same(new, kind)) {
            continue;
        }
        let table = kind.table();
        if stored.is_none_or(|stored| stored.rows(kind).is_some()) {
            tx.prepare_cached(&format!("DELETE FROM {table} WHERE conversation_id = ?1"))?
                .execute([id])?;
        }
        let Some(rows) = new.rows(kind) else { continue };
        let columns = kind.columns();
        let mut insert = tx.prepare_cached(&format!(
            "INSERT INTO {table} (conversation_id, position, {}) VALUES ({})",
            columns.join(", "),
            placeholders(columns.len() + 2)
        ))?;
        for (position, row) in rows.into_iter().enumerate() {
            let values = [id.0.into(), (position as i64).into()]
                .into_iter()
                .chain(row.into_iter().map(to_sql_value));
            insert.execute(rusqlite::params_from_iter(values))?;
        }
    }
    Ok(())
}

/// One collection of many calls at once, in pushed order; a call without
/// elements is absent.
pub fn read(
    conn: &Connection,
    kind: CollectionKind,
    ids: &[ConversationId],
) -> Result<HashMap<ConversationId, Collections>, StoreError> {
    let mut by_call: HashMap<ConversationId, Vec<Vec<Option<FieldValue>>>> = HashMap::new();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let columns = kind.columns();
    let sql = format!(
        "SELECT conversation_id, {} FROM {} WHERE conversation_id IN ({}) \
         ORDER BY conversation_id, position",
        columns.join(", "),
        kind.table(),
        placeholders(ids.len())
    );
    let mut statement = conn.prepare(&sql)?;
    let mut rows = statement.query(rusqlite::params_from_iter(ids))?;
    while let Some(row) = rows.next()? {
        let values = (1..=columns.len())
            .map(|index| field_value(row, index))
            .collect::<rusqlite::Result<_>>()?;
        by_call.entry(row.get(0)?).or_default().push(values);
    }
    Ok(by_call
        .into_iter()
        .map(|(id, rows)| {
            let mut collections = Collections::default();
            collections.set_rows(kind, rows);
            (id, collections)
        })
        .collect())
}

/// Empties every collection table, for `reprocess`.
pub fn clear_all(tx: &Connection) -> Result<(), StoreError> {
    for kind in CollectionKind::ALL {
        tx.execute(&format!("DELETE FROM {}", kind.table()), [])?;
    }
    Ok(())
}
