//! Counting every rollup cell again from `calls`.
//!
//! The rollups are kept for one UTC offset, recorded in `rollup_state`.
//! Opening the store with another `--default-utc-offset`, or a database
//! whose rollups were never counted, rebuilds them; so does `reprocess`,
//! which rewrites every call.

use rusqlite::{Connection, OptionalExtension};

use super::measures::KEPT;
use super::tables;
use crate::storage::StoreError;

/// The offset the rollups were counted for, if they were.
pub fn counted_offset(conn: &Connection) -> Result<Option<i32>, StoreError> {
    Ok(conn
        .query_row("SELECT utc_offset_seconds FROM rollup_state", [], |row| {
            row.get(0)
        })
        .optional()?)
}

/// Recounts every rollup table from `calls`, in the caller's transaction.
pub fn rebuild(tx: &Connection, offset_seconds: i32) -> Result<(), StoreError> {
    let columns: Vec<&str> = KEPT.iter().map(|m| m.column.as_str()).collect();
    let measures: Vec<String> = KEPT.iter().map(|m| m.over_calls()).collect();
    for (family, grain) in tables() {
        let table = family.table(grain);
        let keys: Vec<String> = std::iter::once(grain.of_calls(offset_seconds))
            .chain(family.dimensions().iter().map(|c| (*c).to_owned()))
            .collect();
        let key_columns: Vec<&str> = std::iter::once(grain.column())
            .chain(family.dimensions().iter().copied())
            .collect();
        let positions: Vec<String> = (1..=keys.len()).map(|i| i.to_string()).collect();
        tx.execute(&format!("DELETE FROM {table}"), [])?;
        tx.execute(
            &format!(
                "INSERT INTO {table} ({}, {}) SELECT {}, {} FROM calls GROUP BY {}",
                key_columns.join(", "),
                columns.join(", "),
                keys.join(", "),
                measures.join(", "),
                positions.join(", "),
            ),
            [],
        )?;
    }
    tx.execute("DELETE FROM rollup_state", [])?;
    tx.execute(
        "INSERT INTO rollup_state (utc_offset_seconds) VALUES (?1)",
        [offset_seconds],
    )?;
    Ok(())
}

/// Rebuilds the rollups unless they were counted for `offset_seconds`;
/// returns whether it did.
pub fn ensure(conn: &mut Connection, offset_seconds: i32) -> Result<bool, StoreError> {
    if counted_offset(conn)? == Some(offset_seconds) {
        return Ok(false);
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    rebuild(&tx, offset_seconds)?;
    tx.commit()?;
    Ok(true)
}
