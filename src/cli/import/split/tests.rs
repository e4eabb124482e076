use proptest::prelude::*;
use serde_json::{Value, json};

use super::{Piece, Splitter};

/// Splits `input` fed in pieces of `chunk` bytes.
fn split(input: &[u8], chunk: usize, limit: usize) -> Vec<Piece> {
    let mut splitter = Splitter::new(limit);
    let mut pieces = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let end = rest.len().min(chunk);
        let (taken, piece) = splitter.feed(&rest[..end]);
        pieces.extend(piece);
        rest = &rest[taken..];
    }
    pieces.extend(splitter.finish());
    pieces
}

fn texts(pieces: &[Piece]) -> Vec<(u64, String)> {
    pieces
        .iter()
        .map(|piece| match piece {
            Piece::Value { line, bytes } => (*line, String::from_utf8(bytes.clone()).unwrap()),
            Piece::TooLong { line, length } => (*line, format!("<{length} bytes>")),
        })
        .collect()
}

#[test]
fn one_object_a_line_gives_each_line_with_its_number() {
    let input = b"{\"a\": 1}\n\n{\"b\": \"}{\"}\r\n";
    assert_eq!(
        texts(&split(input, 3, 100)),
        vec![(1, "{\"a\": 1}".into()), (3, "{\"b\": \"}{\"}".into())]
    );
}

#[test]
fn pretty_printed_objects_are_each_one_value_beginning_on_their_first_line() {
    let first = serde_json::to_string_pretty(&json!({ "a": { "b": [1, 2] }, "c": "x" })).unwrap();
    let input = format!("{first}\n{first}\n");
    let lines = first.lines().count() as u64;
    assert_eq!(
        texts(&split(input.as_bytes(), 7, 1000)),
        vec![(1, first.clone()), (1 + lines, first)]
    );
}

#[test]
fn an_array_of_objects_gives_its_elements() {
    let input = b"[\n  {\"a\": 1},\n  {\"b\": [2]}\n]\n";
    assert_eq!(
        texts(&split(input, 1, 100)),
        vec![(2, "{\"a\": 1}".into()), (3, "{\"b\": [2]}".into())]
    );
}

#[test]
fn a_broken_line_does_not_swallow_the_lines_after_it() {
    let input = b"{not json\n{\"a\": \"unterminated\n{\"b\": 2}\nnot json either\n{\"c\": 3}";
    assert_eq!(
        texts(&split(input, 5, 100)),
        vec![
            (1, "{not json\n".into()),
            (2, "{\"a\": \"unterminated\n".into()),
            (3, "{\"b\": 2}".into()),
            (4, "not json either".into()),
            (5, "{\"c\": 3}".into()),
        ]
    );
}

#[test]
fn a_line_cut_inside_a_string_ending_in_a_colon_does_not_swallow_the_next_push() {
    let input = b"{\"at\": \"10:\n{\"b\": 2}\n";
    assert_eq!(
        texts(&split(input, 4, 100)),
        vec![(1, "{\"at\": \"10:\n".into()), (2, "{\"b\": 2}".into())]
    );
}

#[test]
fn a_value_over_the_limit_is_measured_not_kept_and_the_next_one_is_found() {
    let long = format!("{{\"a\": \"{}\"", "x".repeat(50));
    let input = format!("{{\"a\": 1}}\n{long}\n{{\"b\": 2}}\n");
    assert_eq!(
        texts(&split(input.as_bytes(), 4, 20)),
        vec![
            (1, "{\"a\": 1}".into()),
            (2, format!("<{} bytes>", long.len() + 1)),
            (3, "{\"b\": 2}".into()),
        ]
    );
}

#[test]
fn an_unfinished_value_at_the_end_is_given_as_it_is() {
    assert_eq!(
        texts(&split(b"{\"a\": [1,\n", 100, 100)),
        vec![(1, "{\"a\": [1,\n".into())]
    );
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[ -~\u{4e00}-\u{4e20}\"\\\\{}\\[\\]\n\t]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map("[a-z_{}\\[\\]\"]{0,6}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-z_]{1,8}", json_value(), 0..8)
        .prop_map(|map| Value::Object(map.into_iter().collect()))
}

proptest! {
    /// However a stream of objects is laid out and read, each comes back
    /// as one value that parses to the object written.
    #[test]
    fn every_layout_gives_back_the_objects_written(
        objects in prop::collection::vec(object(), 0..6),
        layout in 0..5_u8,
        chunk in 1..64_usize,
    ) {
        let render = |value: &Value, pretty: bool| if pretty {
            serde_json::to_string_pretty(value).unwrap()
        } else {
            value.to_string()
        };
        let input = match layout {
            0 => objects.iter().map(|o| render(o, false) + "\n").collect::<String>(),
            1 => objects.iter().map(|o| render(o, true) + "\n").collect::<String>(),
            2 => objects.iter().map(|o| render(o, false)).collect::<String>(),
            3 => serde_json::to_string_pretty(&objects).unwrap(),
            _ => serde_json::to_string(&objects).unwrap(),
        };
        let pieces = split(input.as_bytes(), chunk, 1 << 20);
        let parsed: Vec<Value> = pieces
            .iter()
            .map(|piece| match piece {
                Piece::Value { bytes, .. } => serde_json::from_slice(bytes).unwrap(),
                Piece::TooLong { .. } => panic!("nothing is over the limit"),
            })
            .collect();
        prop_assert_eq!(parsed, objects);
    }
}
