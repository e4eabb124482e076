//! Where recordings are kept: a local directory ([`directory`]) or an
//! S3-compatible bucket ([`bucket`]), each copy named by its SHA-256
//! (`ab/abcdef….wav`), so the same audio is kept once. A copy is written
//! whole or not at all: downloads are staged in a local folder (inside the
//! directory, or beside the database for a bucket), synced, and only then
//! renamed into place or uploaded as one object; a staged file a crash left
//! behind is removed at start.

mod bucket;
mod directory;

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use tokio::io::AsyncRead;

use super::download::Downloaded;
use crate::config::recordings::ArchiveTarget;
use bucket::Bucket;

/// The bytes of a copy, streamed.
pub type CopyReader = Pin<Box<dyn AsyncRead + Send + 'static>>;

pub struct Archive {
    target: ArchiveTarget,
    staging: PathBuf,
    kept: Kept,
}

enum Kept {
    Directory(PathBuf),
    Bucket(Bucket),
}

impl Archive {
    /// Opens the archive at `target` (a bucket's downloads are staged
    /// beside `database`), creating the folders it needs.
    pub fn open(target: &ArchiveTarget, database: &Path) -> Result<Archive, String> {
        let (kept, staging) = match target {
            ArchiveTarget::Directory(root) => {
                (Kept::Directory(root.clone()), directory::staging_in(root))
            }
            ArchiveTarget::S3 { bucket, prefix } => (
                Kept::Bucket(Bucket::open(bucket, prefix)?),
                bucket::staging_beside(database),
            ),
        };
        std::fs::create_dir_all(&staging).map_err(|error| {
            format!(
                "the recordings' staging folder {} cannot be made: {error}",
                staging.display()
            )
        })?;
        Ok(Archive {
            target: target.clone(),
            staging,
            kept,
        })
    }

    /// Removes what a crash left half-downloaded (its job fetches it
    /// again); only while no download runs.
    pub fn clear_staging(&self) {
        for entry in std::fs::read_dir(&self.staging)
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }

    pub fn target(&self) -> &ArchiveTarget {
        &self.target
    }

    /// Where downloads are staged, on a local file system.
    pub fn staging(&self) -> &Path {
        &self.staging
    }

    /// Keeps `downloaded` under its content's name; returns the name.
    pub async fn keep(&self, downloaded: Downloaded) -> io::Result<String> {
        let key = key_of(&downloaded.sha256, &downloaded.content_type);
        match &self.kept {
            Kept::Directory(root) => directory::keep(root, &key, downloaded).await?,
            Kept::Bucket(bucket) => bucket.keep(&key, downloaded).await?,
        }
        Ok(key)
    }

    /// `length` bytes of the copy `key` from `start`, to stream.
    pub async fn read(&self, key: &str, start: u64, length: u64) -> io::Result<CopyReader> {
        let key = checked(key)?;
        if length == 0 {
            return Ok(Box::pin(tokio::io::empty()));
        }
        match &self.kept {
            Kept::Directory(root) => directory::read(root, key, start, length).await,
            Kept::Bucket(bucket) => bucket.read(key, start, length).await,
        }
    }

    /// Every byte of the copy `key` (however many it holds), to check it.
    pub async fn read_whole(&self, key: &str) -> io::Result<CopyReader> {
        let key = checked(key)?;
        match &self.kept {
            Kept::Directory(root) => Ok(Box::pin(tokio::fs::File::open(root.join(key)).await?)),
            Kept::Bucket(bucket) => bucket.read_whole(key).await,
        }
    }

    /// Removes the copy `key`; a copy already gone is no error.
    pub async fn remove(&self, key: &str) -> io::Result<()> {
        let key = checked(key)?;
        match &self.kept {
            Kept::Directory(root) => directory::remove(root, key).await,
            Kept::Bucket(bucket) => bucket.remove(key).await,
        }
    }

    /// Deletes the copies `keys` (a purge's: no call uses them any more).
    pub async fn forget(&self, keys: Vec<String>) {
        for key in keys {
            if let Err(error) = self.remove(&key).await {
                tracing::warn!(%error, key, "an erased call's recording could not be deleted from the archive");
            }
        }
    }
}

/// `key`, which must be a name this archive gave: relative, without `..`.
fn checked(key: &str) -> io::Result<&str> {
    let plain = key
        .split('/')
        .all(|part| !part.is_empty() && part != ".." && part != ".");
    if !plain || key.starts_with('/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not an archive key",
        ));
    }
    Ok(key)
}

/// The name of a copy: its hash, in a folder of its first two digits,
/// with the extension of its type.
fn key_of(sha256: &str, content_type: &str) -> String {
    let extension = match content_type {
        "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => "wav",
        "audio/mpeg" | "audio/mp3" => "mp3",
        "audio/ogg" => "ogg",
        "audio/aac" | "audio/mp4" | "audio/x-m4a" => "m4a",
        _ => "bin",
    };
    format!("{}/{sha256}.{extension}", &sha256[..2])
}
