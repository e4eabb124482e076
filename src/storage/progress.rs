//! How a long storage job (a backup, `reprocess`) tells how far it is, so a
//! command can draw a progress bar without the storage layer knowing of one.

/// A job's position: `done` of `total` units of its current stage; a
/// `total` of 0 means the stage's size is not known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// What is being done, for people: `copying pages`, `parsing events`, …
    pub stage: &'static str,
    pub done: u64,
    pub total: u64,
}
