//! `udesk-calls serve`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use crate::config::forwarding::ForwardSettings;
use crate::config::recordings::RecordingSettings;
use crate::config::{Settings, check_exposure, check_token_lengths};
use crate::http::ServeError;
use crate::recordings::archive::Archive;
use crate::storage::{Store, StoreError};

use super::ServeArgs;

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    if let Err(refusal) = ForwardSettings::check_targets(&args.forward_to) {
        anyhow::bail!(refusal);
    }
    let settings = Settings {
        webhook_tokens: trimmed(args.webhook_tokens),
        api_tokens: trimmed(args.api_tokens),
        default_offset: args.database.default_utc_offset,
        max_body_bytes: args.max_body_bytes,
        cors_origins: args.cors_origins,
        graphql_timeout: std::time::Duration::from_secs(args.graphql_timeout_seconds),
        graphql_max_response_bytes: args.graphql_max_response_bytes,
        http_limits: args.http_limits.limits(),
        forwarding: ForwardSettings {
            targets: args.forward_to,
            signing_key: args.forward_secret,
            timeout: args.forward_timeout,
            concurrency: args.forward_concurrency,
        },
        recordings: args.recordings_to.map(|target| RecordingSettings {
            target,
            concurrency: args.recordings_concurrency,
            timeout: args.recordings_timeout,
            max_bytes: args.recordings_max_bytes,
            max_rate: Some(args.recordings_max_rate).filter(|&rate| rate > 0),
        }),
    };
    let archive = match &settings.recordings {
        Some(recordings) => Some(Arc::new(
            Archive::open(&recordings.target, &args.database.db).map_err(anyhow::Error::msg)?,
        )),
        None => None,
    };
    raise_descriptor_limit();
    let listener = crate::http::listen(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    if let Err(refusal) = check_exposure(address, &settings, args.insecure) {
        anyhow::bail!(refusal);
    }
    if let Err(refusal) = check_token_lengths(&settings) {
        anyhow::bail!(refusal);
    }
    let db = args.database.db.clone();
    let options = args.database.store_options(args.readers);
    tracing::info!(
        listen = %address,
        db = %db.display(),
        webhook = %format!("http://{address}/webhooks/udesk/calls"),
        graphql = %format!("http://{address}/graphql"),
        metrics = %format!("http://{address}/metrics"),
        webhook_open = settings.webhook_tokens.is_empty(),
        api_open = settings.api_tokens.is_empty(),
        "udesk-calls is listening; opening the database"
    );
    // Opened (and migrated) off the runtime, while the probes are answered.
    let retain_days = args.retain_days;
    let opening = async move {
        let store = tokio::task::spawn_blocking(move || Store::open(&options).map(Arc::new))
            .await
            .map_err(|error| StoreError::Internal(format!("opening the database: {error}")))??;
        if let Some(days) = retain_days {
            let forget = move |copies: Vec<String>| {
                let archive = archive.clone();
                async move { forget_copies(archive.as_deref(), copies).await }
            };
            tokio::spawn(crate::storage::purge::retain(
                store.writer().clone(),
                days,
                forget,
            ));
        }
        Ok(store)
    };
    match crate::http::serve_opening(listener, opening, settings, shutdown_signal()).await {
        Ok(()) => {}
        Err(ServeError::Open(error)) => {
            return Err(anyhow::Error::new(error))
                .with_context(|| format!("cannot open the database {}", db.display()));
        }
        Err(error) => return Err(error.into()),
    }
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Raises the soft limit on open files to the hard one, so that the
/// connection cap (which stays below it) is not needlessly low.
fn raise_descriptor_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open-files limit"),
        Err(error) => tracing::warn!(%error, "the open-files limit could not be raised"),
    }
}

/// Spaces around a token (`a, b` in the variable) are not part of it; a
/// token left blank is kept, for `check_token_lengths` to refuse.
fn trimmed(tokens: Vec<String>) -> Vec<String> {
    tokens
        .into_iter()
        .map(|token| token.trim().to_owned())
        .collect()
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: refusing new connections, finishing requests in flight");
}

/// Deletes the archived copies an erasure left unused; without an archive
/// configured, says where they still are.
pub async fn forget_copies(archive: Option<&Archive>, copies: Vec<String>) {
    if copies.is_empty() {
        return;
    }
    match archive {
        Some(archive) => archive.forget(copies).await,
        None => tracing::warn!(
            copies = copies.len(),
            "erased calls had archived recordings; give --recordings-to (UDESK_CALLS_RECORDINGS_TO) to delete them too"
        ),
    }
}
