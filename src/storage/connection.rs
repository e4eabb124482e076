//! Opening connections: PRAGMAs on every connection, migrations once.
//!
//! The writer runs in WAL mode with `synchronous=FULL`, so a committed
//! transaction survives power loss, not just a crash of the process. Readers
//! are `query_only`, so a bug in a read path can never write. The writer
//! checkpoints the WAL itself every `wal_autocheckpoint` pages, unless told
//! 0, when another program (Litestream) owns the checkpoints.

use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use include_dir::{Dir, include_dir};
use rusqlite::Connection;
use rusqlite_migration::Migrations;

use super::{StoreError, file_checks};

static MIGRATIONS_DIR: Dir = include_dir!("$CARGO_MANIFEST_DIR/migrations");

/// The numbered migrations of `migrations/`, embedded at compile time.
pub static MIGRATIONS: LazyLock<Migrations<'static>> = LazyLock::new(|| {
    Migrations::from_directory(&MIGRATIONS_DIR).expect("migrations/ holds valid migrations")
});

/// How long a connection waits for a lock before reporting the database busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const STATEMENT_CACHE: usize = 128;

/// WAL pages (of 4 KiB) after which a commit checkpoints: ~16 MiB, so
/// checkpoints are rare under a burst yet the WAL stays small.
pub const DEFAULT_WAL_AUTOCHECKPOINT: u32 = 4000;

/// PRAGMAs every connection gets.
pub fn configure_common(connection: &Connection) -> rusqlite::Result<()> {
    connection.busy_timeout(BUSY_TIMEOUT)?;
    // Every statement of a hot path stays compiled (the default keeps 16).
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Plans that never depend on bound values. Without it SQLite compiles a
    // statement with `LIMIT ?` again at every run, its limit being read at
    // compile time: a tenth of serve's CPU on a page of calls (perf, 2026-12-04).
    // The plans lost are those of `LIKE ?` and of STAT4 samples, neither used.
    connection.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    // secure_delete: what a purge or an update deletes is overwritten, not
    // left in free space where the file's bytes would still hold it.
    connection.execute_batch(
        "PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -16000;
         PRAGMA secure_delete = ON;",
    )
}

/// Opens the single writer connection, creating and migrating the database.
/// It checkpoints the WAL every `wal_autocheckpoint` pages; 0 never, for a
/// database whose checkpoints another program (Litestream) makes.
pub fn open_writer(path: &Path, wal_autocheckpoint: u32) -> Result<Connection, StoreError> {
    file_checks::check_library()?;
    file_checks::check_header(path)?;
    let mut connection = Connection::open(path).map_err(|error| {
        StoreError::Unavailable(format!("cannot open {}: {error}", path.display()))
    })?;
    // A file refused below is left as found: closing must not checkpoint
    // its WAL into it (nor delete the WAL). Allowed again once accepted.
    connection.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )?;
    configure_common(&connection)?;
    let new = file_checks::is_empty(&connection, path)?;
    if new {
        // Only a database without tables can take it: free pages are then
        // given back to the file system as the upkeep goes, not by VACUUM.
        connection.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")?;
    }
    file_checks::claim(&connection, path)?;
    let mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!(
            "{} cannot use WAL mode (got {mode})",
            path.display()
        )));
    }
    connection.execute_batch(&format!(
        "PRAGMA synchronous = FULL;
         PRAGMA wal_autocheckpoint = {wal_autocheckpoint};"
    ))?;
    // A `200` means "survives power loss" only with FULL (2).
    let synchronous: i64 = connection.query_row("PRAGMA synchronous", [], |row| row.get(0))?;
    if synchronous != 2 {
        return Err(StoreError::Unavailable(format!(
            "{} cannot be written with synchronous=FULL (got {synchronous})",
            path.display()
        )));
    }
    migrate(&mut connection)?;
    if new {
        // Written with `secure_delete` from its first page.
        super::bodies::set_state(&connection, super::purge::ERASED_THROUGHOUT, 1)?;
    }
    // Gives the query planner statistics (sqlite_stat1) whenever the tables
    // grew enough since the last run, sampling a bounded number of rows: 2.4 s
    // the first time on a million calls, nothing when little changed. With
    // them, statistics by agent over 30 days of a million calls skip-scan the
    // agent index in 36 ms instead of grouping the month in 270 ms.
    connection.execute_batch("PRAGMA analysis_limit = 400; PRAGMA optimize = 0x10002;")?;
    connection.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        false,
    )?;
    Ok(connection)
}

/// Opens the existing database at `path` to read, and nothing else: nothing
/// is created, migrated, analysed or claimed, and the connection is
/// `query_only`. A dry run works through it on a full disk, where planning
/// what to erase matters most.
///
/// Every connection to a WAL database maps its `-shm` file; when no other
/// connection has it open (the service is stopped), SQLite first creates it
/// and grows it to 32 KiB, which a full disk refuses. The connection then
/// reads with `locking_mode = EXCLUSIVE`, which keeps that index in its own
/// memory: with no other connection there is nobody to keep out, and one
/// that comes meanwhile waits until this one closes.
pub fn open_for_reading(path: &Path) -> Result<Connection, StoreError> {
    file_checks::check_library()?;
    let cannot = |error: rusqlite::Error| {
        StoreError::Unavailable(format!("cannot read {}: {error}", path.display()))
    };
    match open_reading(path, false) {
        Ok(connection) => Ok(connection),
        Err(error)
            if matches!(
                error.sqlite_error_code(),
                Some(rusqlite::ErrorCode::SystemIoFailure | rusqlite::ErrorCode::DiskFull)
            ) =>
        {
            open_reading(path, true).map_err(|_| cannot(error))
        }
        Err(error) => Err(cannot(error)),
    }
}

/// A connection for a command that reads an existing database (`pushes`,
/// `export`): refused when the file is missing, and a file of an older
/// version is migrated first, as by every command.
pub fn open_existing_for_a_command(path: &Path) -> Result<Connection, StoreError> {
    if !path.exists() {
        return Err(StoreError::Unavailable(format!(
            "{} does not exist",
            path.display()
        )));
    }
    let connection = open_for_reading(path)?;
    if is_current(&connection)? {
        Ok(connection)
    } else {
        open_writer(path, DEFAULT_WAL_AUTOCHECKPOINT)
    }
}

/// A `query_only` connection to `path` that has read the schema, so the
/// `-shm` file is mapped (or, `exclusive`, not needed).
fn open_reading(path: &Path, exclusive: bool) -> rusqlite::Result<Connection> {
    let connection = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // Only before the first read does it keep the index out of `-shm`.
    if exclusive {
        connection.query_row("PRAGMA locking_mode = EXCLUSIVE", [], |_| Ok(()))?;
    }
    configure_common(&connection)?;
    connection.execute_batch("PRAGMA query_only = ON;")?;
    connection.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?;
    Ok(connection)
}

/// Whether the database `connection` reads is this service's and needs no
/// migration: what [`open_writer`] would otherwise write first.
pub fn is_current(connection: &Connection) -> Result<bool, StoreError> {
    let id: i64 = connection.query_row("PRAGMA application_id", [], |row| row.get(0))?;
    let pending = MIGRATIONS
        .pending_migrations(connection)
        .map_err(|error| StoreError::Unavailable(format!("reading the schema version: {error}")))?;
    Ok(id == file_checks::APPLICATION_ID && pending == 0)
}

/// Applies the pending migrations with foreign keys off, as SQLite's way
/// of rebuilding a table requires (dropping the old table must not cascade
/// to its children), then checks every foreign key before turning them on.
fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let version = |connection: &Connection| -> rusqlite::Result<i64> {
        connection.query_row("PRAGMA user_version", [], |row| row.get(0))
    };
    let before = version(connection)?;
    connection.execute_batch("PRAGMA foreign_keys = OFF;")?;
    let migrated = MIGRATIONS
        .to_latest(connection)
        .map_err(|error| StoreError::Unavailable(format!("migrating the database: {error}")));
    // Checking reads every child row (13 s on a million calls, cold): only
    // after a migration that rebuilt a table.
    let after = version(connection)?;
    let broken: i64 = if !rebuilt_a_table(before, after) {
        0
    } else {
        connection.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |row| {
            row.get(0)
        })?
    };
    connection.execute_batch("PRAGMA foreign_keys = ON;")?;
    migrated?;
    if broken > 0 {
        return Err(StoreError::Unavailable(format!(
            "the database has {broken} rows whose foreign keys point nowhere"
        )));
    }
    Ok(())
}

/// Whether a migration numbered above `before`, up to `after`, rebuilt a
/// table the way SQLite prescribes (a new table, the old one dropped), the
/// only change that can leave a foreign key pointing nowhere.
fn rebuilt_a_table(before: i64, after: i64) -> bool {
    let mut migrations: Vec<&Dir> = MIGRATIONS_DIR.dirs().collect();
    migrations.sort_by_key(|dir| dir.path());
    migrations
        .iter()
        .zip(1_i64..)
        .filter(|(_, version)| (before + 1..=after).contains(version))
        .filter_map(|(dir, _)| dir.files().find(|file| file.path().ends_with("up.sql")))
        .filter_map(|file| file.contents_utf8())
        .any(|sql| sql.to_ascii_uppercase().contains("DROP TABLE"))
}

/// Page cache of each reader, in KiB. Statistics are read from the rollups
/// now, not from a month of index, and the pages a query needs are in the
/// operating system's cache anyway: on a million calls (`cargo bench
/// --bench figures`, sections 5 and 6b) 8 MiB a reader answers as fast as
/// 64 MiB did (one agent's day p50 1.53 ms against 2.03 ms, a call with its
/// events 2.44 ms against 2.21 ms) and serve's peak RSS after the query
/// table is 89.5 MiB instead of 272 MiB: eight readers no longer each keep
/// their own copy of the hot pages. Pages are only allocated as read.
const READER_CACHE_KIB: i64 = 8 * 1024;

/// PRAGMAs of a reader connection from the pool.
pub fn configure_reader(connection: &mut Connection) -> rusqlite::Result<()> {
    configure_common(connection)?;
    connection.execute_batch(&format!(
        "PRAGMA query_only = ON; PRAGMA cache_size = -{READER_CACHE_KIB};"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_keys_are_checked_after_a_table_is_rebuilt_only() {
        // 06 rebuilt `events`; 07 and 08 only add and drop.
        assert!(rebuilt_a_table(0, 8));
        assert!(rebuilt_a_table(5, 6));
        assert!(!rebuilt_a_table(6, 8));
        assert!(!rebuilt_a_table(8, 8));
    }

    #[test]
    fn migrations_are_valid() {
        MIGRATIONS.validate().unwrap();
    }

    #[test]
    fn a_new_database_is_migrated_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let connection =
            open_writer(&dir.path().join("calls.db"), DEFAULT_WAL_AUTOCHECKPOINT).unwrap();
        let mode: String = connection
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let causes: i64 = connection
            .query_row("SELECT count(*) FROM defeat_causes", [], |row| row.get(0))
            .unwrap();
        assert_eq!(causes, 18);
        let checkpoint: i64 = connection
            .query_row("PRAGMA wal_autocheckpoint", [], |row| row.get(0))
            .unwrap();
        assert_eq!(checkpoint, i64::from(DEFAULT_WAL_AUTOCHECKPOINT));
    }

    #[test]
    fn a_reading_connection_creates_migrates_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.db");
        assert!(open_for_reading(&path).is_err());
        assert!(!path.exists());

        let mut older = Connection::open(&path).unwrap();
        MIGRATIONS.to_version(&mut older, 1).unwrap();
        drop(older);
        let reader = open_for_reading(&path).unwrap();
        assert!(
            !is_current(&reader).unwrap(),
            "an older file is not current"
        );
        drop(reader);

        drop(open_writer(&path, DEFAULT_WAL_AUTOCHECKPOINT).unwrap());
        let reader = open_for_reading(&path).unwrap();
        assert!(is_current(&reader).unwrap());
        assert!(reader.execute_batch("DELETE FROM calls").is_err());
    }

    #[test]
    fn a_writer_told_zero_leaves_checkpoints_to_another_program() {
        let dir = tempfile::tempdir().unwrap();
        let connection = open_writer(&dir.path().join("calls.db"), 0).unwrap();
        let checkpoint: i64 = connection
            .query_row("PRAGMA wal_autocheckpoint", [], |row| row.get(0))
            .unwrap();
        assert_eq!(checkpoint, 0);
    }
}
