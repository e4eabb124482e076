//! A call's pushes as received, for `udesk-calls pushes`: bodies are kept
//! compressed, a call's later ones as deltas of its earlier ones, so
//! `sqlite3` alone no longer shows them.

use std::path::Path;

use super::StoreError;
use super::bodies::Bodies;
use super::connection::open_existing_for_a_command;
use super::events::each_event_of_call;
use crate::domain::ConversationId;

/// Gives `each` every push of the call, as received, in arrival order;
/// returns how many there were. Reads one snapshot; a file of an older
/// version is migrated first, as by every command.
pub fn each_push_of_call(
    path: &Path,
    conversation_id: ConversationId,
    mut each: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<u64, StoreError> {
    let connection = open_existing_for_a_command(path)?;
    let tx = connection.unchecked_transaction()?;
    let bodies = Bodies::load(&tx)?;
    let mut pushes = 0;
    each_event_of_call(&tx, &bodies, conversation_id, |event| {
        pushes += 1;
        each(&event.body).map_err(|error| StoreError::Internal(format!("writing a push: {error}")))
    })?;
    Ok(pushes)
}
