//! Reading a push's JSON without refusing what a strict parser would.
//!
//! Real pushes carry things `serde_json` refuses or hides: a number beyond
//! 64-bit range (`1e400`, a 400-digit id), a lone UTF-16 surrogate escape
//! (`"\ud83d"`, half an emoji cut by a truncation upstream), a key given
//! twice. None of them may refuse a push (the contract), so each is read
//! as well as it can be and reported as an [`Oddity`], which becomes a parse
//! warning; the raw body is stored untouched either way.
//!
//! The common case costs one ordinary parse plus a scan of the top-level
//! keys; the tolerant paths run only when the ordinary parse fails.
//!
//! Nesting is bounded at [`MAX_DEPTH`]: `serde_json` refuses deeper input
//! in its ordinary parse, and the tolerant path measures the depth without
//! recursion before it recurses, so no body can exhaust the stack (a push
//! of 3,000 nested arrays once aborted the process).

use std::collections::HashSet;
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::value::truncate;

/// Something in a body that was read tolerantly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Oddity {
    /// Where: a top-level key, a path like `note_custom_fields[2].value`, or
    /// `(body)`.
    pub field: String,
    /// The text as received, shortened.
    pub raw: String,
    pub problem: String,
}

/// The deepest nesting of arrays and objects read: `serde_json`'s own
/// limit. A Udesk push nests three levels.
pub const MAX_DEPTH: usize = 128;

/// Why bytes are not read as JSON.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// `serde_json`'s message.
    #[error("{0}")]
    NotJson(String),
    #[error("arrays and objects are nested {depth} levels deep; at most {MAX_DEPTH} are read")]
    TooDeep { depth: usize },
}

/// Parses `bytes` as JSON, tolerating out-of-range numbers and lone
/// surrogates, nested at most [`MAX_DEPTH`] levels.
pub fn parse_tolerant(bytes: &[u8]) -> Result<(Value, Vec<Oddity>), JsonError> {
    let mut oddities = Vec::new();
    let repaired = repair_lone_surrogates(bytes);
    let bytes = match &repaired {
        Some((text, count)) => {
            oddities.push(Oddity {
                field: "(body)".into(),
                raw: format!("{count} escape(s)"),
                problem: "a lone UTF-16 surrogate escape was read as U+FFFD".into(),
            });
            text.as_slice()
        }
        None => bytes,
    };
    let value = match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => value,
        Err(strict) => {
            let depth = nesting_depth(bytes);
            if depth > MAX_DEPTH {
                return Err(JsonError::TooDeep { depth });
            }
            // Raw values skip numbers without converting them, so a body
            // that is JSON but for a number's range still reads this way.
            let raw: Box<RawValue> = serde_json::from_slice(bytes)
                .map_err(|_| JsonError::NotJson(strict.to_string()))?;
            read_raw(&raw, "", &mut oddities)
        }
    };
    if value.is_object() {
        oddities.extend(repeated_keys(bytes));
    }
    Ok((value, oddities))
}

/// Reads a raw value strictly where possible, and a number that does not
/// fit as its text.
fn read_raw(raw: &RawValue, path: &str, oddities: &mut Vec<Oddity>) -> Value {
    if let Ok(value) = serde_json::from_str::<Value>(raw.get()) {
        return value;
    }
    let text = raw.get().trim_start();
    let nested = |key: String| {
        if path.is_empty() {
            key
        } else {
            format!("{path}.{key}")
        }
    };
    if text.starts_with('{') {
        let mut object = Map::new();
        for (key, value) in entries(text).unwrap_or_default() {
            let value = read_raw(&value, &nested(key.clone()), oddities);
            object.insert(key, value);
        }
        Value::Object(object)
    } else if text.starts_with('[') {
        let items: Vec<Box<RawValue>> = serde_json::from_str(text).unwrap_or_default();
        Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(index, item)| read_raw(item, &format!("{path}[{index}]"), oddities))
                .collect(),
        )
    } else {
        oddities.push(Oddity {
            field: if path.is_empty() {
                "(body)".into()
            } else {
                path.to_owned()
            },
            raw: truncate(text),
            problem: "a number beyond 64-bit range; kept as text".into(),
        });
        Value::String(text.trim_end().to_owned())
    }
}

/// The entries of an object in order, each value raw.
fn entries(text: &str) -> Result<Vec<(String, Box<RawValue>)>, serde_json::Error> {
    struct Entries;
    impl<'de> Visitor<'de> for Entries {
        type Value = Vec<(String, Box<RawValue>)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut entries = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                entries.push((key, map.next_value::<Box<RawValue>>()?));
            }
            Ok(entries)
        }
    }
    serde_json::Deserializer::from_str(text).deserialize_map(Entries)
}

/// The deepest nesting of `[` and `{` outside strings, counted in one pass
/// without recursion; unbalanced or invalid text is counted all the same
/// (the parse that follows refuses it).
pub fn nesting_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut in_string = false;
    let mut escaped = false;
    for &byte in bytes {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Top-level keys given more than once: the last value is the one read.
fn repeated_keys(bytes: &[u8]) -> Vec<Oddity> {
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut seen = HashSet::new();
            let mut repeated = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                if !seen.insert(key.clone()) && !repeated.contains(&key) {
                    repeated.push(key);
                }
            }
            Ok(repeated)
        }
    }
    let keys = serde_json::Deserializer::from_slice(bytes)
        .deserialize_map(Keys)
        .unwrap_or_default();
    keys.into_iter()
        .map(|key| Oddity {
            field: key,
            raw: String::new(),
            problem: "the key is given more than once; the last value was read".into(),
        })
        .collect()
}

/// Replaces each `\uD800`–`\uDFFF` escape that is not half of a pair by
/// `\uFFFD`; `None` when there is none (the common case: no copy).
fn repair_lone_surrogates(bytes: &[u8]) -> Option<(Vec<u8>, usize)> {
    let escapes_a_surrogate =
        |w: &[u8]| w[0] == b'\\' && w[1] == b'u' && matches!(w[2], b'd' | b'D');
    if !bytes.windows(3).any(escapes_a_surrogate) {
        return None;
    }
    let surrogate_at = |at: usize| -> Option<u16> {
        let escape = bytes.get(at..at + 6)?;
        if escape[0] != b'\\' || escape[1] != b'u' {
            return None;
        }
        let unit = u16::from_str_radix(std::str::from_utf8(&escape[2..]).ok()?, 16).ok()?;
        (0xD800..=0xDFFF).contains(&unit).then_some(unit)
    };
    let mut out = Vec::with_capacity(bytes.len());
    let mut repaired = 0;
    let mut in_string = false;
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        if !in_string {
            in_string = byte == b'"';
            out.push(byte);
            at += 1;
            continue;
        }
        match byte {
            b'"' => {
                in_string = false;
                out.push(byte);
                at += 1;
            }
            b'\\' => match surrogate_at(at) {
                Some(0xD800..=0xDBFF) if surrogate_at(at + 6).is_some_and(|low| low >= 0xDC00) => {
                    out.extend_from_slice(&bytes[at..at + 12]);
                    at += 12;
                }
                Some(_) => {
                    out.extend_from_slice(b"\\uFFFD");
                    repaired += 1;
                    at += 6;
                }
                None => {
                    let end = (at + 2).min(bytes.len());
                    out.extend_from_slice(&bytes[at..end]);
                    at = end;
                }
            },
            _ => {
                out.push(byte);
                at += 1;
            }
        }
    }
    (repaired > 0).then_some((out, repaired))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(text: &str) -> (Value, Vec<Oddity>) {
        parse_tolerant(text.as_bytes()).unwrap()
    }

    #[test]
    fn ordinary_json_reads_with_no_oddity() {
        let (value, oddities) = read(r#"{"a": 1, "b": "\ud83d\ude00"}"#);
        assert_eq!(value, json!({"a": 1, "b": "😀"}));
        assert!(oddities.is_empty());
    }

    #[test]
    fn numbers_beyond_range_are_kept_as_text_wherever_they_are() {
        let big = "9".repeat(400);
        let (value, oddities) = read(&format!(
            r#"{{"conversation_id": 7, "x": 1e400, "list": [1, {big}], "deep": {{"y": -1E+999}}}}"#
        ));
        assert_eq!(value["conversation_id"], json!(7));
        assert_eq!(value["x"], json!("1e400"));
        assert_eq!(value["list"][1], json!(big));
        assert_eq!(value["deep"]["y"], json!("-1E+999"));
        let fields: Vec<&str> = oddities.iter().map(|o| o.field.as_str()).collect();
        assert_eq!(fields, ["x", "list[1]", "deep.y"]);
    }

    #[test]
    fn lone_surrogates_become_replacement_characters_and_pairs_stay() {
        let (value, oddities) =
            read(r#"{"a": "x\ud83d", "b": "\udc00y", "c": "\ud83d\ude00", "d": "\\ud83d"}"#);
        assert_eq!(value["a"], json!("x\u{FFFD}"));
        assert_eq!(value["b"], json!("\u{FFFD}y"));
        assert_eq!(value["c"], json!("😀"));
        assert_eq!(value["d"], json!("\\ud83d"));
        assert_eq!(oddities.len(), 1);
        assert_eq!(oddities[0].raw, "2 escape(s)");
    }

    #[test]
    fn a_repeated_key_is_reported_and_the_last_value_read() {
        let (value, oddities) = read(r#"{"conversation_id": 1, "conversation_id": 2}"#);
        assert_eq!(value["conversation_id"], json!(2));
        assert_eq!(oddities.len(), 1);
        assert_eq!(oddities[0].field, "conversation_id");
    }

    #[test]
    fn nesting_beyond_the_bound_is_refused_without_recursion() {
        for depth in [MAX_DEPTH + 1, 3_000, 200_000] {
            let body = format!(
                r#"{{"conversation_id":1,"x":{}{}}}"#,
                "[".repeat(depth - 1),
                "]".repeat(depth - 1)
            );
            assert_eq!(
                parse_tolerant(body.as_bytes()),
                Err(JsonError::TooDeep { depth })
            );
        }
        // A number beyond range sends the body down the tolerant path.
        let unclosed = format!(r#"{{"a":1e999,"x":{}"#, "[".repeat(50_000));
        assert!(matches!(
            parse_tolerant(unclosed.as_bytes()),
            Err(JsonError::TooDeep { .. })
        ));
        let deepest_read = format!(
            r#"{{"a":1e999,"x":{}{}}}"#,
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1)
        );
        assert!(parse_tolerant(deepest_read.as_bytes()).is_ok());
    }

    #[test]
    fn brackets_inside_strings_do_not_count_as_nesting() {
        assert_eq!(nesting_depth(br#"{"a":"[[[{{\"[","b":[1]}"#), 2);
    }

    #[test]
    fn what_is_not_json_is_still_refused() {
        assert!(parse_tolerant(b"{\"a\": }").is_err());
        assert!(parse_tolerant(b"hello").is_err());
    }
}
