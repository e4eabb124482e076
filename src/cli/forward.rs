//! `udesk-calls forward retry [--target URL]`: re-queues the pushes parked
//! for a forwarding target, once its receiver is fixed. It writes through a
//! connection of its own, so it runs beside `serve`, whose worker finds the
//! pushes at its next look. Also the `forward` command group's arguments.

use std::process::ExitCode;

use anyhow::Context;

use crate::config::forwarding::display_url;
use crate::storage::jobs::{JobKind, requeue_parked_in};

use clap::{Args, Subcommand};

use super::DatabaseArgs;

/// Reads `--forward-concurrency`: 1 to 256.
pub fn parse_concurrency(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n @ 1..=256) => Ok(n),
        _ => Err(format!("{text:?} is not a number from 1 to 256")),
    }
}

#[derive(Subcommand)]
pub enum ForwardCommand {
    /// Re-queue the pushes parked for a target (after it refused them a few
    /// times, e.g. with a 400), once the receiver is fixed. Safe while
    /// `serve` runs: it sends them within a second or two.
    Retry(ForwardRetryArgs),
}

#[derive(Debug, Args)]
pub struct ForwardRetryArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Only the pushes parked for this URL, as given to --forward-to or as
    /// GraphQL's forwardingTargets shows it (without its query string).
    /// Without it, those of every target.
    #[arg(
        long,
        env = "UDESK_CALLS_FORWARD_RETRY_TARGET",
        value_name = "URL",
        hide_env_values = true
    )]
    pub target: Option<String>,
}

pub async fn retry(args: ForwardRetryArgs) -> anyhow::Result<ExitCode> {
    let wanted = args.target.as_deref().map(str::trim).map(str::to_owned);
    if wanted.as_deref().is_some_and(str::is_empty) {
        anyhow::bail!("--target needs a URL, as given to --forward-to");
    }
    let db = args.database.db.clone();
    let wal_autocheckpoint = args.database.wal_autocheckpoint;
    let filter = wanted.clone();
    let requeued = tokio::task::spawn_blocking(move || {
        requeue_parked_in(&db, wal_autocheckpoint, JobKind::Forward, |target| {
            filter
                .as_deref()
                .is_none_or(|wanted| same_target(target, wanted))
        })
    })
    .await?
    .with_context(|| format!("re-queueing in {} failed", args.database.db.display()))?;
    let total: u64 = requeued.iter().map(|(_, count)| count).sum();
    for (target, count) in &requeued {
        eprintln!(
            "re-queued {count} parked pushes for {}",
            display_url(target)
        );
    }
    match (total, &wanted) {
        (0, Some(wanted)) => eprintln!("no push is parked for {}", display_url(wanted)),
        (0, None) => eprintln!("no push is parked"),
        _ => eprintln!("re-queued {total} parked pushes; a running `serve` sends them now"),
    }
    tracing::info!(pushes = total, "parked forwards re-queued");
    Ok(ExitCode::SUCCESS)
}

/// Whether `wanted` names `target`: the URL in full, or as shown without
/// its query string (a trailing `/` aside).
fn same_target(target: &str, wanted: &str) -> bool {
    let bare = |url: &str| url.trim_end_matches('/').to_owned();
    target == wanted
        || bare(target) == bare(wanted)
        || bare(&display_url(target)) == bare(wanted)
        || bare(&display_url(target)) == bare(&display_url(wanted)) && !wanted.contains('?')
}

#[cfg(test)]
mod tests {
    use super::same_target;

    #[test]
    fn a_target_is_named_in_full_or_as_shown() {
        let target = "https://crm.example.com/hook?token=s3cret";
        assert!(same_target(target, target));
        assert!(same_target(target, "https://crm.example.com/hook"));
        assert!(!same_target(
            target,
            "https://crm.example.com/hook?token=other"
        ));
        assert!(!same_target(target, "https://other.example.com/hook"));
        assert!(same_target(
            "https://crm.example.com/",
            "https://crm.example.com"
        ));
    }
}
