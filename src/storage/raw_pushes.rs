//! A call's pushes as received, for `udesk-calls pushes`: bodies are kept
//! compressed, a call's later ones as deltas of its earlier ones, so
//! `sqlite3` alone no longer shows them.

use std::path::Path;

use super::bodies::Bodies;
use super::connection::{is_current, open_for_reading, open_writer};
use super::events::each_event_of_call;
use super::{DEFAULT_WAL_AUTOCHECKPOINT, StoreError};
use crate::domain::ConversationId;

/// Gives `each` every push of the call, as received, in arrival order;
/// returns how many there were. Reads one snapshot; a file of an older
/// version is migrated first, as by every command.
pub fn each_push_of_call(
    path: &Path,
    conversation_id: ConversationId,
    mut each: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<u64, StoreError> {
    if !path.exists() {
        return Err(StoreError::Unavailable(format!(
            "{} does not exist",
            path.display()
        )));
    }
    let mut connection = open_for_reading(path)?;
    if !is_current(&connection)? {
        connection = open_writer(path, DEFAULT_WAL_AUTOCHECKPOINT)?;
    }
    let tx = connection.unchecked_transaction()?;
    let bodies = Bodies::load(&tx)?;
    let mut pushes = 0;
    each_event_of_call(&tx, &bodies, conversation_id, |event| {
        pushes += 1;
        each(&event.body).map_err(|error| StoreError::Internal(format!("writing a push: {error}")))
    })?;
    Ok(pushes)
}
