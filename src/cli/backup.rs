//! `udesk-calls backup DEST`: a consistent copy of the database, taken while
//! `serve` runs.
//!
//! The copy is written to a hidden temporary file beside DEST (same folder,
//! so same file system) and renamed onto DEST only once it is complete,
//! checked and on disk: a crash, a full disk or Ctrl-C never leaves a half
//! backup under DEST's name, and a failure leaves no file at all. Without `--force` an existing DEST is never
//! replaced, not even by a file that appears while the backup runs.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::storage::backup::{BackupReport, copy_database};

use super::BackupArgs;
use super::progress::Bar;

pub async fn run(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let dest = args.dest.clone();
    let report = tokio::task::spawn_blocking(move || back_up(&args)).await??;
    eprintln!(
        "backed up {} calls and {} events ({:.1} MiB) to {}",
        report.calls,
        report.events,
        report.bytes as f64 / (1024.0 * 1024.0),
        dest.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn back_up(args: &BackupArgs) -> anyhow::Result<BackupReport> {
    let folder = check_destination(args)?;
    let name = args
        .dest
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".partial")
        .tempfile_in(&folder)
        .with_context(|| format!("cannot write in {}", folder.display()))?;
    let _sidecars = Sidecars(partial.path().to_owned());

    let mut bar = Bar::staged();
    let copied = copy_database(&args.db, partial.path(), |progress| bar.show(progress));
    bar.finish();
    let report = copied.with_context(|| {
        format!(
            "backing up {} failed; {} was not written",
            args.db.display(),
            args.dest.display()
        )
    })?;

    partial.as_file().sync_all()?;
    let placed = if args.force {
        partial.persist(&args.dest)
    } else {
        partial.persist_noclobber(&args.dest)
    };
    placed.map_err(|error| error.error).with_context(|| {
        format!(
            "cannot put the backup in place as {} (pass --force to replace an existing file)",
            args.dest.display()
        )
    })?;
    // The rename itself is durable once the folder is.
    File::open(&folder).and_then(|dir| dir.sync_all())?;
    Ok(report)
}

/// Refuses what would go wrong late or silently; returns DEST's folder.
fn check_destination(args: &BackupArgs) -> anyhow::Result<PathBuf> {
    let (source, dest) = (&args.db, &args.dest);
    if !source.is_file() {
        bail!(
            "there is no database at {} (set --db or UDESK_CALLS_DB)",
            source.display()
        );
    }
    if dest.is_dir() {
        bail!(
            "{} is a folder; give the backup a file name, like {}",
            dest.display(),
            dest.join("udesk-calls-backup.db").display()
        );
    }
    let folder = match dest.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !folder.is_dir() {
        bail!("the folder {} does not exist", folder.display());
    }
    if dest.exists() {
        if same_file(source, dest) {
            bail!(
                "{} is the database itself; write the backup elsewhere",
                dest.display()
            );
        }
        if !args.force {
            bail!(
                "{} already exists; choose another name, or pass --force to replace it",
                dest.display()
            );
        }
    }
    // A WAL left beside DEST would be replayed into the new copy by the next
    // program that opens it, mixing an old database into the backup.
    let wal = sidecar(dest, "-wal");
    if wal.exists() {
        bail!(
            "{} exists: a program has {} open, or did not close it cleanly; \
             close it and remove {}, or choose another name",
            wal.display(),
            dest.display(),
            wal.display()
        );
    }
    Ok(folder)
}

/// Removes, when dropped, the files SQLite keeps beside a copy it writes: a
/// failed write (a full disk) leaves a hot `-journal`, and until the copy
/// leaves WAL mode it has `-wal` and `-shm`. The copy itself is its
/// `NamedTempFile`'s to remove; after the copy's connection is closed, none
/// of these is of use to anything.
struct Sidecars(PathBuf);

impl Drop for Sidecars {
    fn drop(&mut self) {
        for suffix in ["-journal", "-wal", "-shm"] {
            let _ = std::fs::remove_file(sidecar(&self.0, suffix));
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

/// `path` with `suffix` appended to its file name, as SQLite names its files.
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
