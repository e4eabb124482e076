//! Keeping the rollups right as calls change, inside the writer's
//! transaction.
//!
//! Whatever writes or deletes a `calls` row reads the call's contribution
//! (its cell keys and measures, [`Contribution`]) before and after, and
//! [`RollupChanges::record`]s the pair. The changes of a whole batch are
//! netted per cell in memory and written once per cell by
//! [`RollupChanges::flush`] before the commit: a group commit of hundreds of
//! pushes touches each day's totals row once, not hundreds of times.
//!
//! Sums move by their difference. A maximum cannot be taken back: when a
//! value leaving a cell may have been its maximum, the cell is recounted
//! from `calls` (its hour or day of calls, read through the time index).

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension};

use super::cells::{Cell, recount, write_cell};
use super::figures::{Figures, max};
use super::measures::{Combine, KEPT};
use super::{CALL_DIMENSIONS, Grain, Key, tables};
use crate::domain::ConversationId;
use crate::storage::StoreError;

/// What one call adds to the rollups: its cells' keys and its measures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contribution {
    hour: Key,
    day: Key,
    /// Values of [`CALL_DIMENSIONS`].
    dimensions: Vec<Key>,
    /// Values of [`KEPT`].
    figures: Figures,
}

impl Contribution {
    fn cell(&self, family: super::Family, grain: Grain) -> Cell {
        let time = match grain {
            Grain::Hour => self.hour.clone(),
            Grain::Day => self.day.clone(),
        };
        let mut keys = vec![time];
        for column in family.dimensions() {
            let at = CALL_DIMENSIONS.iter().position(|c| c == column);
            keys.push(at.map(|at| self.dimensions[at].clone()).unwrap_or_default());
        }
        Cell {
            family,
            grain,
            keys,
        }
    }
}

/// The net change of one cell within a transaction.
#[derive(Clone, Debug)]
struct Delta {
    /// Per measure of [`KEPT`]: the change of a sum.
    sums: Vec<i64>,
    /// Per measure: the largest value added, and the largest taken away.
    added: Vec<Option<i64>>,
    removed: Vec<Option<i64>>,
}

impl Delta {
    fn new() -> Self {
        let n = KEPT.len();
        Delta {
            sums: vec![0; n],
            added: vec![None; n],
            removed: vec![None; n],
        }
    }

    fn apply(&mut self, figures: &Figures, sign: i64) {
        for (index, measure) in KEPT.iter().enumerate() {
            let value = figures.get(index);
            match measure.combine {
                Combine::Sum => self.sums[index] += sign * value.unwrap_or(0),
                Combine::Max if sign > 0 => self.added[index] = max(self.added[index], value),
                Combine::Max => self.removed[index] = max(self.removed[index], value),
            }
        }
    }

    /// The cell after the change, or `None` when only a recount can tell.
    fn applied_to(&self, stored: Option<&Figures>) -> Option<Figures> {
        let mut values = Vec::with_capacity(KEPT.len());
        for (index, measure) in KEPT.iter().enumerate() {
            let old = stored.and_then(|figures| figures.get(index));
            values.push(match measure.combine {
                Combine::Sum => {
                    let sum = old.unwrap_or(0) + self.sums[index];
                    // Below zero, the cell and the calls disagree: recount.
                    if sum < 0 {
                        return None;
                    }
                    Some(sum)
                }
                Combine::Max => {
                    // The largest value the cell has held is still held
                    // when every value taken away is smaller; otherwise
                    // (a value added and taken away again within the
                    // batch, or the maximum's call leaving) only a recount
                    // can tell.
                    let candidate = max(old, self.added[index]);
                    match (self.removed[index], candidate) {
                        (Some(removed), Some(candidate)) if removed < candidate => Some(candidate),
                        (None, candidate) => candidate,
                        _ => return None,
                    }
                }
            });
        }
        Some(Figures(values))
    }
}

/// The changes of one transaction, netted per cell until [`flush`](Self::flush).
pub struct RollupChanges {
    offset_seconds: i32,
    contribution_sql: String,
    cells: HashMap<Cell, Delta>,
}

impl RollupChanges {
    /// For rollups whose hours and days start at `offset_seconds` from UTC.
    pub fn new(offset_seconds: i32) -> Self {
        let measures: Vec<String> = KEPT.iter().map(|m| m.of_one_call()).collect();
        let contribution_sql = format!(
            "SELECT {}, {}, {}, {} FROM calls WHERE conversation_id = ?1",
            Grain::Hour.of_calls(offset_seconds),
            Grain::Day.of_calls(offset_seconds),
            CALL_DIMENSIONS.join(", "),
            measures.join(", "),
        );
        RollupChanges {
            offset_seconds,
            contribution_sql,
            cells: HashMap::new(),
        }
    }

    /// What the call's row adds to the rollups now; `None` without a row.
    pub fn contribution(
        &self,
        conn: &Connection,
        conversation_id: ConversationId,
    ) -> Result<Option<Contribution>, StoreError> {
        let dimensions = CALL_DIMENSIONS.len();
        Ok(conn
            .prepare_cached(&self.contribution_sql)?
            .query_row([conversation_id], |row| {
                Ok(Contribution {
                    hour: row.get(0)?,
                    day: row.get(1)?,
                    dimensions: (2..2 + dimensions)
                        .map(|index| row.get(index))
                        .collect::<Result<_, _>>()?,
                    figures: Figures::read(row, 2 + dimensions, KEPT.len())?,
                })
            })
            .optional()?)
    }

    /// Moves a call's contribution from what it was to what it is.
    pub fn record(&mut self, before: Option<Contribution>, after: Option<Contribution>) {
        if before == after {
            return;
        }
        for (family, grain) in tables() {
            let old = before.as_ref().map(|c| (c.cell(family, grain), &c.figures));
            let new = after.as_ref().map(|c| (c.cell(family, grain), &c.figures));
            // Many changes leave a family's cell as it was (a late survey
            // moves no count; a new result moves no agent's figures).
            if old == new {
                continue;
            }
            if let Some((cell, figures)) = old {
                self.cells
                    .entry(cell)
                    .or_insert_with(Delta::new)
                    .apply(figures, -1);
            }
            if let Some((cell, figures)) = new {
                self.cells
                    .entry(cell)
                    .or_insert_with(Delta::new)
                    .apply(figures, 1);
            }
        }
    }

    /// Forgets what was recorded (its transaction was rolled back).
    pub fn discard(&mut self) {
        self.cells.clear();
    }

    /// Writes every changed cell. Call before the transaction commits.
    pub fn flush(&mut self, tx: &Connection) -> Result<(), StoreError> {
        for (cell, delta) in self.cells.drain() {
            let stored = cell.read(tx)?;
            let figures = match delta.applied_to(stored.as_ref().map(|(_, f)| f)) {
                Some(figures) => figures,
                None => recount(tx, &cell, self.offset_seconds)?,
            };
            write_cell(tx, &cell, stored.map(|(rowid, _)| rowid), &figures)?;
        }
        Ok(())
    }
}
