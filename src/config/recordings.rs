//! Recording archive settings (`serve --recordings-to`): where copies of
//! the calls' recordings are kept, validated at start.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Where recordings are kept: a local directory, or an S3-compatible bucket.
#[derive(Clone, PartialEq, Eq)]
pub enum ArchiveTarget {
    Directory(PathBuf),
    /// `s3://BUCKET/PREFIX`; the endpoint, region and keys come from the
    /// standard `AWS_*` variables.
    S3 {
        bucket: String,
        prefix: String,
    },
}

impl ArchiveTarget {
    /// Reads `s3://BUCKET[/PREFIX]` or a directory's path.
    pub fn parse(text: &str) -> Result<ArchiveTarget, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err(
                "the recordings archive is empty: give a directory or s3://BUCKET/PREFIX".into(),
            );
        }
        let Some(rest) = text.strip_prefix("s3://") else {
            return Ok(ArchiveTarget::Directory(PathBuf::from(text)));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!(
                "{text:?} names no bucket: write s3://BUCKET/PREFIX"
            ));
        }
        Ok(ArchiveTarget::S3 {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        })
    }

    /// The target as the job queue keeps it (and GraphQL and the metrics
    /// show it: it holds no secret). A directory is named by its absolute
    /// path, `.` and trailing slashes left out, so `serve` and `recordings
    /// backfill` name it alike however each was given it.
    pub fn as_target(&self) -> String {
        match self {
            ArchiveTarget::Directory(dir) => {
                let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
                let plain: PathBuf = absolute.components().collect();
                plain.display().to_string()
            }
            bucket => bucket.to_string(),
        }
    }
}

impl fmt::Display for ArchiveTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArchiveTarget::Directory(dir) => write!(f, "{}", dir.display()),
            ArchiveTarget::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            ArchiveTarget::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

impl fmt::Debug for ArchiveTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// How archiving runs.
#[derive(Clone, Debug)]
pub struct RecordingSettings {
    pub target: ArchiveTarget,
    /// Downloads at once at most.
    pub concurrency: usize,
    /// How long one download may take, connecting included.
    pub timeout: Duration,
    /// A recording larger than this is failed, not kept.
    pub max_bytes: u64,
    /// Bytes a second all downloads together may take; `None`: no cap.
    pub max_rate: Option<u64>,
}

pub const DEFAULT_RECORDINGS_CONCURRENCY: usize = 4;
pub const DEFAULT_RECORDINGS_TIMEOUT: Duration = Duration::from_secs(120);
/// Three minutes of WAV are 1–3 MB; an hour of it some 600 MB.
pub const DEFAULT_RECORDINGS_MAX_BYTES: u64 = 1024 * 1024 * 1024;
/// Some forty times what a 200-seat center records in its busiest hour
/// (about 1.5 MB/s), so a day's backlog is archived within the hour.
pub const DEFAULT_RECORDINGS_MAX_RATE: &str = "32MiB";

/// Reads a rate of bytes a second: `32MiB`, `50MB`, `1048576`; `0` is no cap.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let bytes: bytesize::ByteSize = text.trim().trim_end_matches("/s").parse().map_err(|_| {
        format!("{text:?} is not a rate: write e.g. 32MiB (a second), or 0 for none")
    })?;
    Ok(bytes.as_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_a_bucket_with_its_prefix_or_a_directory() {
        assert_eq!(
            ArchiveTarget::parse("s3://calls/rec/2024/").unwrap(),
            ArchiveTarget::S3 {
                bucket: "calls".into(),
                prefix: "rec/2024".into()
            }
        );
        assert_eq!(
            ArchiveTarget::parse("s3://calls").unwrap().to_string(),
            "s3://calls"
        );
        assert_eq!(
            ArchiveTarget::parse("/var/lib/udesk-calls/recordings").unwrap(),
            ArchiveTarget::Directory("/var/lib/udesk-calls/recordings".into())
        );
        assert!(ArchiveTarget::parse("s3:///x").is_err());
        assert!(ArchiveTarget::parse(" ").is_err());
    }

    #[test]
    fn a_directory_is_named_alike_however_it_is_spelled() {
        let plain = ArchiveTarget::parse("/srv/rec").unwrap().as_target();
        for spelling in ["/srv/rec/", "/srv/./rec", "/srv//rec/."] {
            assert_eq!(ArchiveTarget::parse(spelling).unwrap().as_target(), plain);
        }
        let relative = ArchiveTarget::parse("rec/").unwrap().as_target();
        assert!(
            relative.starts_with('/') && relative.ends_with("/rec"),
            "{relative}"
        );
    }
}
