//! Logging: the format of the lines, what `RUST_LOG` may turn on, and what
//! no setting can.
//!
//! Lines go to standard error, as text (for people and journald) or as one
//! JSON object per line (for a log collector). `RUST_LOG` picks what is
//! logged, `info` by default. A few dependencies log what they carry at
//! their most verbose levels (frames, URLs, request values); the targets in
//! [`CAPPED`] are capped in a filter of their own, beside the one `RUST_LOG`
//! builds, so no value of `RUST_LOG`, not even `trace` or `hyper=trace`, lifts
//! the cap and lets a token or a phone number reach the log.

use std::io::IsTerminal;

use tracing::{Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event.
    #[default]
    Text,
    /// One JSON object per line, its fields at the top level.
    Json,
}

/// Targets whose verbose events could carry secrets or personal data, with
/// the most verbose level they may log at:
///
/// - `axum::rejection` logs (at `trace`) why a request was refused, quoting
///   serde's message, which can quote a value of the request.
/// - `hyper` and `h2`, when built with their tracing, log parsed frames and
///   headers (an `Authorization` header among them) at `debug` and `trace`.
/// - `tungstenite` logs WebSocket frames with their payload at `trace`; the
///   first frame of a GraphQL subscription carries the bearer token.
/// - `reqwest` logs request URLs at `debug`; a URL may carry a token.
pub const CAPPED: &[(&str, Level)] = &[
    ("axum::rejection", Level::DEBUG),
    ("hyper", Level::INFO),
    ("h2", Level::INFO),
    ("tungstenite", Level::INFO),
    ("tokio_tungstenite", Level::INFO),
    ("reqwest", Level::INFO),
];

/// Installs the process's logger; call once, first thing.
pub fn init(format: LogFormat) {
    let wanted = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env_lossy();
    let ansi = format == LogFormat::Text && std::io::stderr().is_terminal();
    logger(format, wanted, std::io::stderr, ansi).init();
}

/// The logger: `wanted` (what `RUST_LOG` asks for) and the caps, both of
/// which an event must pass, then lines in `format` to `writer`.
fn logger<W>(
    format: LogFormat,
    wanted: EnvFilter,
    writer: W,
    ansi: bool,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let caps = Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets(CAPPED.iter().copied());
    let filtered = tracing_subscriber::registry().with(caps).with(wanted);
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => Box::new(filtered.with(lines)),
        LogFormat::Json => Box::new(
            filtered.with(
                lines
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(true),
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Lines written, for a test to read.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn log_at(directives: &str, format: LogFormat, emit: impl FnOnce()) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let logger = logger(
            format,
            EnvFilter::new(directives),
            move || writer.clone(),
            false,
        );
        tracing::subscriber::with_default(logger, emit);
        String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn no_rust_log_lifts_the_caps() {
        for directives in [
            "trace",
            "trace,hyper=trace,axum::rejection=trace",
            "info,hyper::proto=trace",
        ] {
            let log = log_at(directives, LogFormat::Text, || {
                tracing::trace!(target: "hyper::proto::h1::role", "authorization: Bearer s3cret");
                tracing::trace!(target: "axum::rejection", body = "expected digits, got 13912345678");
                tracing::debug!(target: "reqwest::connect", "https://example.com/?token=s3cret");
                tracing::info!(target: "hyper::server", "kept-info");
            });
            assert!(
                !log.contains("s3cret") && !log.contains("13912345678"),
                "{directives}: {log}"
            );
            assert!(log.contains("kept-info"), "{directives}: {log}");
        }
    }

    #[test]
    fn rust_log_still_decides_for_everything_else() {
        let log = log_at("info,udesk_calls=trace", LogFormat::Text, || {
            tracing::trace!(target: "udesk_calls::http", "ours at trace");
            tracing::debug!(target: "tower", "theirs at debug");
        });
        assert!(
            log.contains("ours at trace") && !log.contains("theirs"),
            "{log}"
        );
    }

    #[test]
    fn json_lines_carry_the_fields_at_the_top_level() {
        let log = log_at("info", LogFormat::Json, || {
            tracing::info!(method = "GET", path = "/livez", status = 200_u16, "request");
        });
        let line: serde_json::Value = serde_json::from_str(log.trim()).unwrap();
        assert_eq!(line["message"], "request");
        assert_eq!(line["path"], "/livez");
        assert_eq!(line["status"], 200);
    }
}
