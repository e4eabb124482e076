//! Tolerant readers for the values of a push.
//!
//! Udesk's declared types are not kept: numbers arrive as strings, strings as
//! numbers, booleans as `"true"`, and `null`, `""` and `[]` all mean "no
//! value". Each reader takes a JSON value that is present (see [`is_absent`])
//! and either converts it or says, in words an operator understands, why not.

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use super::time::{from_unix, parse_time};

/// Why a present value could not be read as the field's type.
pub type Problem = String;

/// `null`, an empty or blank string, an empty array or object: no value.
pub fn is_absent(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.trim().is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

/// The first of `keys` (a field's spellings) whose value is present.
pub fn first_present<'a, 'k>(
    object: &'a serde_json::Map<String, Value>,
    keys: &[&'k str],
) -> Option<(&'k str, &'a Value)> {
    keys.iter().find_map(|key| {
        object
            .get(*key)
            .filter(|value| !is_absent(value))
            .map(|value| (*key, value))
    })
}

/// Text as given; numbers and booleans become their JSON spelling.
pub fn read_text(value: &Value) -> Result<String, Problem> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        Value::Bool(flag) => Ok(flag.to_string()),
        other => Err(format!("expected text, got {}", kind_of(other))),
    }
}

/// A 64-bit integer from a number or a string of digits; an integral float
/// (`81.0`) is accepted, a fractional one is not.
pub fn read_int(value: &Value) -> Result<i64, Problem> {
    match value {
        Value::Number(number) => number_to_int(number),
        Value::String(text) => {
            let text = text.trim();
            if let Ok(int) = text.parse::<i64>() {
                return Ok(int);
            }
            match text.parse::<serde_json::Number>() {
                Ok(number) => number_to_int(&number),
                Err(_) => Err(format!("expected an integer, got {:?}", truncate(text))),
            }
        }
        other => Err(format!("expected an integer, got {}", kind_of(other))),
    }
}

fn number_to_int(number: &serde_json::Number) -> Result<i64, Problem> {
    if let Some(int) = number.as_i64() {
        return Ok(int);
    }
    if number.is_u64() {
        return Err(format!("integer {number} does not fit in 64 bits"));
    }
    match number.as_f64() {
        Some(float) if float.fract() == 0.0 && float.abs() < 9.0e15 => Ok(float as i64),
        _ => Err(format!("expected an integer, got {number}")),
    }
}

/// A boolean from `true`/`false`, their strings in any case, or 0/1.
pub fn read_bool(value: &Value) -> Result<bool, Problem> {
    match value {
        Value::Bool(flag) => Ok(*flag),
        Value::Number(number) => match number.as_i64() {
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            _ => Err(format!("expected a boolean, got {number}")),
        },
        Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(format!("expected a boolean, got {:?}", truncate(text))),
        },
        other => Err(format!("expected a boolean, got {}", kind_of(other))),
    }
}

/// A time in any of Udesk's formats, or Unix seconds/milliseconds.
pub fn read_time(value: &Value, offset: FixedOffset) -> Result<DateTime<FixedOffset>, Problem> {
    let parsed = match value {
        Value::String(text) => parse_time(text, offset),
        Value::Number(number) => number.as_i64().and_then(|n| from_unix(n, offset)),
        other => return Err(format!("expected a time, got {}", kind_of(other))),
    };
    parsed.ok_or_else(|| format!("not a time Udesk writes: {}", truncate(&value.to_string())))
}

/// A list of texts: a JSON array, a string holding a JSON array (as form
/// bodies carry it), or a comma-separated string.
pub fn read_text_list(value: &Value) -> Result<Vec<String>, Problem> {
    match value {
        Value::Array(items) => items
            .iter()
            .filter(|item| !is_absent(item))
            .map(read_text)
            .collect(),
        Value::String(text) => match embedded_json(text) {
            Some(inner @ Value::Array(_)) => read_text_list(&inner),
            _ => Ok(text
                .split(',')
                .map(str::trim)
                .filter(|part| !part.is_empty())
                .map(str::to_owned)
                .collect()),
        },
        Value::Number(number) => Ok(vec![number.to_string()]),
        other => Err(format!("expected a list, got {}", kind_of(other))),
    }
}

/// A list of objects: a JSON array of them, or a string holding one.
pub fn read_object_list(value: &Value) -> Result<Vec<serde_json::Map<String, Value>>, Problem> {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Object(fields) => Ok(fields.clone()),
                other => Err(format!(
                    "expected a list of objects, found {}",
                    kind_of(other)
                )),
            })
            .collect(),
        Value::Object(fields) => Ok(vec![fields.clone()]),
        Value::String(text) => match embedded_json(text) {
            Some(inner @ (Value::Array(_) | Value::Object(_))) => read_object_list(&inner),
            _ => Err(format!(
                "expected a list of objects, got {:?}",
                truncate(text)
            )),
        },
        other => Err(format!(
            "expected a list of objects, got {}",
            kind_of(other)
        )),
    }
}

/// JSON carried inside a string, as form-encoded bodies must carry it.
pub fn embedded_json(text: &str) -> Option<Value> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        serde_json::from_str(trimmed).ok()
    } else {
        None
    }
}

pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `text` cut to 80 characters, for quoting a value in a message.
pub(crate) fn truncate(text: &str) -> String {
    const LIMIT: usize = 80;
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn null_blank_and_empty_collections_are_absent() {
        for value in [json!(null), json!(""), json!("  "), json!([]), json!({})] {
            assert!(is_absent(&value), "{value}");
        }
        for value in [json!(0), json!(false), json!("0"), json!(["x"])] {
            assert!(!is_absent(&value), "{value}");
        }
    }

    #[test]
    fn integers_arrive_as_numbers_strings_and_integral_floats() {
        assert_eq!(read_int(&json!(54093)), Ok(54093));
        assert_eq!(read_int(&json!("13")), Ok(13));
        assert_eq!(
            read_int(&json!(" 9007199254740993 ")),
            Ok(9_007_199_254_740_993)
        );
        assert_eq!(read_int(&json!(81.0)), Ok(81));
        assert!(read_int(&json!("abc")).is_err());
        assert!(read_int(&json!(81.5)).is_err());
        assert!(read_int(&json!(u64::MAX)).is_err());
        assert!(read_int(&json!(true)).is_err());
    }

    #[test]
    fn booleans_arrive_as_booleans_strings_and_bits() {
        assert_eq!(read_bool(&json!(true)), Ok(true));
        assert_eq!(read_bool(&json!("false")), Ok(false));
        assert_eq!(read_bool(&json!("TRUE")), Ok(true));
        assert_eq!(read_bool(&json!(0)), Ok(false));
        assert!(read_bool(&json!("yes please")).is_err());
    }

    #[test]
    fn text_keeps_leading_zeros_and_spells_out_numbers() {
        assert_eq!(read_text(&json!("0211234567")), Ok("0211234567".into()));
        assert_eq!(read_text(&json!(1388888888)), Ok("1388888888".into()));
        assert!(read_text(&json!({"a": 1})).is_err());
    }

    #[test]
    fn lists_arrive_as_arrays_embedded_json_or_commas() {
        assert_eq!(
            read_text_list(&json!(["#12", "#13"])),
            Ok(vec!["#12".into(), "#13".into()])
        );
        assert_eq!(read_text_list(&json!("[\"#12\"]")), Ok(vec!["#12".into()]));
        assert_eq!(
            read_text_list(&json!("a, b")),
            Ok(vec!["a".into(), "b".into()])
        );
        assert!(read_object_list(&json!([1, 2])).is_err());
        assert_eq!(read_object_list(&json!("[{\"id\":1}]")).unwrap().len(), 1);
    }
}
