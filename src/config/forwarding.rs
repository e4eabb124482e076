//! Forwarding settings (`serve --forward-to`, `--forward-secret`, …),
//! validated at start: the URLs pushes are passed on to, and the secret
//! that signs them.
//!
//! A URL may carry a secret of its receiver (`?token=…`, `user:pass@`), so
//! everything shown to people (GraphQL, metrics, logs) uses
//! [`ForwardTarget::display`]: the URL without its user, password, query
//! string or fragment. The signing secret never appears in a `Debug` output.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// How forwarding runs; no targets means no forwarding.
#[derive(Clone, Debug)]
pub struct ForwardSettings {
    pub targets: Vec<ForwardTarget>,
    /// Signs each request (`webhook-signature`) when set.
    pub signing_key: Option<SigningSecret>,
    /// How long one request may take, connecting included.
    pub timeout: Duration,
    /// Requests in flight to one target at most.
    pub concurrency: usize,
}

pub const DEFAULT_FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_FORWARD_CONCURRENCY: usize = 8;

impl Default for ForwardSettings {
    fn default() -> Self {
        ForwardSettings {
            targets: Vec::new(),
            signing_key: None,
            timeout: DEFAULT_FORWARD_TIMEOUT,
            concurrency: DEFAULT_FORWARD_CONCURRENCY,
        }
    }
}

impl ForwardSettings {
    /// Refuses a URL given twice: every push would be sent to it twice.
    pub fn check_targets(targets: &[ForwardTarget]) -> Result<(), String> {
        for (index, target) in targets.iter().enumerate() {
            if targets[..index].contains(target) {
                return Err(format!(
                    "--forward-to {} is given twice; give each URL once",
                    target.display()
                ));
            }
        }
        Ok(())
    }
}

/// A URL pushes are forwarded to: `http` or `https`, with a host.
#[derive(Clone, PartialEq, Eq)]
pub struct ForwardTarget {
    url: reqwest::Url,
}

impl ForwardTarget {
    /// Reads a `--forward-to` value.
    pub fn parse(text: &str) -> Result<ForwardTarget, String> {
        let text = text.trim();
        let url = reqwest::Url::parse(text).map_err(|error| {
            format!(
                "{:?} is not a URL ({error}); write it like https://crm.example.com/udesk",
                shown(text)
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(format!(
                "{} is not an http:// or https:// URL with a host",
                display_url(text)
            ));
        }
        Ok(ForwardTarget { url })
    }

    /// The URL in full, as requests are sent to it and the queue keys it.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    pub fn url(&self) -> &reqwest::Url {
        &self.url
    }

    /// The URL as people see it: no user, password, query or fragment.
    pub fn display(&self) -> String {
        display_url(self.url.as_str())
    }
}

impl fmt::Debug for ForwardTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ForwardTarget({})", self.display())
    }
}

/// `url` without its user, password, query string or fragment; text that is
/// no URL is cut at its first `?` or `#` (and `@`), so it shows no secret
/// either.
pub fn display_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_query(None);
            parsed.set_fragment(None);
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => shown(url),
    }
}

fn shown(text: &str) -> String {
    let cut = text.split(['?', '#']).next().unwrap_or_default();
    match cut.rsplit_once('@') {
        Some((_, host)) => format!("…@{host}"),
        None => cut.to_owned(),
    }
}

/// The key that signs forwarded requests: `whsec_` and the base64 of at
/// least 24 random bytes, as the Standard Webhooks specification gives it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Vec<u8>);

/// The fewest bytes a signing key may have (the specification's minimum).
const MIN_SECRET_BYTES: usize = 24;

impl SigningSecret {
    /// Reads `whsec_…`; the prefix may be left out, as the Standard Webhooks
    /// libraries allow.
    pub fn parse(text: &str) -> Result<SigningSecret, String> {
        let encoded = text.trim();
        let encoded = encoded.strip_prefix("whsec_").unwrap_or(encoded);
        let how = "make one with: echo \"whsec_$(openssl rand -base64 32)\"";
        // Said apart from a short key: an empty variable is a mistake of
        // the setup, and sending unsigned is the operator's call to make.
        if encoded.is_empty() {
            return Err(format!(
                "--forward-secret (UDESK_CALLS_FORWARD_SECRET) is blank; {how}, \
                 or leave it out and unset UDESK_CALLS_FORWARD_SECRET to send pushes unsigned"
            ));
        }
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| format!("--forward-secret is not whsec_ followed by base64; {how}"))?;
        if key.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "--forward-secret holds {} bytes; use at least {MIN_SECRET_BYTES}; {how}",
                key.len()
            ));
        }
        Ok(SigningSecret(key))
    }

    /// The HMAC key.
    pub fn key(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

/// Reads a timeout like `10s`, `500ms` or `1m`.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text.trim())
        .map_err(|error| format!("{text:?} is not a duration like 10s or 500ms ({error})"))?;
    if duration.is_zero() {
        return Err("the timeout must be longer than 0".into());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_http_or_https_urls_and_show_without_their_secrets() {
        let target =
            ForwardTarget::parse("https://user:pw@crm.example.com:8443/hooks/udesk?token=s3cret#x")
                .unwrap();
        assert_eq!(target.display(), "https://crm.example.com:8443/hooks/udesk");
        assert!(target.as_str().contains("token=s3cret"));
        assert!(!format!("{target:?}").contains("s3cret"));
        for bad in [
            "ftp://x.example/",
            "crm.example.com/hook",
            "http://",
            "not a url?token=s3cret",
        ] {
            let error = ForwardTarget::parse(bad).unwrap_err();
            assert!(!error.contains("s3cret"), "{error}");
        }
        let twice = [target.clone(), target];
        assert!(
            ForwardSettings::check_targets(&twice)
                .unwrap_err()
                .contains("twice")
        );
    }

    #[test]
    fn secrets_are_whsec_base64_of_at_least_24_bytes_and_never_shown() {
        let key = [7u8; 32];
        let text = format!("whsec_{}", STANDARD.encode(key));
        let secret = SigningSecret::parse(&text).unwrap();
        assert_eq!(secret.key(), key);
        assert_eq!(SigningSecret::parse(&STANDARD.encode(key)).unwrap(), secret);
        assert!(!format!("{secret:?}").contains(&STANDARD.encode(key)));
        assert!(SigningSecret::parse("whsec_not*base64").is_err());
        for blank in ["", "  ", "whsec_"] {
            let error = SigningSecret::parse(blank).unwrap_err();
            assert!(
                error.contains("blank") && error.contains("unset UDESK_CALLS_FORWARD_SECRET"),
                "{error}"
            );
        }
        let short = format!("whsec_{}", STANDARD.encode([1u8; 8]));
        assert!(
            SigningSecret::parse(&short)
                .unwrap_err()
                .contains("8 bytes")
        );
    }

    #[test]
    fn timeouts_are_read_with_their_units() {
        assert_eq!(parse_timeout("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_timeout("750ms").unwrap(), Duration::from_millis(750));
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("soon").is_err());
    }
}
