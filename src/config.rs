//! Settings of a running service, validated once at start.

pub mod http_limits;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime};

use crate::wire::time::beijing;

pub use http_limits::HttpLimits;
pub mod forwarding;
pub mod recordings;

/// What the HTTP layer needs to know; built by the CLI, or by tests directly.
/// Its `Debug` shows how many tokens there are, never the tokens.
#[derive(Clone)]
pub struct Settings {
    /// Tokens a push URL may carry; empty means the webhook is open.
    pub webhook_tokens: Vec<String>,
    /// Bearer tokens for GraphQL; empty means the API is open.
    pub api_tokens: Vec<String>,
    /// How to read Udesk times without an offset; the day boundary of stats.
    pub default_offset: FixedOffset,
    /// Larger push bodies are answered 413.
    pub max_body_bytes: usize,
    /// Origins whose pages may call the GraphQL API from a browser (CORS);
    /// `*` allows any. Empty: same-origin pages only.
    pub cors_origins: Vec<String>,
    /// A GraphQL request still running after this is stopped (`QUERY_TIMEOUT`).
    pub graphql_timeout: Duration,
    /// A GraphQL answer over this many bytes is replaced by one error
    /// (`RESPONSE_TOO_LARGE`).
    pub graphql_max_response_bytes: usize,
    /// Timeouts, connection caps and the GraphQL rate limit.
    pub http_limits: HttpLimits,
    /// Where stored pushes are passed on to; none by default.
    pub forwarding: forwarding::ForwardSettings,
    /// Where recordings are archived; not archived by default.
    pub recordings: Option<recordings::RecordingSettings>,
}

pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// See `SECURITY.md`, "GraphQL limits".
pub const DEFAULT_GRAPHQL_TIMEOUT_SECONDS: u64 = 30;
pub const DEFAULT_GRAPHQL_MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("webhook_tokens", &Redacted(self.webhook_tokens.len()))
            .field("api_tokens", &Redacted(self.api_tokens.len()))
            .field("default_offset", &self.default_offset)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("cors_origins", &self.cors_origins)
            .field("graphql_timeout", &self.graphql_timeout)
            .field(
                "graphql_max_response_bytes",
                &self.graphql_max_response_bytes,
            )
            .field("http_limits", &self.http_limits)
            .field("forwarding", &self.forwarding)
            .finish()
    }
}

/// Stands for `count` secrets in `Debug` output.
pub struct Redacted(pub usize);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} redacted>", self.0)
    }
}

impl Settings {
    /// Open settings for a local trial or a test.
    pub fn open_local() -> Settings {
        Settings {
            webhook_tokens: Vec::new(),
            api_tokens: Vec::new(),
            default_offset: beijing(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            cors_origins: Vec::new(),
            graphql_timeout: Duration::from_secs(DEFAULT_GRAPHQL_TIMEOUT_SECONDS),
            graphql_max_response_bytes: DEFAULT_GRAPHQL_MAX_RESPONSE_BYTES,
            http_limits: HttpLimits::default(),
            forwarding: forwarding::ForwardSettings::default(),
            recordings: None,
        }
    }
}

/// Reads `+08:00`, `+0800`, `-05:30`, `+8`, `Z` or `UTC`.
pub fn parse_utc_offset(text: &str) -> Result<FixedOffset, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("z") || text.eq_ignore_ascii_case("utc") {
        return Ok(FixedOffset::east_opt(0).expect("zero offset"));
    }
    let invalid = || format!("{text:?} is not a UTC offset; write it like +08:00 or -05:30");
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        _ => return Err(invalid()),
    };
    let (hours, minutes) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "0"),
    };
    let hours: i32 = hours.parse().map_err(|_| invalid())?;
    let minutes: i32 = minutes.parse().map_err(|_| invalid())?;
    if hours > 14 || minutes > 59 {
        return Err(invalid());
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60)).ok_or_else(invalid)
}

/// Reads an instant given on the command line: RFC 3339
/// (`2024-05-01T00:00:00+08:00`), a date (`2024-05-01`, midnight) or one of
/// Udesk's formats; a time without an offset is in `offset`.
pub fn parse_instant(text: &str, offset: FixedOffset) -> Result<DateTime<FixedOffset>, String> {
    let text = text.trim();
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return date
            .and_time(NaiveTime::MIN)
            .and_local_timezone(offset)
            .single()
            .ok_or_else(|| format!("{text:?} is not a time in {offset}"));
    }
    crate::wire::time::parse_time(text, offset).ok_or_else(|| {
        format!("{text:?} is not a time; write it like 2024-05-01 or 2024-05-01T00:00:00+08:00")
    })
}

/// Reads a CORS origin: `*`, or `scheme://host[:port]` as a browser sends it.
pub fn parse_cors_origin(text: &str) -> Result<String, String> {
    let text = text.trim().trim_end_matches('/');
    let valid = text == "*"
        || ((text.starts_with("https://") || text.starts_with("http://"))
            && !text
                .split_once("://")
                .is_some_and(|(_, rest)| rest.is_empty() || rest.contains('/'))
            && text.bytes().all(|b| b.is_ascii_graphic()));
    if valid {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text:?} is not an origin; write it as a browser sends it, like https://dashboard.example.com, or * for any"
        ))
    }
}

/// The shortest token accepted: 16 characters of a random string put any
/// guessing out of reach; "secret" or a word is refused at start.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Refuses a blank token and one shorter than [`MIN_TOKEN_CHARS`], naming
/// its flag but never the token. Tokens are compared trimmed, so a blank one
/// (an empty value, spaces, nothing between two commas) would otherwise be
/// dropped and leave its side open: an operator who set the flag or its
/// variable meant it closed.
pub fn check_token_lengths(settings: &Settings) -> Result<(), String> {
    for (flag, variable, tokens) in [
        (
            "--webhook-token",
            "UDESK_CALLS_WEBHOOK_TOKEN",
            &settings.webhook_tokens,
        ),
        ("--api-token", "UDESK_CALLS_API_TOKEN", &settings.api_tokens),
    ] {
        if tokens.iter().any(|token| token.trim().is_empty()) {
            return Err(format!(
                "{flag} ({variable}) was given a blank token (an empty value, only spaces, or nothing \
                 between two commas); give tokens of at least {MIN_TOKEN_CHARS} characters, e.g. from \
                 `openssl rand -hex 16`, or, to run open on a loopback address, leave {flag} out and \
                 unset {variable}"
            ));
        }
        if let Some(short) = tokens
            .iter()
            .find(|token| token.chars().count() < MIN_TOKEN_CHARS)
        {
            return Err(format!(
                "a token of {flag} ({variable}) has {} characters; use at least {MIN_TOKEN_CHARS}, e.g. from `openssl rand -hex 16`",
                short.chars().count()
            ));
        }
    }
    Ok(())
}

/// The rule for exposure: with no tokens, only a loopback address may be
/// served, unless the operator says `--insecure`.
pub fn check_exposure(
    listen: SocketAddr,
    settings: &Settings,
    insecure: bool,
) -> Result<(), String> {
    if insecure || listen.ip().is_loopback() {
        return Ok(());
    }
    let mut missing = Vec::new();
    if settings.webhook_tokens.is_empty() {
        missing.push("--webhook-token (UDESK_CALLS_WEBHOOK_TOKEN)");
    }
    if settings.api_tokens.is_empty() {
        missing.push("--api-token (UDESK_CALLS_API_TOKEN)");
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "refusing to listen on {listen} without {}: anyone who can reach it could read or write call data. \
         Set {}, listen on a loopback address, or pass --insecure to run open anyway",
        missing.join(" and "),
        missing.join(" and ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_read_in_the_usual_spellings() {
        for (text, seconds) in [
            ("+08:00", 8 * 3600),
            ("+0800", 8 * 3600),
            ("+8", 8 * 3600),
            ("-05:30", -(5 * 3600 + 30 * 60)),
            ("Z", 0),
            ("UTC", 0),
        ] {
            assert_eq!(
                parse_utc_offset(text).unwrap().local_minus_utc(),
                seconds,
                "{text}"
            );
        }
        for text in ["08:00", "+25:00", "+08:99", "beijing", ""] {
            assert!(parse_utc_offset(text).is_err(), "{text}");
        }
    }

    #[test]
    fn instants_are_read_as_dates_rfc_3339_or_udesk_times() {
        let offset = beijing();
        for (text, expected) in [
            ("2024-05-01", "2024-05-01T00:00:00+08:00"),
            ("2024-05-01T00:00:00Z", "2024-05-01T00:00:00+00:00"),
            ("2024-05-01 09:30:00", "2024-05-01T09:30:00+08:00"),
        ] {
            assert_eq!(
                parse_instant(text, offset).unwrap().to_rfc3339(),
                expected,
                "{text}"
            );
        }
        assert!(parse_instant("last tuesday", offset).is_err());
    }

    #[test]
    fn cors_origins_are_scheme_host_and_port_or_a_star() {
        assert_eq!(
            parse_cors_origin("https://wall.example.com/").unwrap(),
            "https://wall.example.com"
        );
        assert_eq!(
            parse_cors_origin("http://localhost:5173").unwrap(),
            "http://localhost:5173"
        );
        assert_eq!(parse_cors_origin("*").unwrap(), "*");
        for text in [
            "wall.example.com",
            "https://",
            "https://a.example/path",
            "ftp://x",
            "https://a b",
        ] {
            assert!(parse_cors_origin(text).is_err(), "{text}");
        }
    }

    #[test]
    fn debug_output_counts_tokens_but_never_shows_them() {
        let mut settings = Settings::open_local();
        settings.webhook_tokens = vec!["webhook-secret-1".into()];
        settings.api_tokens = vec!["api-secret-1".into(), "api-secret-2".into()];
        let shown = format!("{settings:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("<2 redacted>"), "{shown}");
    }

    #[test]
    fn short_tokens_are_refused_without_being_shown() {
        let mut settings = Settings::open_local();
        settings.api_tokens = vec!["0123456789abcdef".into()];
        assert!(check_token_lengths(&settings).is_ok());
        settings.webhook_tokens = vec!["0123456789abcdef".into(), "hunter2".into()];
        let refusal = check_token_lengths(&settings).unwrap_err();
        assert!(refusal.contains("--webhook-token") && refusal.contains("7 characters"));
        assert!(!refusal.contains("hunter2"), "{refusal}");
    }

    #[test]
    fn blank_tokens_are_refused_rather_than_leaving_the_service_open() {
        for blank in ["", "   ", &" ".repeat(17), "\t"] {
            let mut settings = Settings::open_local();
            settings.api_tokens = vec!["0123456789abcdef".into(), blank.into()];
            let refusal = check_token_lengths(&settings).unwrap_err();
            assert!(
                refusal.contains("--api-token (UDESK_CALLS_API_TOKEN)")
                    && refusal.contains("blank")
                    && refusal.contains("unset UDESK_CALLS_API_TOKEN"),
                "{refusal}"
            );
            assert!(!refusal.contains("0123456789abcdef"), "{refusal}");
        }
    }

    #[test]
    fn an_open_service_is_refused_on_a_public_address_unless_insecure() {
        let open = Settings::open_local();
        let public: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let loopback: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert!(check_exposure(loopback, &open, false).is_ok());
        let error = check_exposure(public, &open, false).unwrap_err();
        assert!(error.contains("--webhook-token") && error.contains("--api-token"));
        assert!(check_exposure(public, &open, true).is_ok());

        let mut half = open.clone();
        half.webhook_tokens.push("secret".into());
        let error = check_exposure(public, &half, false).unwrap_err();
        assert!(!error.contains("--webhook-token") && error.contains("--api-token"));

        half.api_tokens.push("api".into());
        assert!(check_exposure(public, &half, false).is_ok());
    }
}
