//! Fuzzing the push parser and the whole ingest path, on stable Rust.
//!
//! Two bolero targets over [`FuzzPush`] (recorded pushes edited with odd
//! values, odd bytes, form fields and compression):
//!
//! - `the_push_parser_*`: decompress → decode → validate, as the webhook
//!   does; an accepted push must parse again, from what storage keeps of
//!   it, into the very same push, and merge into a call. No database: fast.
//! - `the_ingest_path_*`: a sequence of deliveries (new pushes and exact
//!   redeliveries) through the real writer into a temporary database; each
//!   outcome must be the one the body calls for (stored, duplicate,
//!   rejected, never a storage error), and afterwards `reprocess` must
//!   rebuild exactly the live calls, collections, events and warnings.
//!
//! Under `cargo test` they run bolero's random engine for a few seconds
//! (`UDESK_CALLS_FUZZ_SECONDS` sets the budget of each);
//! `scripts/fuzz.sh --libfuzzer` runs them under libFuzzer, coverage-guided
//! (see SECURITY.md). A watchdog aborts on an input that takes too long, after
//! printing it: a hang is a finding too.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use bolero::generator::{TypeGenerator, produce};
use udesk_calls::domain::{RawPush, RejectReason, Rejection, project};
use udesk_calls::http::webhook::intake;
use udesk_calls::storage::reprocess::reprocess;
use udesk_calls::storage::{DEFAULT_WAL_AUTOCHECKPOINT, Intake, Store, WriteOutcome};
use udesk_calls::wire::{ContentEncoding, DecompressError, decompress};
use udesk_calls::{StoreOptions, wire::time::beijing};

use crate::support::db::{open_read_only, projection_dump, rows};
use crate::support::fuzz_input::{
    ByteEdit, Edit, Encoding, FuzzPush, Key, Odd, RenderedPush, SEEDS, Transport, as_stored,
};
use crate::support::fuzz_runs::{Runs, budget};

/// The webhook's default body limit, applied after decompression too.
const BODY_LIMIT: usize = 1024 * 1024;

#[derive(Clone, Debug, TypeGenerator)]
enum Delivery {
    New(FuzzPush),
    /// An earlier delivery's exact bytes again (by index, wrapping).
    Again(u8),
}

#[test]
fn the_push_parser_survives_any_body_and_parses_stored_pushes_the_same_again() {
    let budget = budget(Duration::from_secs(2));
    let runs = Runs::new("push parser", Duration::from_secs(60));
    bolero::check!()
        .with_type::<FuzzPush>()
        .with_test_time(budget)
        .for_each(|push| runs.run(push, || vec![parse(push)]));
    runs.report();
}

#[test]
fn the_ingest_path_stores_what_each_body_calls_for_and_reprocess_rebuilds_it() {
    let budget = budget(Duration::from_secs(4));
    let runs = Runs::new("ingest path", Duration::from_secs(120));
    bolero::check!()
        .with_generator(produce::<Vec<Delivery>>().with().len(1usize..10))
        .with_test_time(budget)
        .for_each(|deliveries| runs.run(deliveries, || ingest(deliveries)));
    runs.report();
}

#[test]
fn every_recorded_push_passes_the_fuzz_checks_unchanged_and_all_in_one_call() {
    let unchanged: Vec<Delivery> = (0..SEEDS.len())
        .map(|index| {
            Delivery::New(FuzzPush {
                start: index as u8,
                raw: Vec::new(),
                edits: Vec::new(),
                byte_edit: ByteEdit::Truncate(0),
                mangle: 1,
                transport: Transport::Json,
                encoding: Encoding::Plain,
            })
        })
        .collect();
    for delivery in &unchanged {
        if let Delivery::New(push) = delivery {
            assert!(parse(push).starts_with("accepted"));
        }
    }
    let mut twice = unchanged.clone();
    twice.extend((0..SEEDS.len() as u8).map(Delivery::Again));
    let outcomes = ingest(&twice);
    let stored = outcomes.iter().filter(|o| **o == "stored").count();
    let duplicates = outcomes.iter().filter(|o| **o == "duplicate").count();
    assert_eq!((stored, duplicates), (SEEDS.len(), SEEDS.len()));
}

/// Inputs the fuzzers found failing, kept failing no more.
fn findings() -> Vec<(&'static str, Vec<Delivery>)> {
    let seed = |start: u8, edits: Vec<Edit>, transport: Transport| FuzzPush {
        start,
        raw: Vec::new(),
        edits,
        byte_edit: ByteEdit::Truncate(0),
        mangle: 1,
        transport,
        encoding: Encoding::Plain,
    };
    vec![(
        // A form field of 127 nested arrays was accepted, but its
        // `form_payload` (one level deeper) could not be parsed back:
        // reprocess failed, and so would every later merge of the call.
        "a form field nested 127 deep",
        vec![
            Delivery::New(seed(
                2,
                vec![Edit::Set {
                    key: Key::Known(6),
                    value: Odd::Nested(127),
                }],
                Transport::FormFields,
            )),
            Delivery::New(seed(
                3,
                vec![Edit::Set {
                    key: Key::Known(6),
                    value: Odd::Nested(127),
                }],
                Transport::FormFields,
            )),
        ],
    )]
}

#[test]
fn inputs_the_fuzzers_found_failing_pass() {
    for (finding, deliveries) in findings() {
        for delivery in &deliveries {
            if let Delivery::New(push) = delivery {
                assert!(parse(push).starts_with("accepted"), "{finding}");
            }
        }
        let outcomes = ingest(&deliveries);
        assert!(outcomes.iter().all(|o| *o == "stored"), "{finding}");
    }
}

/// What the webhook makes of a body after its token and size checks: an
/// intake for the writer, or `None` when it stores nothing (413, 415).
fn wire_intake(rendered: &RenderedPush) -> Option<Intake> {
    let encoding = ContentEncoding::parse(rendered.content_encoding).ok()?;
    let raw = RawPush {
        body: rendered.body.clone(),
        content_type: rendered.content_type.map(str::to_owned),
        received_at: chrono::Utc::now().with_timezone(&beijing()),
    };
    match decompress(raw.body.clone(), encoding, BODY_LIMIT) {
        Ok(body) => Some(intake(RawPush { body, ..raw }, beijing())),
        Err(DecompressError::TooLarge(_)) => None,
        Err(corrupt) => Some(Intake::Rejected {
            http_status: 400,
            rejection: Rejection {
                raw,
                reason: RejectReason::Malformed(corrupt.into()),
            },
        }),
    }
}

/// Checks one body; returns what became of it.
fn parse(push: &FuzzPush) -> &'static str {
    let accepted = match wire_intake(&push.render()) {
        Some(Intake::Push(accepted)) => accepted,
        Some(Intake::Rejected { .. }) => return "rejected",
        None => return "not read (413, 415)",
    };
    // What `reprocess` and every later merge read: the stored columns.
    let stored = as_stored(&accepted);
    let again = stored
        .to_stored_push(beijing())
        .expect("a stored push parses again");
    assert_eq!(again.push, accepted.push, "parsed again, the push differs");
    let (call, _) = project(&[again]).expect("one push makes a call");
    assert_eq!(call.conversation_id, accepted.push.conversation_id);
    if accepted.push.warnings.is_empty() {
        "accepted"
    } else {
        "accepted with warnings"
    }
}

/// Checks one sequence of deliveries; returns what became of each.
fn ingest(deliveries: &[Delivery]) -> Vec<&'static str> {
    let dir = scratch_dir();
    let options = StoreOptions {
        path: dir.path().join("calls.db"),
        default_offset: beijing(),
        readers: 1,
        wal_autocheckpoint: DEFAULT_WAL_AUTOCHECKPOINT,
        train_dictionary_after: udesk_calls::storage::bodies::TRAIN_AFTER,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut outcomes = Vec::new();
    let live = runtime.block_on(async {
        let store = Store::open(&options).expect("a fresh database opens");
        let mut sent: Vec<RenderedPush> = Vec::new();
        let mut stored_bodies: HashSet<Vec<u8>> = HashSet::new();
        for delivery in deliveries {
            let rendered = match delivery {
                Delivery::New(push) => push.render(),
                Delivery::Again(_) if sent.is_empty() => continue,
                Delivery::Again(index) => sent[*index as usize % sent.len()].clone(),
            };
            sent.push(rendered.clone());
            let Some(intake) = wire_intake(&rendered) else {
                continue;
            };
            let expected = match &intake {
                Intake::Push(accepted) if stored_bodies.contains(&accepted.raw.body) => "duplicate",
                Intake::Push(accepted) => {
                    stored_bodies.insert(accepted.raw.body.clone());
                    "stored"
                }
                Intake::Rejected { .. } => "rejected",
            };
            let outcome = store
                .writer()
                .write(intake)
                .await
                .unwrap_or_else(|error| panic!("a healthy database refused a push: {error}"));
            let got = match outcome {
                WriteOutcome::Stored { .. } => "stored",
                WriteOutcome::Duplicate { .. } => "duplicate",
                WriteOutcome::Rejected { .. } => "rejected",
            };
            assert_eq!(got, expected, "the outcome of {rendered:?}");
            outcomes.push(got);
        }
        let live = snapshot(&options.path);
        assert_eq!(
            live.events,
            stored_bodies.len(),
            "one event per distinct stored body"
        );
        store.close().await;
        live
    });
    reprocess(&options, |_| {}).expect("reprocess succeeds");
    let rebuilt = snapshot(&options.path);
    assert_eq!(rebuilt, live, "reprocess differs from the live projection");
    outcomes
}

/// Everything `reprocess` rewrites, and the database's health.
#[derive(Debug, PartialEq)]
struct Snapshot {
    events: usize,
    projection: Vec<(String, Vec<Vec<String>>)>,
    parsed_events: Vec<Vec<String>>,
    warnings: Vec<Vec<String>>,
}

fn snapshot(path: &Path) -> Snapshot {
    let db = open_read_only(path);
    let integrity = rows(&db, "PRAGMA integrity_check");
    assert_eq!(integrity, vec![vec!["ok".to_owned()]]);
    let parsed_events = rows(
        &db,
        "SELECT id, conversation_id, occasion, event_at, event_at_ms, warning_count, deliveries
         FROM events ORDER BY id",
    );
    Snapshot {
        events: parsed_events.len(),
        projection: projection_dump(&db),
        parsed_events,
        warnings: rows(
            &db,
            "SELECT * FROM parse_warnings ORDER BY event_id, position",
        ),
    }
}

/// A temporary folder, in memory where the system has one: the fuzz
/// checks what is written, not how fast a disk syncs it.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().unwrap()
}
