//! The upkeep of bodies, on a thread of its own beside the writer: it
//! trains the first dictionary once enough pushes are stored, then
//! compresses every body stored as received (before the dictionary, or by
//! an earlier version of the service) a batch at a time, through the
//! writer, so pushes keep flowing between batches. Where it got to is kept
//! in `store_state`, so a restart (or a `kill -9`) resumes there; each
//! batch is one transaction, and a row is rewritten only if it still holds
//! the body read.
//!
//! Once it has caught up, the space compressing freed is given back to the
//! file system (see [`give_back_free_pages`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, params};

use super::chains::{Base, LARGEST_BASE, StoredAs};
use super::{Bodies, Encoded, MOST_SAMPLES, reversed_numbers, set_state, state, train};
use crate::domain::ConversationId;
use crate::storage::events::can_be_base;
use crate::storage::{StoreError, Writer, connection};

/// Rows read and rewritten per transaction.
const BATCH: usize = 500;
/// How long the upkeep rests when there is nothing to do.
const IDLE: Duration = Duration::from_secs(5);
/// How long it rests while a new database fills up to its first dictionary.
const SOON: Duration = Duration::from_millis(200);
/// `store_state` key: the highest event id whose body was looked at.
pub const COMPRESSED_THROUGH: &str = "bodies_compressed_through";
/// Free pages are given back once they are this share of the file or more.
const FREE_SHARE_GIVEN_BACK: f64 = 0.2;
/// Pages given back per step where the file allows it incrementally.
const PAGES_PER_STEP: i64 = 2000;
/// How long the upkeep waits after the file could not be rewritten (too
/// little free disk, or `VACUUM` failed): each try holds pushes back.
const REWRITE_RETRY: Duration = Duration::from_secs(600);

/// The upkeep thread; stops when dropped or told.
pub struct Compactor {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Compactor {
    pub fn spawn(
        path: std::path::PathBuf,
        bodies: Arc<Bodies>,
        writer: Writer,
        train_after: usize,
    ) -> std::io::Result<Compactor> {
        let (stop, stopped) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("db-upkeep".into())
            .spawn(move || run(&path, &bodies, &writer, train_after, &stopped))?;
        Ok(Compactor {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops the thread between two batches and waits for it.
    pub fn stop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Compactor {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the upkeep rewrites of a row stored as received.
struct Rewrite {
    id: i64,
    conversation_id: i64,
    sha256: Vec<u8>,
    /// Compressed (perhaps as a delta), or `None` when that saves nothing.
    encoded: Option<Encoded>,
    /// Compressed on its own, for a delta that cannot be kept.
    on_its_own: Option<Encoded>,
    numbers: Vec<String>,
}

/// Whether a push of `call` is a delta of event `id`.
fn has_deltas(tx: &Connection, call: ConversationId, id: i64) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM events WHERE conversation_id = ?1 AND body_base = ?2)",
        )?
        .query_row(params![call, id], |row| row.get(0))?)
}

/// An event's id, call, body when stored as received, and body's hash.
type StoredRow = (i64, i64, Option<Vec<u8>>, Vec<u8>);

enum Step {
    Worked,
    Idle,
    /// Not yet: too few pushes to train the first dictionary on.
    Soon,
    /// The file could not be rewritten; not before [`REWRITE_RETRY`].
    Postponed,
}

fn run(
    path: &std::path::Path,
    bodies: &Bodies,
    writer: &Writer,
    train_after: usize,
    stopped: &Receiver<()>,
) {
    let conn = match Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) {
        Ok(conn) => conn,
        Err(error) => {
            tracing::warn!(%error, "the upkeep of bodies cannot read the database");
            return;
        }
    };
    if let Err(error) = connection::configure_common(&conn) {
        tracing::warn!(%error, "the upkeep of bodies cannot read the database");
        return;
    }
    let mut report = Report::default();
    loop {
        let rest = match step(&conn, bodies, writer, train_after, &mut report) {
            Ok(Step::Worked) => Duration::ZERO,
            Ok(Step::Idle) => IDLE,
            Ok(Step::Soon) => SOON,
            Ok(Step::Postponed) => REWRITE_RETRY,
            Err(StoreError::ShuttingDown) => return,
            Err(error) => {
                tracing::warn!(%error, "the upkeep of bodies failed; it tries again");
                IDLE
            }
        };
        match stopped.recv_timeout(rest) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
    }
}

/// Calls whose newest converted push is kept as the next one's base, and
/// their bytes at most.
const NEWEST_KEPT: usize = 4096;
const NEWEST_BYTES: usize = 8 << 20;

/// Progress of a conversion, logged every few seconds.
#[derive(Default)]
struct Report {
    /// The newest push converted of recent calls.
    newest: HashMap<i64, Arc<Base>>,
    newest_bytes: usize,
    compressed: u64,
    bytes_before: u64,
    bytes_after: u64,
    logged: Option<Instant>,
}

fn step(
    conn: &Connection,
    bodies: &Bodies,
    writer: &Writer,
    train_after: usize,
    report: &mut Report,
) -> Result<Step, StoreError> {
    if !bodies.has_dictionary() {
        return train_first(conn, bodies, writer, train_after);
    }
    let through = state(conn, COMPRESSED_THROUGH)?.unwrap_or(0);
    let rows: Vec<StoredRow> = conn
        .prepare_cached(
            "SELECT id, conversation_id, iif(body_dictionary IS NULL, body), body_sha256
             FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?
        .query_map(params![through, BATCH as i64], |row| {
            Ok((row.get(0)?, row.get(1)?, blob(row, 2)?, row.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    let Some(&(last, ..)) = rows.last() else {
        if report.compressed > 0 {
            tracing::info!(
                pushes = report.compressed,
                bytes_before = report.bytes_before,
                bytes_after = report.bytes_after,
                "stored pushes are compressed"
            );
            report.compressed = 0;
        }
        return give_back_free_pages(conn, writer);
    };
    let mut rewrites = Vec::new();
    for (id, conversation_id, body, sha256) in rows {
        let Some(body) = body else { continue };
        // A call's pushes are rows next to each other: each becomes a delta
        // of the one before, which stays (compressed or not) the same bytes.
        let delta = report
            .newest
            .get(&conversation_id)
            .and_then(|base| bodies.encode_delta(&body, base.clone()));
        let encoded = delta.or_else(|| bodies.encode(&body));
        let base = Arc::new(Base::new(
            encoded.as_ref().map_or(0, Encoded::depth),
            body.clone(),
        ));
        base.mark_stored(StoredAs {
            event_id: id,
            stored_hash: sha256.clone(),
        });
        if report.newest.len() >= NEWEST_KEPT || report.newest_bytes > NEWEST_BYTES {
            report.newest.clear();
            report.newest_bytes = 0;
        }
        if body.len() <= LARGEST_BASE {
            report.newest_bytes += body.len();
            report.newest.insert(conversation_id, base);
        }
        report.compressed += 1;
        report.bytes_before += body.len() as u64;
        report.bytes_after += encoded.as_ref().map_or(body.len(), |e| e.bytes.len()) as u64;
        // What it becomes should the delta not do once the writer runs it.
        let on_its_own = match &encoded {
            Some(encoded) if encoded.base.is_some() => bodies.encode(&body),
            _ => None,
        };
        rewrites.push(Rewrite {
            id,
            conversation_id,
            sha256,
            encoded,
            on_its_own,
            numbers: reversed_numbers(&body),
        });
    }
    writer.upkeep_blocking(move |conn| {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for rewrite in &rewrites {
            let (id, conversation_id) = (rewrite.id, rewrite.conversation_id);
            let call = ConversationId(conversation_id);
            // Still the call's? A purge may have erased it since it was read.
            let stored: i64 = tx
                .prepare_cached(
                    "SELECT count(*) FROM events WHERE id = ?1 AND conversation_id = ?2",
                )?
                .query_row(params![id, conversation_id], |row| row.get(0))?;
            if stored == 0 {
                continue;
            }
            // A delta only of a base still there, and only for a row no push
            // is a delta of yet (the writer may have made one of it while it
            // was stored as received): a chain never grows in its middle.
            let base = match rewrite.encoded.as_ref().and_then(|e| e.base.as_ref()) {
                Some(base) => match base.stored_as() {
                    Some(at) if can_be_base(&tx, call, &at)? && !has_deltas(&tx, call, id)? => {
                        Some(at.event_id)
                    }
                    _ => None,
                },
                None => None,
            };
            let kept = match (&rewrite.encoded, base) {
                (Some(encoded), None) if encoded.base.is_some() => rewrite.on_its_own.as_ref(),
                (encoded, _) => encoded.as_ref(),
            };
            if let Some(encoded) = kept {
                tx.prepare_cached(
                    "UPDATE events SET body = ?1, body_dictionary = ?2, body_base = ?5
                     WHERE id = ?3 AND body_dictionary IS NULL AND body_sha256 = ?4",
                )?
                .execute(params![
                    encoded.bytes,
                    encoded.dictionary,
                    id,
                    rewrite.sha256,
                    base,
                ])?;
            }
            crate::storage::events::insert_numbers(&tx, conversation_id, &rewrite.numbers)?;
        }
        set_state(&tx, COMPRESSED_THROUGH, last)?;
        tx.commit()?;
        Ok(())
    })?;
    if report
        .logged
        .is_none_or(|at| at.elapsed() > Duration::from_secs(10))
    {
        report.logged = Some(Instant::now());
        let newest: i64 = conn
            .query_row("SELECT coalesce(max(id), 0) FROM events", [], |row| {
                row.get(0)
            })
            .unwrap_or(0);
        tracing::info!(
            through_event = last,
            newest_event = newest,
            percent = (last * 100).checked_div(newest).unwrap_or(100),
            pushes = report.compressed,
            bytes_before = report.bytes_before,
            bytes_after = report.bytes_after,
            "compressing stored pushes"
        );
    }
    Ok(Step::Worked)
}

fn blob(row: &rusqlite::Row, index: usize) -> rusqlite::Result<Option<Vec<u8>>> {
    Ok(row.get_ref(index)?.as_bytes_or_null()?.map(<[u8]>::to_vec))
}

/// Trains the first dictionary from the newest pushes, once there are
/// `train_after` of them.
fn train_first(
    conn: &Connection,
    bodies: &Bodies,
    writer: &Writer,
    train_after: usize,
) -> Result<Step, StoreError> {
    // Counted in the partial index first: cheap to ask five times a second.
    let stored: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM events INDEXED BY events_stored_as_received
             WHERE body_dictionary IS NULL",
        )?
        .query_row([], |row| row.get(0))?;
    if (stored as usize) < train_after {
        // Every push stored meanwhile is one to compress again later, and
        // its page stays part empty once it is: look again soon.
        return Ok(Step::Soon);
    }
    let samples: Vec<Vec<u8>> = conn
        .prepare_cached(
            "SELECT body FROM events WHERE body_dictionary IS NULL ORDER BY id DESC LIMIT ?1",
        )?
        .query_map([MOST_SAMPLES as i64], |row| {
            Ok(blob(row, 0)?.unwrap_or_default())
        })?
        .collect::<Result<_, _>>()?;
    if samples.len() < train_after {
        return Ok(Step::Soon);
    }
    let started = Instant::now();
    let dictionary = match train(&samples) {
        Ok(dictionary) => dictionary,
        Err(error) => {
            // Too little to learn from (tiny pushes): bodies stay as received.
            tracing::debug!(%error, "no body dictionary could be trained");
            return Ok(Step::Idle);
        }
    };
    let trained_on = samples.len();
    let kept = dictionary.clone();
    let id = writer.upkeep_blocking(move |conn| Bodies::insert(conn, &kept, trained_on))?;
    bodies.adopt(id, &dictionary);
    tracing::info!(
        dictionary = id,
        trained_on,
        bytes = dictionary.len(),
        seconds = started.elapsed().as_secs_f64(),
        "trained a dictionary for compressing pushes"
    );
    Ok(Step::Worked)
}

/// Gives space back to the file system once the bodies are compressed. Rows
/// compressed in place leave their pages partly empty rather than free, so
/// a database of an earlier version (no incremental vacuum) is rewritten
/// once by `VACUUM`, which turns incremental vacuum on; after that, free
/// pages are given back a few thousand at a time once they are a fifth of
/// the file.
fn give_back_free_pages(conn: &Connection, writer: &Writer) -> Result<Step, StoreError> {
    let pragma = |name: &str| -> Result<i64, StoreError> {
        Ok(conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))?)
    };
    let (free, pages) = (pragma("freelist_count")?, pragma("page_count")?);
    let incremental = pragma("auto_vacuum")? == 2;
    if incremental && (pages == 0 || (free as f64) < FREE_SHARE_GIVEN_BACK * pages as f64) {
        return Ok(Step::Idle);
    }
    if !incremental {
        let needed = 2 * (pages - free).max(0) as u64 * pragma("page_size")? as u64;
        if let Some(available) = free_disk_beside(conn).filter(|&available| available < needed) {
            tracing::warn!(
                needed_mib = needed >> 20,
                available_mib = available >> 20,
                retry_seconds = REWRITE_RETRY.as_secs(),
                "the database is not rewritten yet: VACUUM needs free disk beside it for a copy \
                 of the compacted file and for the same pages again in the WAL"
            );
            return Ok(Step::Postponed);
        }
    }
    let started = Instant::now();
    let rewritten = writer.upkeep_blocking(move |conn| {
        if incremental {
            conn.execute_batch(&format!("PRAGMA incremental_vacuum({PAGES_PER_STEP})"))?;
        } else {
            // The copy VACUUM makes goes to a file: in memory, as other
            // temporary tables are, it would need the database's size in RAM.
            conn.execute_batch(
                "PRAGMA temp_store = FILE; PRAGMA auto_vacuum = INCREMENTAL; VACUUM;
                 PRAGMA temp_store = MEMORY;",
            )?;
            // Rewritten whole: no fragment of a deleted row is left.
            set_state(conn, crate::storage::purge::ERASED_THROUGHOUT, 1)?;
        }
        Ok(())
    });
    match rewritten {
        Err(error) if !incremental && !matches!(error, StoreError::ShuttingDown) => {
            tracing::warn!(
                %error,
                retry_seconds = REWRITE_RETRY.as_secs(),
                "the database could not be rewritten; pushes flow on meanwhile"
            );
            return Ok(Step::Postponed);
        }
        other => other?,
    }
    if !incremental {
        tracing::info!(
            free_pages = free,
            pages,
            seconds = started.elapsed().as_secs_f64(),
            "the database was rewritten to give back the space compressing freed"
        );
    }
    Ok(if incremental {
        Step::Worked
    } else {
        Step::Idle
    })
}

/// Bytes free to this process on the file system holding the database
/// `conn` has open; `None` when it cannot be told (the rewrite then tries).
fn free_disk_beside(conn: &Connection) -> Option<u64> {
    let file = std::path::Path::new(conn.path().filter(|path| !path.is_empty())?);
    let stats = rustix::fs::statvfs(file.parent()?).ok()?;
    Some(stats.f_bavail.saturating_mul(stats.f_frsize))
}
