//! One row of a rollup table: finding it, recounting it from `calls`, and
//! writing it back.
//!
//! Keys may be NULL (a call without an agent), so rows are found with `IS`
//! rather than by a conflict on a unique key; the writer is the only one to
//! write them, so finding and then writing cannot race.

use std::sync::LazyLock;

use chrono::{NaiveDate, NaiveDateTime};
use rusqlite::{Connection, OptionalExtension, params_from_iter};

use super::figures::Figures;
use super::measures::KEPT;
use super::{Family, Grain, Key};
use crate::storage::StoreError;

/// A rollup row's identity: its table and its key values (time first, then
/// the family's dimensions).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cell {
    pub family: Family,
    pub grain: Grain,
    pub keys: Vec<Key>,
}

impl Cell {
    fn statements(&self) -> &'static Statements {
        statements(self.family, self.grain)
    }

    /// The row's id and figures, when the row exists.
    pub fn read(&self, conn: &Connection) -> Result<Option<(i64, Figures)>, StoreError> {
        Ok(conn
            .prepare_cached(&self.statements().read)?
            .query_row(params_from_iter(&self.keys), |row| {
                Ok((row.get(0)?, Figures::read(row, 1, KEPT.len())?))
            })
            .optional()?)
    }

    /// The start and end of the cell's hour or day, Unix milliseconds.
    fn span_ms(&self, offset_seconds: i32) -> Result<(i64, i64), StoreError> {
        let text = self.keys[0].as_text().unwrap_or_default();
        let local = match self.grain {
            Grain::Hour => {
                NaiveDateTime::parse_from_str(&format!("{text}:00"), "%Y-%m-%d %H:%M:%S")
            }
            Grain::Day => NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                .map(|day| day.and_hms_opt(0, 0, 0).expect("midnight exists")),
        }
        .map_err(|_| StoreError::Internal(format!("a rollup cell's time is unreadable: {text}")))?;
        let start = (local.and_utc().timestamp() - i64::from(offset_seconds)) * 1000;
        Ok((start, start + self.grain.millis()))
    }
}

/// The cell's figures counted again from the calls it holds.
pub fn recount(conn: &Connection, cell: &Cell, offset_seconds: i32) -> Result<Figures, StoreError> {
    let (from, to) = cell.span_ms(offset_seconds)?;
    let mut params = vec![Key::Int(from), Key::Int(to)];
    params.extend(cell.keys[1..].iter().cloned());
    Ok(conn
        .prepare_cached(&cell.statements().recount)?
        .query_row(params_from_iter(&params), |row| {
            Figures::read(row, 0, KEPT.len())
        })?)
}

/// Writes the cell's figures: a new row, an update, or, when no call is
/// left in it, no row.
pub fn write_cell(
    conn: &Connection,
    cell: &Cell,
    rowid: Option<i64>,
    figures: &Figures,
) -> Result<(), StoreError> {
    let empty = figures.sum(super::measures::at::CALLS) == 0;
    let statements = cell.statements();
    match (rowid, empty) {
        (Some(rowid), true) => {
            conn.prepare_cached(&statements.delete)?.execute([rowid])?;
        }
        (None, true) => {}
        (Some(rowid), false) => {
            let mut params: Vec<Option<i64>> = figures.0.clone();
            params.push(Some(rowid));
            conn.prepare_cached(&statements.update)?
                .execute(params_from_iter(&params))?;
        }
        (None, false) => {
            let values: Vec<rusqlite::types::Value> = cell
                .keys
                .iter()
                .map(key_value)
                .chain(figures.0.iter().map(|v| (*v).into()))
                .collect();
            conn.prepare_cached(&statements.insert)?
                .execute(params_from_iter(&values))?;
        }
    }
    Ok(())
}

fn key_value(key: &Key) -> rusqlite::types::Value {
    match key {
        Key::Null => rusqlite::types::Value::Null,
        Key::Int(int) => (*int).into(),
        Key::Text(text) => text.clone().into(),
    }
}

/// A rollup table's statements, made once: the writer runs them for every
/// cell a batch changes.
pub struct Statements {
    read: String,
    recount: String,
    update: String,
    insert: String,
    delete: String,
}

fn statements(family: Family, grain: Grain) -> &'static Statements {
    static ALL: LazyLock<Vec<((Family, Grain), Statements)>> = LazyLock::new(|| {
        super::tables()
            .map(|(family, grain)| ((family, grain), Statements::of(family, grain)))
            .collect()
    });
    &ALL.iter()
        .find(|(table, _)| *table == (family, grain))
        .expect("every table has its statements")
        .1
}

impl Statements {
    fn of(family: Family, grain: Grain) -> Statements {
        let table = family.table(grain);
        let keys: Vec<&str> = std::iter::once(grain.column())
            .chain(family.dimensions().iter().copied())
            .collect();
        let columns: Vec<&str> = KEPT.iter().map(|m| m.column.as_str()).collect();
        let found: Vec<String> = keys.iter().map(|k| format!("{k} IS ?")).collect();
        let measures: Vec<String> = KEPT.iter().map(|m| m.over_calls()).collect();
        let mut in_cell = vec![
            "started_at_ms >= ?".to_owned(),
            "started_at_ms < ?".to_owned(),
        ];
        in_cell.extend(family.dimensions().iter().map(|c| format!("{c} IS ?")));
        let set: Vec<String> = columns.iter().map(|c| format!("{c} = ?")).collect();
        Statements {
            read: format!(
                "SELECT rowid, {} FROM {table} WHERE {}",
                columns.join(", "),
                found.join(" AND ")
            ),
            recount: format!(
                "SELECT {} FROM calls WHERE {}",
                measures.join(", "),
                in_cell.join(" AND ")
            ),
            update: format!("UPDATE {table} SET {} WHERE rowid = ?", set.join(", ")),
            insert: format!(
                "INSERT INTO {table} ({}, {}) VALUES ({})",
                keys.join(", "),
                columns.join(", "),
                crate::storage::sql::placeholders(keys.len() + columns.len())
            ),
            delete: format!("DELETE FROM {table} WHERE rowid = ?1"),
        }
    }
}
