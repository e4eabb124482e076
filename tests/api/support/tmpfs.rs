//! A small real filesystem to fill up: a tmpfs mounted on a temporary
//! folder. Mounting needs root (CI and the development machines run as
//! root); where the mount is refused, [`Tmpfs::mount`] says so and gives
//! `None`, and the test skips.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted on a temporary folder; unmounted when dropped, also
/// when the test fails halfway.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`8m`); `None` where mounting is refused.
    pub fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output();
        match mounted {
            Ok(output) if output.status.success() => Some(Tmpfs { dir }),
            Ok(output) => {
                super::skip::skipped(&format!(
                    "mounting a tmpfs was refused (this test needs root): {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                ));
                None
            }
            Err(error) => {
                super::skip::skipped(&format!("`mount` could not run: {error}"));
                None
            }
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(self.dir.path()).status();
        if !unmounted.is_ok_and(|status| status.success()) {
            // Still busy (a process not yet reaped): detach it now; the
            // kernel frees it once the last file is closed.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

impl Tmpfs {
    /// Fills the filesystem to its last block with the file `name`;
    /// deleting it frees the space again.
    pub fn fill(&self, name: &str) -> PathBuf {
        let path = self.path().join(name);
        let mut file = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 4096];
        loop {
            match file.write(&block) {
                Ok(_) => {}
                Err(error) if error.kind() == std::io::ErrorKind::StorageFull => break,
                Err(error) => panic!("filling {}: {error}", path.display()),
            }
        }
        path
    }
}
