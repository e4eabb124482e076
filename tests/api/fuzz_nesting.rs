//! A fuzz target for nesting: bodies of arrays, objects, strings holding
//! brackets and odd numbers, nested from a few levels to hundreds of
//! thousands, closed or not, through the webhook's intake and read back as
//! storage keeps them. None may exhaust the stack or hang; an accepted one
//! must read back into the same push.
//!
//! `cargo test` runs it for a few seconds; `scripts/fuzz.sh` runs it with
//! the other targets for as long as it is told (`UDESK_CALLS_FUZZ_SECONDS`).

use std::time::Duration;

use bolero::generator::TypeGenerator;
use udesk_calls::domain::RawPush;
use udesk_calls::http::webhook::intake;
use udesk_calls::storage::Intake;
use udesk_calls::wire::time::beijing;

use crate::support::fuzz_input::as_stored;
use crate::support::fuzz_runs::{Runs, budget};

/// One stretch of a nested body.
#[derive(Clone, Debug, TypeGenerator)]
enum Piece {
    /// `[` this many times 64.
    Arrays(u16),
    /// `{"k":` this many times.
    Objects(u16),
    /// `[{"a":` alternating, this many times 8.
    Mixed(u8),
    /// A string full of brackets and escapes, which must not count.
    BracketsInAString(u8),
    /// A number beyond 64-bit range: sends the body down the tolerant path.
    HugeNumber,
    /// Brackets closed early.
    Close(u8),
    Junk(u8),
}

#[derive(Clone, Debug, TypeGenerator)]
struct Nested {
    pieces: Vec<Piece>,
    /// Whether every open bracket is closed at the end.
    balanced: bool,
}

impl Nested {
    fn render(&self) -> Vec<u8> {
        let mut body = br#"{"conversation_id":9,"occasion":"end","x":"#.to_vec();
        let mut open: Vec<u8> = vec![b'}'];
        for piece in &self.pieces {
            match *piece {
                Piece::Arrays(n) => {
                    let n = usize::from(n) * 64;
                    body.extend(std::iter::repeat_n(b'[', n));
                    open.extend(std::iter::repeat_n(b']', n));
                }
                Piece::Objects(n) => {
                    body.extend(br#"{"k":"#.repeat(n.into()));
                    open.extend(std::iter::repeat_n(b'}', n.into()));
                }
                Piece::Mixed(n) => {
                    for _ in 0..usize::from(n) * 8 {
                        body.extend_from_slice(br#"[{"a":"#);
                        open.extend_from_slice(b"]}");
                    }
                }
                Piece::BracketsInAString(n) => {
                    body.extend_from_slice(br#""[{\"\\"#);
                    body.extend(std::iter::repeat_n(b'[', usize::from(n)));
                    body.extend_from_slice(br#"","#);
                }
                Piece::HugeNumber => body.extend_from_slice(b"1e999,"),
                Piece::Close(n) => {
                    for _ in 0..n {
                        if open.len() > 1 {
                            body.push(open.pop().expect("an open bracket"));
                        }
                    }
                    body.push(b',');
                }
                Piece::Junk(byte) => body.push(byte),
            }
        }
        body.push(b'0');
        if self.balanced {
            body.extend(open.iter().rev());
        }
        body
    }
}

#[test]
fn the_push_parser_survives_any_nesting_and_reads_back_what_it_accepted() {
    let budget = budget(Duration::from_secs(2));
    let runs = Runs::new("nesting", Duration::from_secs(60));
    bolero::check!()
        .with_type::<Nested>()
        .with_test_time(budget)
        .for_each(|nested| runs.run(nested, || vec![check(&nested.render())]));
    runs.report();
}

#[test]
fn the_nesting_target_reaches_both_answers() {
    for pieces in [
        vec![Piece::Objects(3)],
        vec![Piece::Arrays(1), Piece::HugeNumber],
    ] {
        let shallow = Nested {
            pieces,
            balanced: true,
        };
        assert_eq!(check(&shallow.render()), "accepted", "{shallow:?}");
    }
    let deep = Nested {
        pieces: vec![Piece::Arrays(3_000), Piece::BracketsInAString(200)],
        balanced: true,
    };
    assert_eq!(check(&deep.render()), "rejected");
}

fn check(body: &[u8]) -> &'static str {
    let raw = RawPush {
        body: body.to_vec(),
        content_type: None,
        received_at: chrono::Utc::now().with_timezone(&beijing()),
    };
    let accepted = match intake(raw, beijing()) {
        Intake::Push(accepted) => accepted,
        _ => return "rejected",
    };
    let stored = as_stored(&accepted);
    let again = stored.to_stored_push(beijing()).expect("it reads back");
    assert_eq!(again.push, accepted.push);
    assert!(stored.payload_value().is_object());
    "accepted"
}
