//! What the store checks about its database file before trusting it, and
//! while it writes to it.
//!
//! A `200` promises that a push is on disk; these checks keep that promise
//! honest: the SQLite library must be one without known WAL corruption bugs,
//! the file must be this service's and sound before it is migrated or written,
//! and the file the writer commits to must still be the one at `--db` (an
//! operator's `rm` or a restore under a running service would otherwise
//! swallow every later push into an unlinked inode).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::StoreError;

/// SQLite 3.51.3 fixes a bug in which a WAL reset racing a concurrent
/// checkpoint could corrupt a WAL-mode database; a writer and readers in
/// other processes (`sqlite3`, Litestream, `backup`) is exactly this
/// service's situation. The bundled library is newer; this guards builds
/// against an older system SQLite.
pub const MIN_SQLITE_VERSION: i32 = 3_051_003;

/// `PRAGMA application_id` of a udesk-calls database: "UDKC".
pub const APPLICATION_ID: i64 = 0x5544_4B43;

/// Refuses a SQLite library older than [`MIN_SQLITE_VERSION`].
pub fn check_library() -> Result<(), StoreError> {
    if rusqlite::version_number() < MIN_SQLITE_VERSION {
        return Err(StoreError::Unavailable(format!(
            "SQLite {} is too old: udesk-calls needs 3.51.3 or newer, which fixes a WAL corruption bug",
            rusqlite::version()
        )));
    }
    Ok(())
}

/// Whether the file holds no table yet (a database being created).
pub fn is_empty(connection: &Connection, path: &Path) -> Result<bool, StoreError> {
    // The first read: a damaged header or schema shows here.
    let tables: i64 = connection
        .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
        .map_err(|error| match error.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
                StoreError::Unavailable(format!(
                    "{} is corrupt ({error}); restore it from a backup (see `udesk-calls backup`) or move it aside",
                    path.display()
                ))
            }
            // A file cut short under its WAL reads as an I/O error.
            Some(rusqlite::ErrorCode::SystemIoFailure) => StoreError::Unavailable(format!(
                "{} cannot be read ({error}): the file may be cut short or damaged, or its disk failing; check `dmesg`, then restore it from a backup",
                path.display()
            )),
            _ => StoreError::from(error),
        })?;
    Ok(tables == 0)
}

/// Marks a new (or an earlier udesk-calls) database as this service's, and
/// refuses another application's, before any migration touches it.
pub fn claim(connection: &Connection, path: &Path) -> Result<(), StoreError> {
    let id: i64 = connection.query_row("PRAGMA application_id", [], |row| row.get(0))?;
    if id == APPLICATION_ID {
        return Ok(());
    }
    if id != 0 {
        return Err(StoreError::Unavailable(format!(
            "{} belongs to another application (application_id {id:#x}); refusing to migrate it",
            path.display()
        )));
    }
    let tables: Vec<String> = connection
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let ours = tables.iter().any(|t| t == "events") && tables.iter().any(|t| t == "calls");
    if !tables.is_empty() && !ours {
        return Err(StoreError::Unavailable(format!(
            "{} holds tables that are not udesk-calls' ({}); refusing to migrate another application's database",
            path.display(),
            tables.join(", ")
        )));
    }
    connection.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}"))?;
    Ok(())
}

/// The cheap part of checking a file before trusting it, which reads a
/// hundred bytes whatever the file's size: the header must be SQLite's, its
/// page size a valid one, and the file must hold every page the header
/// says it has (a truncated copy does not). The schema is read by opening;
/// every page is read later, by the background check (`integrity`).
pub fn check_header(path: &Path) -> Result<(), StoreError> {
    use std::io::Read;
    let corrupt = |why: &str| {
        StoreError::Unavailable(format!(
            "{} is corrupt ({why}); restore it from a backup (see `udesk-calls backup`) or move it aside",
            path.display()
        ))
    };
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(StoreError::Unavailable(format!(
                "cannot read {}: {error}",
                path.display()
            )));
        }
    };
    let metadata = file.metadata().map_err(|error| {
        StoreError::Unavailable(format!("cannot examine {}: {error}", path.display()))
    })?;
    if metadata.is_dir() {
        return Err(StoreError::Unavailable(format!(
            "{} is a directory; --db names the database file (e.g. {}/udesk-calls.db)",
            path.display(),
            path.display()
        )));
    }
    let length = metadata.len();
    if length == 0 {
        // A database yet to be created, unless its WAL survives: SQLite
        // would delete that WAL, and every push committed in it.
        if has_log(path) {
            return Err(corrupt(
                "the file is empty but a WAL with committed pushes lies beside it; restore the file, or move both aside to start afresh",
            ));
        }
        return Ok(());
    }
    let mut header = [0u8; 100];
    if length < 100 || file.read_exact(&mut header).is_err() {
        return Err(corrupt("shorter than a SQLite header"));
    }
    if &header[..16] != b"SQLite format 3\0" {
        return Err(StoreError::Unavailable(format!(
            "{} is not a SQLite database (or its header is damaged); check --db, or restore it from a backup",
            path.display()
        )));
    }
    let word = |at: usize| {
        u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65_536,
        size if size >= 512 && size.is_power_of_two() => u32::from(size),
        size => return Err(corrupt(&format!("its header gives a page size of {size}"))),
    };
    // The page count is valid only when written by the same change as the
    // counter beside it (an old SQLite may have left it stale). With a WAL
    // beside the file, a checkpoint may have written page 1 before the last
    // pages (a partial checkpoint, or one cut short by a crash): SQLite
    // finds them in the WAL, and the background check reads them there.
    let pages = word(28);
    if pages > 0
        && word(92) == word(24)
        && u64::from(pages) * u64::from(page_size) > length
        && !has_log(path)
    {
        return Err(corrupt(&format!(
            "its header counts {pages} pages of {page_size} bytes, but the file holds {length} bytes: it was cut short"
        )));
    }
    Ok(())
}

/// Whether a non-empty WAL or rollback journal lies beside `path`, or
/// beside the file a symbolic link at `path` names (where SQLite keeps it).
fn has_log(path: &Path) -> bool {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    ["-wal", "-journal"].iter().any(|suffix| {
        let mut log = path.as_os_str().to_owned();
        log.push(suffix);
        std::fs::metadata(Path::new(&log)).is_ok_and(|meta| meta.len() > 0)
    })
}

/// The file a store opened, to notice it being deleted or replaced.
#[derive(Clone, Debug)]
pub struct OpenedFile {
    path: PathBuf,
    device: u64,
    inode: u64,
}

impl OpenedFile {
    pub fn of(path: &Path) -> Result<OpenedFile, StoreError> {
        let metadata = std::fs::metadata(path).map_err(|error| {
            StoreError::Unavailable(format!("cannot examine {}: {error}", path.display()))
        })?;
        Ok(OpenedFile {
            path: path.to_owned(),
            device: metadata.dev(),
            inode: metadata.ino(),
        })
    }

    /// `Err` when `--db` no longer names the opened file, or its `-shm` file
    /// can no longer be written: SQLite maps the shared-memory file, and a
    /// write to a mapping the file refuses (made immutable, say) kills the
    /// process with SIGBUS rather than returning an error, so it is checked
    /// here first and refused with a message.
    pub fn still_there(&self) -> Result<(), StoreError> {
        shared_memory_writable(&self.path)?;
        match std::fs::metadata(&self.path) {
            Ok(metadata) if metadata.dev() == self.device && metadata.ino() == self.inode => Ok(()),
            Ok(_) => Err(StoreError::Unavailable(format!(
                "{} was replaced by another file while in use; restart the service to open it",
                self.path.display()
            ))),
            Err(error) => Err(StoreError::Unavailable(format!(
                "{} is gone ({error}); it was deleted while in use; restore it and restart",
                self.path.display()
            ))),
        }
    }
}

/// `Err` when the database's `-shm` file exists but cannot be written. Every
/// transaction, a reader's too, writes to SQLite's mapping of that file, and
/// a write the file refuses (made immutable, say) kills the process with
/// SIGBUS instead of returning an error; checking first turns that into a
/// `503` and a log line.
///
/// `access(2)`, not an open: closing any descriptor of a file drops every
/// POSIX lock this process holds on it, SQLite's WAL locks included.
pub fn shared_memory_writable(path: &Path) -> Result<(), StoreError> {
    let mut shm = path.as_os_str().to_owned();
    shm.push("-shm");
    match rustix::fs::access(Path::new(&shm), rustix::fs::Access::WRITE_OK) {
        Err(error) if error != rustix::io::Errno::NOENT => Err(StoreError::Unavailable(format!(
            "{} cannot be written ({error}); SQLite needs it for every transaction: fix its permissions or attributes",
            Path::new(&shm).display()
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database of a few dozen pages, closed (no WAL left).
    fn database(dir: &Path) -> PathBuf {
        let path = dir.join("calls.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE t (x BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
             INSERT INTO t SELECT randomblob(3000) FROM n;",
        )
        .unwrap();
        path
    }

    fn cut_one_page(path: &Path) {
        let length = std::fs::metadata(path).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .unwrap()
            .set_len(length - 4096)
            .unwrap();
    }

    #[test]
    fn a_file_cut_short_is_refused_unless_a_wal_holds_its_last_pages_also_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let path = database(dir.path());
        assert!(check_header(&path).is_ok());
        cut_one_page(&path);
        let refused = check_header(&path).unwrap_err().to_string();
        assert!(refused.contains("cut short"), "{refused}");
        // A checkpoint cut short by a crash leaves this, and the WAL the rest.
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        std::fs::write(&wal, b"frames").unwrap();
        assert!(check_header(&path).is_ok());
        let link = dir.path().join("link.db");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(
            check_header(&link).is_ok(),
            "the WAL beside the link's target counts"
        );
    }

    #[test]
    fn an_empty_file_beside_a_wal_and_a_directory_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.db");
        std::fs::write(&path, b"").unwrap();
        assert!(
            check_header(&path).is_ok(),
            "an empty file is a database to create"
        );
        std::fs::write(dir.path().join("calls.db-wal"), b"frames").unwrap();
        let refused = check_header(&path).unwrap_err().to_string();
        assert!(refused.contains("WAL"), "{refused}");
        let refused = check_header(dir.path()).unwrap_err().to_string();
        assert!(refused.contains("is a directory"), "{refused}");
    }
}
