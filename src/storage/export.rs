//! Calls as `calls_readable` shows them, a page at a time, for `udesk-calls
//! export` and `GET /export/calls.csv`.
//!
//! Pages follow `calls_by_started_at` from a cursor (start time, then id),
//! so a year of calls is read in the memory of one page, and a served
//! export holds a reader only while it reads a page, not while a slow
//! client takes the bytes. The command reads every page from one snapshot;
//! a served export reads each page from its own, so a call whose start
//! moves across the cursor while the export runs (a later push bringing an
//! earlier `call_start_at`) may be left out or given twice: an export of a
//! span still being pushed to is a picture of moving data.

use std::ops::ControlFlow;
use std::path::Path;

use rusqlite::Connection;
use rusqlite::types::ValueRef;

use super::connection::open_existing_for_a_command;
use super::{Progress, Store, StoreError};

/// Calls read at a time.
pub const EXPORT_PAGE: usize = 500;

/// The calls that started in `[from_ms, to_ms)` (Unix milliseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportSpan {
    pub from_ms: i64,
    pub to_ms: i64,
}

/// Where the next page starts: after this call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportCursor {
    started_at_ms: i64,
    conversation_id: i64,
}

/// One value of `calls_readable`.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
}

/// A page of calls, oldest first.
#[derive(Clone, Debug)]
pub struct ExportPage {
    /// The names of `calls_readable`'s columns, in its order.
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    /// Where the next page starts; `None` after the last one.
    pub next: Option<ExportCursor>,
}

impl Store {
    /// The page of exported calls after `after`.
    pub async fn export_page(
        &self,
        span: ExportSpan,
        after: Option<ExportCursor>,
    ) -> Result<ExportPage, StoreError> {
        // The keys and their rows from one snapshot.
        self.read(move |conn| {
            let snapshot = conn.unchecked_transaction()?;
            export_page(&snapshot, span, after, EXPORT_PAGE)
        })
        .await
    }
}

/// Gives `each` every page of `span` read from the database at `path`, in
/// one snapshot, with how far the export is, until it says to stop;
/// returns how many calls it was given. A file of an older version is migrated first, as by every command.
pub fn export_from_file(
    path: &Path,
    span: ExportSpan,
    mut each: impl FnMut(&ExportPage, Progress) -> std::io::Result<ControlFlow<()>>,
) -> Result<u64, StoreError> {
    let connection = open_existing_for_a_command(path)?;
    // Each page is read once, in order: a small cache keeps a year's export
    // in the memory of a day's.
    connection.pragma_update(None, "cache_size", -2048)?;
    let tx = connection.unchecked_transaction()?;
    let total: i64 = tx.query_row(
        "SELECT count(*) FROM calls WHERE started_at_ms >= ?1 AND started_at_ms < ?2",
        (span.from_ms, span.to_ms),
        |row| row.get(0),
    )?;
    let mut progress = Progress {
        stage: "exporting calls",
        done: 0,
        total: u64::try_from(total).unwrap_or(0),
    };
    let mut after = None;
    loop {
        let page = export_page(&tx, span, after, EXPORT_PAGE)?;
        progress.done += page.rows.len() as u64;
        let flow = each(&page, progress)
            .map_err(|error| StoreError::Internal(format!("writing the export: {error}")))?;
        if flow.is_break() {
            return Ok(progress.done);
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(progress.done),
        }
    }
}

/// Reads up to `limit` calls of `span` after `after`.
pub fn export_page(
    conn: &Connection,
    span: ExportSpan,
    after: Option<ExportCursor>,
    limit: usize,
) -> Result<ExportPage, StoreError> {
    let (after_ms, after_id) = after.map_or((i64::MIN, i64::MIN), |cursor| {
        (cursor.started_at_ms, cursor.conversation_id)
    });
    let mut keys = conn.prepare_cached(
        "SELECT started_at_ms, conversation_id FROM calls INDEXED BY calls_by_started_at
          WHERE started_at_ms >= ?1 AND started_at_ms < ?2
            AND (started_at_ms, conversation_id) > (?3, ?4)
          ORDER BY started_at_ms, conversation_id
          LIMIT ?5",
    )?;
    let keys: Vec<(i64, i64)> = keys
        .query_map(
            (span.from_ms, span.to_ms, after_ms, after_id, limit as i64),
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?
        .collect::<Result<_, _>>()?;
    // The view's rows of these calls, put back in the order of the keys.
    let ids: Vec<String> = keys.iter().map(|(_, id)| id.to_string()).collect();
    let mut rows = conn.prepare(&format!(
        "SELECT * FROM calls_readable WHERE conversation_id IN ({})",
        if ids.is_empty() {
            "NULL".to_owned()
        } else {
            ids.join(",")
        }
    ))?;
    let columns: Vec<String> = rows.column_names().into_iter().map(str::to_owned).collect();
    let id_column = columns
        .iter()
        .position(|name| name == "conversation_id")
        .ok_or_else(|| StoreError::Internal("calls_readable has no conversation_id".into()))?;
    let mut by_id = std::collections::HashMap::with_capacity(keys.len());
    let mut query = rows.query([])?;
    while let Some(row) = query.next()? {
        let cells = (0..columns.len())
            .map(|index| row.get_ref(index).map(cell))
            .collect::<Result<Vec<_>, _>>()?;
        let Cell::Integer(id) = cells[id_column] else {
            return Err(StoreError::Internal(
                "a conversation_id is not a number".into(),
            ));
        };
        by_id.insert(id, cells);
    }
    let rows = keys.iter().filter_map(|(_, id)| by_id.remove(id)).collect();
    let next = (keys.len() == limit).then(|| {
        let (started_at_ms, conversation_id) = keys[keys.len() - 1];
        ExportCursor {
            started_at_ms,
            conversation_id,
        }
    });
    Ok(ExportPage {
        columns,
        rows,
        next,
    })
}

fn cell(value: ValueRef<'_>) -> Cell {
    match value {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(number) => Cell::Integer(number),
        ValueRef::Real(number) => Cell::Real(number),
        ValueRef::Text(text) | ValueRef::Blob(text) => {
            Cell::Text(String::from_utf8_lossy(text).into_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::connection::{DEFAULT_WAL_AUTOCHECKPOINT, open_writer};

    #[test]
    fn pages_give_every_call_once_even_when_many_share_a_millisecond() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(&dir.path().join("export.db"), DEFAULT_WAL_AUTOCHECKPOINT).unwrap();
        // Seven calls at one instant around a page boundary, two before,
        // two after, one outside the span.
        let starts = [5, 10, 20, 20, 20, 20, 20, 20, 20, 30, 40, 50];
        for (index, started_at_ms) in starts.iter().enumerate() {
            conn.execute(
                "INSERT INTO calls (conversation_id, status, last_occasion, started_at_ms,
                                    first_received_at, last_received_at, event_count, warning_count)
                 VALUES (?1, 'ENDED', 'end', ?2, 'x', 'x', 1, 0)",
                (1000 - index as i64, started_at_ms),
            )
            .unwrap();
        }
        let span = ExportSpan {
            from_ms: 10,
            to_ms: 50,
        };
        let mut after = None;
        let mut seen = Vec::new();
        loop {
            let page = export_page(&conn, span, after, 2).unwrap();
            assert!(page.rows.len() <= 2);
            seen.extend(page.rows.iter().map(|row| row[0].clone()));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        // Oldest first, ties by id; 5 and 50 are outside [10, 50).
        let expected: Vec<Cell> = [999, 992, 993, 994, 995, 996, 997, 998, 991, 990]
            .into_iter()
            .map(Cell::Integer)
            .collect();
        assert_eq!(seen, expected);
    }
}
