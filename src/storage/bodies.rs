//! How a push's bytes are kept: compressed with zstd against a dictionary
//! trained on this database's own pushes.
//!
//! A call's pushes repeat the same sixty-odd keys and most of their values,
//! so a dictionary keeps a ~2.2 kB push in ~270 bytes where zstd alone
//! needs ~1.2 kB (measured on the benchmark's pushes; `BENCHMARKS.md`).
//! Until a database holds [`TRAIN_AFTER`] pushes, bodies are stored as
//! received; then the upkeep (`compactor`) trains a dictionary from them,
//! keeps it in `body_dictionaries`, and compresses what came before. Each
//! event names its dictionary, so every body stays readable whatever is
//! trained later, and gives back the very bytes received.
//!
//! The training samples have every run of five or more digits masked, so
//! no phone number (nor any other long number of a customer) can be in a
//! dictionary, which no purge could erase.

pub mod chains;
pub mod compactor;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, RwLock};

use rusqlite::{Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use zstd::bulk::{Compressor, Decompressor};
use zstd::dict::{DecoderDictionary, EncoderDictionary};

use super::StoreError;
use chains::{Base, Bases, LARGEST_BASE, MAX_DEPTH, compress_delta};

/// zstd's level: 9 keeps a push in 14% fewer bytes but takes six times as
/// long (43 µs against 7 µs on the benchmark's pushes).
pub const LEVEL: i32 = 3;
/// Dictionaries of 16 KiB to 110 KiB kept pushes within 3% of each other.
pub const DICTIONARY_BYTES: usize = 64 * 1024;
/// Pushes stored as received before the first dictionary is trained: a
/// thousand already keep a push within 3% of what five thousand do.
pub const TRAIN_AFTER: usize = 1000;
/// The most pushes a dictionary is trained on (the newest ones).
pub const MOST_SAMPLES: usize = 5000;
/// The largest body a stored frame may claim to hold: bodies are limited
/// far below it, so a larger claim is a damaged row, not a push.
const MOST_BODY_BYTES: u64 = 256 << 20;

/// A dictionary made ready for zstd once per process.
struct Prepared {
    encoder: EncoderDictionary<'static>,
    decoder: DecoderDictionary<'static>,
    /// As stored: deltas are compressed against its end.
    raw: Box<[u8]>,
}

/// Prepared dictionaries by the hash of their bytes. Preparing one costs
/// milliseconds and a database has one or two, so each is prepared once
/// per process and kept for its life (compressors on every thread refer
/// to it).
static PREPARED: LazyLock<Mutex<HashMap<[u8; 32], &'static Prepared>>> =
    LazyLock::new(Mutex::default);

fn prepare(dictionary: &[u8]) -> &'static Prepared {
    let key: [u8; 32] = Sha256::digest(dictionary).into();
    let mut prepared = PREPARED.lock().unwrap_or_else(|p| p.into_inner());
    prepared.entry(key).or_insert_with(|| {
        Box::leak(Box::new(Prepared {
            encoder: EncoderDictionary::copy(dictionary, LEVEL),
            decoder: DecoderDictionary::copy(dictionary),
            raw: dictionary.into(),
        }))
    })
}

thread_local! {
    // A zstd context allocates its tables on first use: one per thread and
    // dictionary, reused, rather than one per push.
    static COMPRESSORS: RefCell<Vec<(usize, Compressor<'static>)>> = const { RefCell::new(Vec::new()) };
    static DECOMPRESSORS: RefCell<Vec<(usize, Decompressor<'static>)>> = const { RefCell::new(Vec::new()) };
}

/// Contexts kept per thread: one per dictionary in use, rarely more than one.
const CONTEXTS_PER_THREAD: usize = 4;

fn with_context<C, T>(
    cache: &'static std::thread::LocalKey<RefCell<Vec<(usize, C)>>>,
    prepared: &'static Prepared,
    make: impl FnOnce(&'static Prepared) -> std::io::Result<C>,
    work: impl FnOnce(&mut C) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let key = prepared as *const Prepared as usize;
    cache.with(|contexts| {
        let mut contexts = contexts.borrow_mut();
        let at = match contexts.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                if contexts.len() == CONTEXTS_PER_THREAD {
                    contexts.remove(0);
                }
                contexts.push((key, make(prepared)?));
                contexts.len() - 1
            }
        };
        work(&mut contexts[at].1)
    })
}

/// A body as kept: compressed against dictionary `dictionary`, and as a
/// delta of `base` when it has one (see [`chains`]).
#[derive(Clone, Debug)]
pub struct Encoded {
    pub dictionary: i64,
    pub base: Option<Arc<Base>>,
    pub bytes: Vec<u8>,
}

impl Encoded {
    /// Deltas between it and a body compressed on its own.
    pub fn depth(&self) -> u8 {
        self.base.as_ref().map_or(0, |base| base.depth + 1)
    }
}

/// What the writer keeps of a push's bytes, made beforehand on the
/// caller's thread (a request's task, an import's parser) so the single
/// writer thread only inserts it.
#[derive(Debug, Default)]
pub struct PreparedBody {
    /// Compressed, or `None` to keep the body as received.
    pub encoded: Option<Encoded>,
    /// Its long numbers, reversed, for `call_numbers`.
    pub numbers: Vec<String>,
    /// The push as its call's next push's base, told where it is stored.
    pub as_base: Option<Arc<Base>>,
}

/// The dictionaries of one database.
pub struct Bodies {
    by_id: RwLock<HashMap<i64, &'static Prepared>>,
    /// The one new bodies are compressed with: the newest.
    newest: RwLock<Option<(i64, &'static Prepared)>>,
    /// The newest push of recent calls, for their next to be a delta of.
    pub bases: Bases,
}

impl Bodies {
    /// Reads every dictionary of the database.
    pub fn load(conn: &Connection) -> Result<Bodies, StoreError> {
        let bodies = Bodies {
            by_id: RwLock::default(),
            newest: RwLock::default(),
            bases: Bases::default(),
        };
        let mut select =
            conn.prepare("SELECT id, dictionary FROM body_dictionaries ORDER BY id")?;
        let rows = select.query_map([], |row| Ok((row.get(0)?, row.get::<_, Vec<u8>>(1)?)))?;
        for row in rows {
            let (id, dictionary) = row?;
            bodies.install(id, &dictionary);
        }
        Ok(bodies)
    }

    fn install(&self, id: i64, dictionary: &[u8]) -> &'static Prepared {
        let prepared = prepare(dictionary);
        self.by_id
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, prepared);
        let mut newest = self.newest.write().unwrap_or_else(|p| p.into_inner());
        if newest.is_none_or(|(newest_id, _)| newest_id < id) {
            *newest = Some((id, prepared));
        }
        prepared
    }

    /// Whether new bodies are compressed.
    pub fn has_dictionary(&self) -> bool {
        self.newest
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// What the writer needs of a push of call `conversation_id`: its body
    /// compressed (a delta of the call's newest push when one is
    /// remembered), and its numbers.
    pub fn prepare(&self, body: &[u8], conversation_id: i64) -> PreparedBody {
        let delta = self
            .bases
            .get(conversation_id)
            .and_then(|base| self.encode_delta(body, base));
        let encoded = delta.or_else(|| self.encode(body));
        let as_base = (body.len() <= LARGEST_BASE).then(|| {
            let depth = encoded.as_ref().map_or(0, Encoded::depth);
            Arc::new(Base::new(depth, body.to_vec()))
        });
        self.bases.remember(conversation_id, as_base.clone());
        PreparedBody {
            encoded,
            numbers: reversed_numbers(body),
            as_base,
        }
    }

    /// `body` as a delta of `base`; `None` when its chain is long enough,
    /// or the body too large to be worth one.
    pub fn encode_delta(&self, body: &[u8], base: Arc<Base>) -> Option<Encoded> {
        if base.depth >= MAX_DEPTH || body.len() > LARGEST_BASE {
            return None;
        }
        let (id, prepared) = (*self.newest.read().unwrap_or_else(|p| p.into_inner()))?;
        let bytes = compress_delta(&prepared.raw, &base.body, body).ok()?;
        (bytes.len() < body.len()).then_some(Encoded {
            dictionary: id,
            base: Some(base),
            bytes,
        })
    }

    /// `body` compressed with the newest dictionary; `None` while there is
    /// none, or when compressing would not make it smaller.
    pub fn encode(&self, body: &[u8]) -> Option<Encoded> {
        let (id, prepared) = (*self.newest.read().unwrap_or_else(|p| p.into_inner()))?;
        let bytes = with_context(
            &COMPRESSORS,
            prepared,
            |prepared| {
                let mut compressor = Compressor::with_prepared_dictionary(&prepared.encoder)?;
                // The dictionary is named by the row, not by the frame.
                compressor.set_parameter(zstd::zstd_safe::CParameter::DictIdFlag(false))?;
                // Four bytes a push buy a check of every decompression: a
                // damaged body or dictionary is an error, never other bytes.
                compressor.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))?;
                Ok(compressor)
            },
            |compressor| compressor.compress(body),
        )
        .ok()?;
        (bytes.len() < body.len()).then_some(Encoded {
            dictionary: id,
            base: None,
            bytes,
        })
    }

    /// The bytes of dictionary `id`, for a delta compressed against them.
    pub fn dictionary(&self, conn: &Connection, id: i64) -> Result<&'static [u8], StoreError> {
        Ok(&self.prepared(conn, id)?.raw)
    }

    /// The body of a row compressed on its own (not a delta: see
    /// [`chains::BodyReader`]) as received: `stored` itself when
    /// `dictionary` is `None`. A dictionary this process has not seen (one
    /// trained by `serve` beside a command) is read from `conn`.
    pub fn decode(
        &self,
        conn: &Connection,
        dictionary: Option<i64>,
        stored: Vec<u8>,
    ) -> Result<Vec<u8>, StoreError> {
        let Some(id) = dictionary else {
            return Ok(stored);
        };
        let prepared = self.prepared(conn, id)?;
        let damaged = |problem: String| {
            StoreError::Internal(format!("a body compressed with dictionary {id}: {problem}"))
        };
        let size = zstd::zstd_safe::get_frame_content_size(&stored)
            .map_err(|_| damaged("not a zstd frame".into()))?
            .filter(|size| *size <= MOST_BODY_BYTES)
            .ok_or_else(|| damaged("its size is missing or impossible".into()))?;
        with_context(
            &DECOMPRESSORS,
            prepared,
            |prepared| Decompressor::with_prepared_dictionary(&prepared.decoder),
            |decompressor| decompressor.decompress(&stored, size as usize),
        )
        .map_err(|error| damaged(error.to_string()))
    }

    fn prepared(&self, conn: &Connection, id: i64) -> Result<&'static Prepared, StoreError> {
        if let Some(prepared) = self
            .by_id
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
        {
            return Ok(prepared);
        }
        let dictionary: Option<Vec<u8>> = conn
            .query_row(
                "SELECT dictionary FROM body_dictionaries WHERE id = ?1",
                [id],
                |row| row.get(0),
            )
            .optional()?;
        let dictionary = dictionary
            .ok_or_else(|| StoreError::Internal(format!("the body dictionary {id} is missing")))?;
        Ok(self.install(id, &dictionary))
    }

    /// Keeps a newly trained dictionary in the transaction `tx`; bodies
    /// are compressed with it once `tx` commits and [`Bodies::adopt`] is
    /// called.
    pub fn insert(
        tx: &Connection,
        dictionary: &[u8],
        trained_on: usize,
    ) -> Result<i64, StoreError> {
        Ok(tx.query_row(
            "INSERT INTO body_dictionaries (created_at, trained_on, dictionary)
             VALUES (strftime('%Y-%m-%dT%H:%M:%fZ'), ?1, ?2) RETURNING id",
            rusqlite::params![trained_on as i64, dictionary],
            |row| row.get(0),
        )?)
    }

    /// Compresses new bodies with dictionary `id` from now on.
    pub fn adopt(&self, id: i64, dictionary: &[u8]) {
        self.install(id, dictionary);
    }
}

/// Trains a dictionary on `samples` (bodies as received), with every run
/// of five or more digits masked.
pub fn train(samples: &[Vec<u8>]) -> std::io::Result<Vec<u8>> {
    let masked: Vec<Vec<u8>> = samples
        .iter()
        .map(|body| mask_long_digit_runs(body))
        .collect();
    zstd::dict::from_samples(&masked, DICTIONARY_BYTES)
}

/// `body` with every digit of a run of five or more replaced by `0`: the
/// keys, times and code values a dictionary is for stay, and no phone
/// number, id or amount of a customer does.
pub fn mask_long_digit_runs(body: &[u8]) -> Vec<u8> {
    let mut masked = body.to_vec();
    for run in digit_runs(body).filter(|run| run.len() >= 5) {
        masked[run].fill(b'0');
    }
    masked
}

fn digit_runs(body: &[u8]) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let start = at + body[at..].iter().position(u8::is_ascii_digit)?;
        let end = start
            + body[start..]
                .iter()
                .position(|b| !b.is_ascii_digit())
                .unwrap_or(body.len() - start);
        at = end;
        Some(start..end)
    })
}

/// The shortest run of digits kept in `call_numbers`: a local number has
/// seven or eight digits, a mobile one eleven.
pub const SHORTEST_NUMBER: usize = 7;

/// Every distinct run of [`SHORTEST_NUMBER`] or more digits in `body`, its
/// digits reversed (so that a number is found by prefix where a country
/// code precedes it).
pub fn reversed_numbers(body: &[u8]) -> Vec<String> {
    let mut numbers: Vec<String> = digit_runs(body)
        .filter(|run| run.len() >= SHORTEST_NUMBER)
        .map(|run| body[run].iter().rev().map(|&b| char::from(b)).collect())
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    numbers
}

/// The upkeep's progress, kept in `store_state`.
pub fn state(conn: &Connection, key: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT value FROM store_state WHERE key = ?1",
            [key],
            |row| row.get(0),
        )
        .optional()?)
}

pub fn set_state(tx: &Connection, key: &str, value: i64) -> Result<(), StoreError> {
    tx.prepare_cached("INSERT OR REPLACE INTO store_state (key, value) VALUES (?1, ?2)")?
        .execute(rusqlite::params![key, value])?;
    Ok(())
}

#[cfg(test)]
mod tests;
