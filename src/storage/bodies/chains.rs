//! A call's later pushes kept as deltas of its earlier ones.
//!
//! A call's pushes repeat each other: the same keys, the same customer,
//! agent and times, a few fields changed. Against the dictionary alone a
//! push keeps in ~240 bytes; against the call's previous push (and the
//! dictionary's last [`DICTIONARY_TAIL`] bytes, for what the previous push
//! lacks) in ~65 (measured on the benchmark's pushes, `BENCHMARKS.md`).
//!
//! A delta names its base (`events.body_base`), an earlier push of the same
//! call. Chains are short: a push [`MAX_DEPTH`] deltas away from a push
//! compressed on its own starts a new chain, so reading any one push
//! decompresses at most `MAX_DEPTH + 1` frames, and reading a call's pushes
//! in order decompresses each once ([`BodyReader`] keeps what it decoded).
//!
//! The base of a new push is the newest push of its call compressed before
//! it ([`Bases`]), looked up by whoever compresses it, before the writer
//! stores it. The writer keeps a delta only if its base was stored and its
//! row still holds it (the base may have been refused, rolled back, or
//! erased by a purge and its id given to another push); else it stores
//! the push compressed on its own.

use std::cell::RefCell;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use rusqlite::{Connection, OptionalExtension};
use zstd::zstd_safe::{CCtx, CParameter, DCtx};

use super::{Bodies, MOST_BODY_BYTES};
use crate::storage::StoreError;

/// Deltas in a row before a push is compressed on its own again.
pub const MAX_DEPTH: u8 = 8;
/// Bases read back before a chain is called damaged: more than any chain
/// written, so a crafted row cannot send a reader round a loop.
const MOST_LINKS_READ: usize = MAX_DEPTH as usize * 4;
/// zstd's level for deltas: 4 keeps them in 15% fewer bytes than 3 at about
/// the same speed (65 against 77 bytes a push, ~20 µs).
pub const DELTA_LEVEL: i32 = 4;
/// How much of the dictionary's end (its raw content: the commonest
/// strings) precedes the base, for the fields a base does not have.
pub const DICTIONARY_TAIL: usize = 4096;
/// Larger pushes are not remembered as bases: they are compressed on their
/// own, and the memory of bases stays small.
pub const LARGEST_BASE: usize = 64 * 1024;
/// Calls whose newest push is remembered.
const REMEMBERED_CALLS: usize = 4096;
/// Bytes of remembered pushes at most.
const REMEMBERED_BYTES: usize = 8 << 20;

/// A push the next push of its call may be compressed against: the newest
/// one compressed, whether or not the writer has stored it yet (a call's
/// pushes often arrive together, and an import queues them back to back).
#[derive(Debug)]
pub struct Base {
    /// Set by the writer once stored (or found stored before).
    stored: Mutex<Option<StoredAs>>,
    /// Deltas between it and a push compressed on its own (0: itself), as
    /// compressed; the writer may have stored it on its own instead, so a
    /// chain is never longer than this says.
    pub depth: u8,
    pub body: Vec<u8>,
}

/// Where a base was stored: its event and that row's `body_sha256`, for
/// the writer to check the row still holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAs {
    pub event_id: i64,
    pub stored_hash: Vec<u8>,
}

impl Base {
    pub fn new(depth: u8, body: Vec<u8>) -> Base {
        Base {
            stored: Mutex::new(None),
            depth,
            body,
        }
    }

    pub fn stored_as(&self) -> Option<StoredAs> {
        self.stored
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn mark_stored(&self, stored: StoredAs) {
        *self.stored.lock().unwrap_or_else(|p| p.into_inner()) = Some(stored);
    }
}

/// The newest push of recent calls.
pub struct Bases {
    calls: Mutex<(LruCache<i64, Arc<Base>>, usize)>,
}

impl Default for Bases {
    fn default() -> Bases {
        let capacity = NonZeroUsize::new(REMEMBERED_CALLS).expect("not zero");
        Bases {
            calls: Mutex::new((LruCache::new(capacity), 0)),
        }
    }
}

impl Bases {
    pub fn get(&self, conversation_id: i64) -> Option<Arc<Base>> {
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        calls.0.get(&conversation_id).cloned()
    }

    /// Remembers `base` as its call's newest push; `None` (a push too large
    /// to be a base) forgets the call.
    pub fn remember(&self, conversation_id: i64, base: Option<Arc<Base>>) {
        let mut guard = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        let (calls, bytes) = &mut *guard;
        let Some(base) = base.filter(|base| base.body.len() <= LARGEST_BASE) else {
            if let Some(old) = calls.pop(&conversation_id) {
                *bytes -= old.body.len();
            }
            return;
        };
        *bytes += base.body.len();
        if let Some((_, old)) = calls.push(conversation_id, base) {
            *bytes -= old.body.len();
        }
        while *bytes > REMEMBERED_BYTES {
            let Some((_, old)) = calls.pop_lru() else {
                break;
            };
            *bytes -= old.body.len();
        }
    }

    pub fn forget_all(&self) {
        let mut guard = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        guard.0.clear();
        guard.1 = 0;
    }
}

/// What a delta is compressed against: the dictionary's tail, then its base.
fn prefix(dictionary: &[u8], base: &[u8]) -> Vec<u8> {
    let tail = &dictionary[dictionary.len().saturating_sub(DICTIONARY_TAIL)..];
    [tail, base].concat()
}

/// The first bytes of a trained zstd dictionary: a prefix starting so (a
/// dictionary shorter than [`DICTIONARY_TAIL`]) would be parsed as one
/// when loaded, so it is referenced as a prefix instead.
const DICTIONARY_MAGIC: [u8; 4] = 0xEC30_A437u32.to_le_bytes();

thread_local! {
    // A context per thread, reused: creating one costs more than a delta
    // (measured 26.7 µs against 14.6 to compress, 9.9 against 0.8 to
    // decompress; creation asks the CPU its features, which a virtual
    // machine answers slowly). The prefix is loaded as a raw-content
    // dictionary (copied) for each frame: zstd reads frames made against a
    // referenced prefix and against a loaded one alike.
    static DELTA_COMPRESSOR: RefCell<Option<CCtx<'static>>> = const { RefCell::new(None) };
    static DELTA_DECOMPRESSOR: RefCell<Option<DCtx<'static>>> = const { RefCell::new(None) };
}

fn zstd_error(code: usize) -> std::io::Error {
    std::io::Error::other(zstd::zstd_safe::get_error_name(code))
}

fn delta_compressor() -> std::io::Result<CCtx<'static>> {
    let mut cctx = CCtx::create();
    cctx.set_parameter(CParameter::CompressionLevel(DELTA_LEVEL))
        .map_err(zstd_error)?;
    cctx.set_parameter(CParameter::ChecksumFlag(true))
        .map_err(zstd_error)?;
    cctx.set_parameter(CParameter::ContentSizeFlag(true))
        .map_err(zstd_error)?;
    Ok(cctx)
}

/// `body` as a delta of `base`.
pub fn compress_delta(dictionary: &[u8], base: &[u8], body: &[u8]) -> std::io::Result<Vec<u8>> {
    let prefix = prefix(dictionary, base);
    let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(body.len()));
    if prefix.starts_with(&DICTIONARY_MAGIC) {
        let mut cctx = delta_compressor()?;
        cctx.ref_prefix(&prefix).map_err(zstd_error)?;
        cctx.compress2(&mut out, body).map_err(zstd_error)?;
        return Ok(out);
    }
    DELTA_COMPRESSOR.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_none() {
            *slot = Some(delta_compressor()?);
        }
        let cctx = slot.as_mut().expect("made above");
        let done = cctx
            .load_dictionary(&prefix)
            .and_then(|_| cctx.compress2(&mut out, body));
        if let Err(code) = done {
            // A context left mid-frame is not reused.
            *slot = None;
            return Err(zstd_error(code));
        }
        Ok(out)
    })
}

pub(super) fn decompress_delta(
    dictionary: &[u8],
    base: &[u8],
    frame: &[u8],
) -> Result<Vec<u8>, String> {
    let size = zstd::zstd_safe::get_frame_content_size(frame)
        .map_err(|_| "not a zstd frame".to_string())?
        .filter(|size| *size <= MOST_BODY_BYTES)
        .ok_or("its size is missing or impossible")?;
    let prefix = prefix(dictionary, base);
    let fail = |code| zstd::zstd_safe::get_error_name(code).to_string();
    let mut out = Vec::with_capacity(size as usize);
    if prefix.starts_with(&DICTIONARY_MAGIC) {
        let mut dctx = DCtx::create();
        dctx.ref_prefix(&prefix).map_err(fail)?;
        dctx.decompress(&mut out, frame).map_err(fail)?;
    } else {
        DELTA_DECOMPRESSOR.with(|slot| {
            let mut slot = slot.borrow_mut();
            let dctx = slot.get_or_insert_with(DCtx::create);
            let done = dctx
                .load_dictionary(&prefix)
                .and_then(|_| dctx.decompress(&mut out, frame));
            if let Err(code) = done {
                *slot = None;
                return Err(fail(code));
            }
            Ok(())
        })?;
    }
    if out.len() as u64 != size {
        return Err("it is shorter than it says".into());
    }
    Ok(out)
}

/// A stored body: what its row keeps.
pub struct StoredBody {
    pub event_id: i64,
    pub dictionary: Option<i64>,
    pub base: Option<i64>,
    pub stored: Vec<u8>,
}

impl StoredBody {
    /// Reads [`BODY_COLUMNS`], selected from column `at` of `row` on.
    pub fn read(event_id: i64, row: &rusqlite::Row, at: usize) -> rusqlite::Result<StoredBody> {
        Ok(StoredBody {
            event_id,
            dictionary: row.get(at)?,
            base: row.get(at + 1)?,
            stored: row
                .get_ref(at + 2)?
                .as_bytes_or_null()?
                .unwrap_or_default()
                .to_vec(),
        })
    }
}

/// The columns [`StoredBody::read`] reads, in its order.
pub const BODY_COLUMNS: &str = "body_dictionary, body_base, body";

/// Reads bodies back as received, following deltas to their bases and
/// keeping the last few decoded, so a call's pushes read in order cost one
/// decompression each. One per read (a request, a reprocess): what it
/// keeps is only valid in the snapshot it reads.
pub struct BodyReader<'a> {
    bodies: &'a Bodies,
    conn: &'a Connection,
    decoded: LruCache<i64, Arc<Vec<u8>>>,
    decoded_bytes: usize,
}

/// The most bytes a [`BodyReader`] keeps decoded.
const KEPT_BYTES: usize = 16 << 20;

impl<'a> BodyReader<'a> {
    /// Keeps up to `keep` decoded bodies (of at most [`LARGEST_BASE`] bytes).
    pub fn new(bodies: &'a Bodies, conn: &'a Connection, keep: usize) -> BodyReader<'a> {
        BodyReader {
            bodies,
            conn,
            decoded: LruCache::new(NonZeroUsize::new(keep.max(1)).expect("not zero")),
            decoded_bytes: 0,
        }
    }

    /// The body of `row` as received.
    pub fn read(&mut self, row: StoredBody) -> Result<Vec<u8>, StoreError> {
        let mut chain = vec![row];
        let mut below: Option<Arc<Vec<u8>>> = None;
        while let Some(base) = chain.last().and_then(|row| row.base) {
            if let Some(decoded) = self.decoded.get(&base) {
                below = Some(decoded.clone());
                break;
            }
            if chain.len() > MOST_LINKS_READ {
                return Err(damaged(base, "its chain of deltas does not end"));
            }
            chain.push(self.stored(base)?);
        }
        let mut body = Vec::new();
        for row in chain.into_iter().rev() {
            body = match (row.base, &below) {
                (None, _) => self.bodies.decode(self.conn, row.dictionary, row.stored)?,
                (Some(_), Some(base)) => {
                    let id = row
                        .dictionary
                        .ok_or_else(|| damaged(row.event_id, "a delta names no dictionary"))?;
                    let dictionary = self.bodies.dictionary(self.conn, id)?;
                    decompress_delta(dictionary, base, &row.stored)
                        .map_err(|problem| damaged(row.event_id, &problem))?
                }
                (Some(_), None) => unreachable!("a chain is read down to a decoded body"),
            };
            let kept = Arc::new(body.clone());
            if body.len() <= LARGEST_BASE {
                self.keep(row.event_id, kept.clone());
            }
            below = Some(kept);
        }
        Ok(body)
    }

    /// The body of event `event_id` as received.
    pub fn read_event(&mut self, event_id: i64) -> Result<Vec<u8>, StoreError> {
        let row = self.stored(event_id)?;
        self.read(row)
    }

    fn keep(&mut self, event_id: i64, body: Arc<Vec<u8>>) {
        self.decoded_bytes += body.len();
        if let Some((_, old)) = self.decoded.push(event_id, body) {
            self.decoded_bytes -= old.len();
        }
        while self.decoded_bytes > KEPT_BYTES {
            let Some((_, old)) = self.decoded.pop_lru() else {
                break;
            };
            self.decoded_bytes -= old.len();
        }
    }

    fn stored(&self, event_id: i64) -> Result<StoredBody, StoreError> {
        self.conn
            .prepare_cached(&format!("SELECT {BODY_COLUMNS} FROM events WHERE id = ?1"))?
            .query_row([event_id], |row| StoredBody::read(event_id, row, 0))
            .optional()?
            .ok_or_else(|| damaged(event_id, "the push it is a delta of is missing"))
    }
}

fn damaged(event_id: i64, problem: &str) -> StoreError {
    StoreError::Internal(format!("the body of event {event_id}: {problem}"))
}
