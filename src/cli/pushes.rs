//! `udesk-calls pushes CONVERSATION_ID`: a call's pushes as received, for
//! a person reading what Udesk sent (or piping it back into `import`).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use crate::domain::ConversationId;
use crate::storage::raw_pushes::each_push_of_call;

use super::PushesArgs;

pub async fn run(args: PushesArgs) -> anyhow::Result<ExitCode> {
    let id: i64 = args.conversation_id.trim().parse().with_context(|| {
        format!(
            "CONVERSATION_ID must be a whole number (Udesk's conversation_id), not {:?}",
            args.conversation_id
        )
    })?;
    let db = args.database.db.clone();
    let printed = tokio::task::spawn_blocking(move || {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        // A reader that has seen enough (`| head`) closes the pipe: not an
        // error of this command.
        let mut closed = false;
        let printed = each_push_of_call(&db, ConversationId(id), |body| {
            if closed {
                return Ok(());
            }
            let written = out.write_all(body).and_then(|()| out.write_all(b"\n"));
            match written {
                Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {
                    closed = true;
                    Ok(())
                }
                other => other,
            }
        })?;
        match out.flush() {
            Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error)?,
            _ => {}
        }
        anyhow::Ok(printed)
    })
    .await??;
    if printed == 0 {
        eprintln!("no push of call {id} is stored");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
