//! The values of a list of measures, and how two groups' values combine.

use rusqlite::Row;

use super::measures::{Combine, Measure};

/// One value per measure of a list, in the list's order; a maximum of no
/// value is `None`, a sum is never `None`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Figures(pub Vec<Option<i64>>);

impl Figures {
    /// Reads `count` values starting at column `first`.
    pub fn read(row: &Row<'_>, first: usize, count: usize) -> rusqlite::Result<Self> {
        (first..first + count)
            .map(|index| row.get::<_, Option<i64>>(index))
            .collect::<Result<_, _>>()
            .map(Figures)
    }

    /// Adds another group's values into these, measure by measure.
    pub fn absorb(&mut self, other: &Figures, measures: &[Measure]) {
        for ((mine, theirs), measure) in self.0.iter_mut().zip(&other.0).zip(measures) {
            *mine = match measure.combine {
                Combine::Sum => Some(mine.unwrap_or(0) + theirs.unwrap_or(0)),
                Combine::Max => max(*mine, *theirs),
            };
        }
    }

    pub fn get(&self, index: usize) -> Option<i64> {
        self.0.get(index).copied().flatten()
    }

    /// A sum's value, 0 when absent.
    pub fn sum(&self, index: usize) -> i64 {
        self.get(index).unwrap_or(0)
    }
}

/// The larger of two optional values; `None` only when both are.
pub fn max(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}
