//! A local directory as the archive: a copy is renamed into place from the
//! staging folder inside it (the same file system, so the rename is
//! atomic), and the folder it lands in is synced.

use std::io;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::CopyReader;
use crate::recordings::download::Downloaded;

/// The folder of staged downloads, inside the archive.
pub fn staging_in(root: &Path) -> PathBuf {
    root.join(".incoming")
}

pub async fn keep(root: &Path, key: &str, downloaded: Downloaded) -> io::Result<()> {
    let path = root.join(key);
    tokio::task::spawn_blocking(move || {
        let folder = path.parent().expect("a key has a folder");
        std::fs::create_dir_all(folder)?;
        // A copy of the same name is replaced, atomically: the same bytes,
        // or a copy damaged since, which this repairs.
        downloaded
            .file
            .persist(&path)
            .map_err(|error| error.error)?;
        std::fs::File::open(folder)?.sync_all()
    })
    .await
    .map_err(io::Error::other)?
}

pub async fn read(root: &Path, key: &str, start: u64, length: u64) -> io::Result<CopyReader> {
    let mut file = tokio::fs::File::open(root.join(key)).await?;
    file.seek(io::SeekFrom::Start(start)).await?;
    Ok(Box::pin(file.take(length)))
}

pub async fn remove(root: &Path, key: &str) -> io::Result<()> {
    match tokio::fs::remove_file(root.join(key)).await {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}
