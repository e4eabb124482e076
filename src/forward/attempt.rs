//! One try of sending a push to a target, and what its answer means.
//!
//! A `2xx` delivers it. No connection, no answer in time, a `5xx`, `408` or
//! `429` are the target's trouble, not the push's: it is tried again later.
//! Any other answer (a `4xx`, a redirect, which is never followed since it
//! would turn the `POST` into a `GET`) refuses this push; after a few such
//! answers it is parked. An error is described in words that name neither
//! the URL (it may carry a token) nor the body.

use std::time::{Duration, SystemTime};

use axum::http::{HeaderValue, StatusCode, header};
use reqwest::Client;

use super::signature::{message_id, sign};
use crate::config::forwarding::{ForwardSettings, ForwardTarget, SigningSecret};
use crate::jobs::attempt::{Attempt, Failure};
use crate::jobs::backoff::retry_after;
use crate::storage::jobs::StoredBody;

/// Bytes of an answer read (and dropped) so its connection can be reused.
const ANSWER_BYTES_READ: usize = 64 * 1024;

/// The client every target shares: HTTPS with the system's roots (rustls),
/// no redirects, the per-request timeout.
pub fn client(settings: &ForwardSettings) -> reqwest::Result<Client> {
    Client::builder()
        .user_agent(concat!("udesk-calls/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
        .pool_max_idle_per_host(settings.concurrency)
        .build()
}

/// POSTs `push` to `target` byte for byte, with its Content-Type and the
/// Standard Webhooks headers.
pub async fn send(
    client: &Client,
    target: &ForwardTarget,
    secret: Option<&SigningSecret>,
    push: &StoredBody,
    timeout: Duration,
) -> Attempt {
    let id = message_id(&push.sha256);
    let timestamp = chrono::Utc::now().timestamp();
    let mut request = client
        .post(target.url().clone())
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .body(push.body.clone());
    if let Some(content_type) = push
        .content_type
        .as_deref()
        .and_then(|text| HeaderValue::from_str(text).ok())
    {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    if let Some(secret) = secret {
        request = request.header(
            "webhook-signature",
            sign(secret, &id, timestamp, &push.body),
        );
    }
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(error) => return failed_request(&error, timeout),
    };
    let status = response.status();
    let wait = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|value| retry_after(value, SystemTime::now()));
    let mut read = 0;
    while read < ANSWER_BYTES_READ {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            Ok(None) => break,
            Err(error) if status.is_success() && !error.is_timeout() => break,
            Err(error) => return failed_request(&error, timeout),
        }
    }
    judge(status, wait)
}

/// What an answer's status means.
pub fn judge(status: StatusCode, retry_after: Option<Duration>) -> Attempt {
    if status.is_success() {
        return Attempt::Delivered;
    }
    let failure = match status.as_u16() {
        408 => Failure::Timeout,
        429 => Failure::Throttled,
        500..=599 => Failure::ServerError,
        _ => Failure::Refused,
    };
    let mut error = format!("HTTP {status}");
    if status.is_redirection() {
        error.push_str(" (redirects are not followed: give the final URL)");
    }
    Attempt::Failed {
        failure,
        error,
        retry_after,
    }
}

/// A request that got no whole answer: no connection, or too slow.
fn failed_request(error: &reqwest::Error, timeout: Duration) -> Attempt {
    let (failure, error) = if error.is_timeout() {
        (
            Failure::Timeout,
            format!("no answer within {}", humantime::format_duration(timeout)),
        )
    } else if error.is_connect() {
        (
            Failure::Connect,
            format!("could not connect: {}", root_cause(error)),
        )
    } else {
        (
            Failure::Connect,
            format!("the request failed: {}", root_cause(error)),
        )
    };
    Attempt::Failed {
        failure,
        error,
        retry_after: None,
    }
}

/// The innermost cause of an error (`Connection refused (os error 111)`),
/// which names no URL.
fn root_cause(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    if std::ptr::addr_eq(cause, error as &dyn std::error::Error) {
        // No cause below reqwest's own message, which may carry the URL.
        return "no further detail".into();
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(status: u16) -> Option<Failure> {
        match judge(StatusCode::from_u16(status).unwrap(), None) {
            Attempt::Failed { failure, .. } => Some(failure),
            _ => None,
        }
    }

    /// An `https://` URL speaks TLS (rustls, the system's roots): a server
    /// that answers in plain HTTP fails the handshake ("received corrupt
    /// message"), and the error names neither the URL nor its token.
    #[tokio::test]
    async fn https_urls_are_sent_over_tls() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            while let Ok((mut socket, _)) = listener.accept().await {
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let settings = ForwardSettings::default();
        let url = format!("https://{address}/hook?token=s3cret");
        let target = ForwardTarget::parse(&url).unwrap();
        let push = StoredBody {
            event_id: 1,
            body: b"{}".to_vec(),
            content_type: None,
            sha256: [0; 32],
        };
        let client = client(&settings).unwrap();
        let attempt = send(&client, &target, None, &push, settings.timeout).await;
        let Attempt::Failed { failure, error, .. } = attempt else {
            panic!("a plain HTTP answer passed for TLS");
        };
        assert_eq!(failure, Failure::Connect, "{error}");
        assert!(error.contains("corrupt message"), "{error}");
        assert!(
            !error.contains("s3cret") && !error.contains("127.0.0.1"),
            "{error}"
        );
    }

    #[test]
    fn answers_are_judged_by_status() {
        assert_eq!(failure(200), None);
        assert_eq!(failure(204), None);
        assert_eq!(failure(500), Some(Failure::ServerError));
        assert_eq!(failure(503), Some(Failure::ServerError));
        assert_eq!(failure(429), Some(Failure::Throttled));
        assert_eq!(failure(408), Some(Failure::Timeout));
        assert_eq!(failure(400), Some(Failure::Refused));
        assert_eq!(failure(404), Some(Failure::Refused));
        assert_eq!(failure(301), Some(Failure::Refused));
    }
}
