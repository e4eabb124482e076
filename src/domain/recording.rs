//! The recording links a push carries: the call's `record_url` and each of
//! `ivr_record_urls`, and when a signed link says it expires.
//!
//! Udesk's links are signed object-storage URLs (the vendor's sample:
//! Aliyun OSS, `?OSSAccessKeyId=…&Expires=1622778259&Signature=…`); S3's
//! presigned form (`X-Amz-Date` and `X-Amz-Expires`) is read too, since the
//! same service may sit behind either.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::UdeskId;
use super::push::Push;

/// One recording link of a push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingLink {
    /// `""` for the call's own recording; the IVR recording's key otherwise
    /// ([`ivr_recording_key`]).
    pub ivr_recording_id: String,
    pub url: String,
}

/// The recording links of `push`, each once, in the order pushed.
pub fn recording_links(push: &Push) -> Vec<RecordingLink> {
    let mut links = Vec::new();
    if let Some(url) = usable(push.scalars.record_url.as_deref()) {
        links.push(RecordingLink {
            ivr_recording_id: String::new(),
            url,
        });
    }
    for (position, ivr) in push.collections.ivr_recordings.iter().flatten().enumerate() {
        let Some(url) = usable(ivr.url.as_deref()) else {
            continue;
        };
        let link = RecordingLink {
            ivr_recording_id: ivr_recording_key(ivr.id, position),
            url,
        };
        if !links.contains(&link) {
            links.push(link);
        }
    }
    links
}

/// How an IVR recording is named among its call's recordings (and in
/// `/recordings/{conversationId}/ivr/{key}`): its id, or, when it has none,
/// `n` and its place in `ivr_record_urls` from 1, never the call's own
/// recording's `""`.
pub fn ivr_recording_key(id: Option<UdeskId>, position: usize) -> String {
    match id {
        Some(id) => id.to_string(),
        None => format!("n{}", position + 1),
    }
}

/// A link worth fetching: an absolute http(s) URL.
pub fn usable(url: Option<&str>) -> Option<String> {
    let url = url?.trim();
    // Bytes, not `str` slices: a link may hold any text, 中文 included.
    let starts = |scheme: &str| {
        url.len() > scheme.len()
            && url.as_bytes()[..scheme.len()].eq_ignore_ascii_case(scheme.as_bytes())
    };
    let scheme_ok = starts("http://") || starts("https://");
    scheme_ok.then(|| url.to_owned())
}

/// When the signed link `url` stops working, if it says.
pub fn source_expiry(url: &str) -> Option<DateTime<Utc>> {
    let query = url.split_once('?')?.1.split('#').next().unwrap_or_default();
    let param = |name: &str| {
        query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            key.eq_ignore_ascii_case(name).then_some(value)
        })
    };
    if let Some(expires) = param("Expires").and_then(|value| value.parse::<i64>().ok()) {
        return DateTime::from_timestamp(expires, 0);
    }
    let signed = param("X-Amz-Date")?;
    let lasts = param("X-Amz-Expires")?.parse::<i64>().ok()?;
    let signed = NaiveDateTime::parse_from_str(signed, "%Y%m%dT%H%M%SZ").ok()?;
    Some(signed.and_utc() + chrono::Duration::seconds(lasts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expiry_is_read_from_an_oss_or_an_s3_signed_link() {
        let oss = "https://x.oss-cn-hangzhou.aliyuncs.com/a.wav?OSSAccessKeyId=k&Expires=1622778259&Signature=s";
        assert_eq!(source_expiry(oss).unwrap().timestamp(), 1_622_778_259);
        let s3 = "https://b.s3.amazonaws.com/a.wav?X-Amz-Date=20240506T010203Z&X-Amz-Expires=3600&X-Amz-Signature=s";
        assert_eq!(
            source_expiry(s3).unwrap().to_rfc3339(),
            "2024-05-06T02:02:03+00:00"
        );
        assert_eq!(source_expiry("https://x/a.wav"), None);
        assert_eq!(source_expiry("https://x/a.wav?Expires=soon"), None);
    }
}
