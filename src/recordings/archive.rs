//! Where recordings are kept, named by their SHA-256 (`ab/abcdef….wav`), so
//! the same audio is kept once. A copy is written whole or not at all: it
//! is staged in `.incoming/` beside the archive, synced, then renamed into
//! place and its directory synced, so a crash leaves no partial file under
//! a final name (a staged file a crash left behind is removed at start).

use std::io;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::download::Downloaded;
use crate::config::recordings::ArchiveTarget;

/// The folder of staged downloads, inside a directory archive.
const STAGING: &str = ".incoming";

pub struct Archive {
    target: ArchiveTarget,
    root: PathBuf,
    staging: PathBuf,
}

impl Archive {
    /// Opens the archive at `target`, creating its directory.
    pub fn open(target: &ArchiveTarget) -> Result<Archive, String> {
        let ArchiveTarget::Directory(root) = target else {
            return Err(format!(
                "{target}: this build keeps recordings in a local directory only"
            ));
        };
        let staging = root.join(STAGING);
        std::fs::create_dir_all(&staging).map_err(|error| {
            format!(
                "the recordings directory {} cannot be made: {error}",
                root.display()
            )
        })?;
        Ok(Archive {
            target: target.clone(),
            root: root.clone(),
            staging,
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

    /// Deletes the copies `keys` (a purge's: no call uses them any more).
    pub async fn forget(&self, keys: Vec<String>) {
        for key in keys {
            if let Err(error) = self.remove(&key).await {
                tracing::warn!(%error, key, "an erased call's recording could not be deleted from the archive");
            }
        }
    }

    pub fn target(&self) -> &ArchiveTarget {
        &self.target
    }

    /// Where downloads are staged: on the archive's own file system, so a
    /// rename puts them in place.
    pub fn staging(&self) -> &Path {
        &self.staging
    }

    /// Keeps `downloaded` under its content's name; returns the name.
    pub async fn keep(&self, downloaded: Downloaded) -> io::Result<String> {
        let key = key_of(&downloaded.sha256, &downloaded.content_type);
        let path = self.root.join(&key);
        tokio::task::spawn_blocking(move || {
            let folder = path.parent().expect("a key has a folder");
            std::fs::create_dir_all(folder)?;
            if std::fs::metadata(&path).is_ok_and(|meta| meta.len() == downloaded.bytes) {
                // The same audio, kept already.
                return Ok(());
            }
            downloaded
                .file
                .persist(&path)
                .map_err(|error| error.error)?;
            std::fs::File::open(folder)?.sync_all()
        })
        .await
        .map_err(io::Error::other)??;
        Ok(key)
    }

    /// `length` bytes of the copy `key` from `start`, to stream.
    pub async fn read(
        &self,
        key: &str,
        start: u64,
        length: u64,
    ) -> io::Result<impl tokio::io::AsyncRead + Send + Unpin + 'static> {
        let mut file = tokio::fs::File::open(self.path_of(key)?).await?;
        file.seek(io::SeekFrom::Start(start)).await?;
        Ok(file.take(length))
    }

    /// Removes the copy `key`; a copy already gone is no error.
    pub async fn remove(&self, key: &str) -> io::Result<()> {
        match tokio::fs::remove_file(self.path_of(key)?).await {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// The path of `key`, which must be a name this archive gave.
    fn path_of(&self, key: &str) -> io::Result<PathBuf> {
        let plain = key
            .split('/')
            .all(|part| !part.is_empty() && part != ".." && part != ".");
        if !plain || key.starts_with('/') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not an archive key",
            ));
        }
        Ok(self.root.join(key))
    }
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
