//! Fetching one recording: streamed into a staging file while hashed, within
//! a size limit and a timeout, its answer read as the job runner's terms.
//!
//! An error is described in words that never name the link (it carries a
//! signature): `reqwest`'s errors are stripped of their URL.

use std::path::Path;
use std::time::Duration;

use reqwest::{Client, StatusCode, header};
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;
use tokio::io::AsyncWriteExt;
use tokio::time::{Instant, timeout_at};

use super::pace::Pace;
use crate::jobs::{Attempt, Failure};

/// A recording fetched into a staging file, not yet archived.
pub struct Downloaded {
    pub file: NamedTempFile,
    pub bytes: u64,
    /// Lowercase hex.
    pub sha256: String,
    pub content_type: String,
}

/// Fetches `url` into a new file in `staging`.
pub async fn download(
    client: &Client,
    url: &str,
    staging: &Path,
    max_bytes: u64,
    timeout: Duration,
    pace: &Pace,
) -> Result<Downloaded, Attempt> {
    // The time allowed is the download's own: waits for the rate cap
    // (`pace`) move the deadline on, so a cap never makes a recording too
    // slow to keep.
    let mut deadline = Instant::now() + timeout;
    let mut response = timeout_at(deadline, client.get(url).send())
        .await
        .map_err(|_| timed_out(timeout))?
        .map_err(|error| failed_request(&error))?;
    let status = response.status();
    if !status.is_success() {
        return Err(refused(status, &response));
    }
    if let Some(length) = response.content_length()
        && length > max_bytes
    {
        return Err(too_large(max_bytes));
    }
    let content_type = content_type(&response, url);
    if is_a_page(&content_type) {
        // A source's error page answered `200`: not a recording.
        return Err(Attempt::Failed {
            failure: Failure::Refused,
            error: format!("the recording's link answered a page ({content_type}), not audio"),
            retry_after: None,
        });
    }
    let staged = NamedTempFile::new_in(staging).map_err(|error| archive_trouble(&error))?;
    let mut file =
        tokio::fs::File::from_std(staged.reopen().map_err(|error| archive_trouble(&error))?);
    let mut hash = Sha256::new();
    let mut bytes = 0u64;
    let mut carry = 0;
    while let Some(chunk) = timeout_at(deadline, response.chunk())
        .await
        .map_err(|_| timed_out(timeout))?
        .map_err(|error| failed_request(&error))?
    {
        bytes += chunk.len() as u64;
        if bytes > max_bytes {
            return Err(too_large(max_bytes));
        }
        let paced = Instant::now();
        pace.take(chunk.len(), &mut carry).await;
        deadline += paced.elapsed();
        hash.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|error| archive_trouble(&error))?;
    }
    if bytes == 0 {
        return Err(Attempt::Failed {
            failure: Failure::Refused,
            error: "the recording's link answered no bytes".to_owned(),
            retry_after: None,
        });
    }
    file.sync_all()
        .await
        .map_err(|error| archive_trouble(&error))?;
    Ok(Downloaded {
        file: staged,
        bytes,
        sha256: hex(&hash.finalize()),
        content_type,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The answer's Content-Type, or one read from the link's file name.
fn content_type(response: &reqwest::Response, url: &str) -> String {
    let declared = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|value| !value.is_empty() && value != "application/octet-stream");
    declared.unwrap_or_else(|| {
        let path = url.split(['?', '#']).next().unwrap_or_default();
        let extension = path
            .rsplit_once('.')
            .map(|(_, ext)| ext.to_ascii_lowercase());
        match extension.as_deref() {
            Some("wav") => "audio/wav",
            Some("mp3") => "audio/mpeg",
            Some("ogg") => "audio/ogg",
            Some("m4a") | Some("aac") => "audio/aac",
            _ => "application/octet-stream",
        }
        .to_owned()
    })
}

/// Text a person reads, not audio.
fn is_a_page(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || matches!(
            content_type,
            "application/json" | "application/xml" | "application/xhtml+xml"
        )
}

fn timed_out(timeout: Duration) -> Attempt {
    Attempt::Failed {
        failure: Failure::Timeout,
        error: format!(
            "the download took longer than {} (--recordings-timeout)",
            humantime::format_duration(timeout)
        ),
        retry_after: None,
    }
}

fn failed_request(error: &reqwest::Error) -> Attempt {
    let failure = if error.is_timeout() {
        Failure::Timeout
    } else if error.is_connect() {
        Failure::Connect
    } else {
        Failure::ServerError
    };
    let error = format!("the download failed: {}", error_without_url(error));
    Attempt::Failed {
        failure,
        error,
        retry_after: None,
    }
}

fn error_without_url(error: &reqwest::Error) -> String {
    let mut shown = error.to_string();
    if let Some(url) = error.url() {
        shown = shown.replace(url.as_str(), "the recording's link");
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        shown.push_str(": ");
        shown.push_str(&cause.to_string());
        source = cause.source();
    }
    shown
}

/// A status that is no success: gone for good (`403`, `404`, `410`: the
/// link's signature or its object), the source's trouble (`5xx`, `408`,
/// `429`), or a refusal of this recording (any other).
fn refused(status: StatusCode, response: &reqwest::Response) -> Attempt {
    let error = format!("the recording's link answered {status}");
    let failure = match status.as_u16() {
        403 | 404 | 410 => Failure::Gone,
        408 => Failure::Timeout,
        429 => Failure::Throttled,
        500..=599 => Failure::ServerError,
        _ => Failure::Refused,
    };
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|value| crate::jobs::backoff::retry_after(value, std::time::SystemTime::now()));
    Attempt::Failed {
        failure,
        error,
        retry_after,
    }
}

fn too_large(max_bytes: u64) -> Attempt {
    Attempt::Failed {
        failure: Failure::Gone,
        error: format!("the recording is larger than {max_bytes} bytes (--recordings-max-bytes)"),
        retry_after: None,
    }
}

/// The archive's own trouble (a full disk): the recording is tried again
/// later.
pub fn archive_trouble(error: &dyn std::fmt::Display) -> Attempt {
    Attempt::Failed {
        failure: Failure::ServerError,
        error: format!("the archive failed: {error}"),
        retry_after: None,
    }
}
