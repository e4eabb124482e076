//! `udesk-calls serve`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::{Settings, check_exposure};
use crate::storage::Store;

use super::ServeArgs;

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings {
        webhook_tokens: non_empty(args.webhook_tokens),
        api_tokens: non_empty(args.api_tokens),
        default_offset: args.database.default_utc_offset,
        max_body_bytes: args.max_body_bytes,
        cors_origins: args.cors_origins,
    };
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    if let Err(refusal) = check_exposure(address, &settings, args.insecure) {
        anyhow::bail!(refusal);
    }
    let store = Store::open(&args.database.store_options(args.readers))
        .with_context(|| format!("cannot open the database {}", args.database.db.display()))?;
    tracing::info!(
        %address,
        db = %args.database.db.display(),
        webhook = %format!("http://{address}/webhooks/udesk/calls"),
        graphql = %format!("http://{address}/graphql"),
        webhook_open = settings.webhook_tokens.is_empty(),
        api_open = settings.api_tokens.is_empty(),
        "udesk-calls is listening"
    );
    let store = Arc::new(store);
    if let Some(days) = args.retain_days {
        tokio::spawn(crate::storage::purge::retain(store.writer().clone(), days));
    }
    crate::serve(listener, store, settings, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Blank tokens (an empty variable, a trailing comma) are no tokens.
fn non_empty(tokens: Vec<String>) -> Vec<String> {
    tokens
        .into_iter()
        .map(|token| token.trim().to_owned())
        .filter(|token| !token.is_empty())
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
    tracing::info!("shutting down: finishing requests in flight");
}
