//! From the bytes of a request body to a JSON object.
//!
//! Udesk posts JSON, but not always with a JSON Content-Type, so the body is
//! read as JSON whatever the header says. Only a body declared
//! `application/x-www-form-urlencoded` that does not look like JSON is read as
//! form fields; a field holding JSON (an array, say) is unpacked, and a
//! repeated field becomes an array.

use serde_json::{Map, Value};

use super::json::{JsonError, MAX_DEPTH, Oddity, parse_tolerant};
use super::value::embedded_json;

/// How the body was encoded on the wire; kept with the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Form,
}

impl BodyFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            BodyFormat::Json => "json",
            BodyFormat::Form => "form",
        }
    }
}

/// A body that is not one push, in words for the sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the body is empty; expected one JSON object")]
    Empty,
    #[error("the body is not valid JSON: {0}")]
    NotJson(String),
    #[error(
        "the body nests arrays and objects {depth} levels deep; at most {MAX_DEPTH} are read (a Udesk push nests three)"
    )]
    TooDeep { depth: usize },
    #[error("the body is JSON {0}, not an object; expected one push as a JSON object")]
    NotAnObject(&'static str),
    #[error("the form-encoded body cannot be read: {0}")]
    BadForm(String),
    /// Its `Content-Encoding` could not be undone.
    #[error(transparent)]
    Compressed(#[from] super::encoding::DecompressError),
}

/// A body read as one push object.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    pub format: BodyFormat,
    pub object: Map<String, Value>,
    /// What was read tolerantly (see [`super::json`]).
    pub oddities: Vec<Oddity>,
}

/// Reads a body as one push object.
pub fn decode_body(bytes: &[u8], content_type: Option<&str>) -> Result<Decoded, BodyError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    let Some(first) = first else {
        return Err(BodyError::Empty);
    };
    // A "form" without a single `key=value` is no form (curl labels any
    // `--data` as form-encoded); it is then judged as the JSON it is not.
    if is_form(content_type) && !matches!(first, b'{' | b'[') && bytes.contains(&b'=') {
        return decode_form(bytes).map(|object| Decoded {
            format: BodyFormat::Form,
            object,
            oddities: Vec::new(),
        });
    }
    match parse_tolerant(bytes) {
        Ok((Value::Object(object), oddities)) => Ok(Decoded {
            format: BodyFormat::Json,
            object,
            oddities,
        }),
        Ok((other, _)) => Err(BodyError::NotAnObject(super::value::kind_of(&other))),
        Err(JsonError::NotJson(error)) => Err(BodyError::NotJson(error)),
        Err(JsonError::TooDeep { depth }) => Err(BodyError::TooDeep { depth }),
    }
}

fn is_form(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|value| {
        value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}

fn decode_form(bytes: &[u8]) -> Result<Map<String, Value>, BodyError> {
    // Kept, a body must come back byte for byte as text (`CallEvent.body`);
    // Udesk sends UTF-8, and a JSON body in any other encoding is refused too.
    if let Err(error) = std::str::from_utf8(bytes) {
        return Err(BodyError::BadForm(format!(
            "its bytes are not UTF-8 (from byte {}); Udesk sends UTF-8",
            error.valid_up_to()
        )));
    }
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(bytes).map_err(|e| BodyError::BadForm(e.to_string()))?;
    let mut object = Map::new();
    for (key, text) in pairs {
        let key = key.strip_suffix("[]").unwrap_or(&key).to_owned();
        let value = embedded_json(&text).unwrap_or(Value::String(text));
        match object.get_mut(&key) {
            None => {
                object.insert(key, value);
            }
            Some(Value::Array(items)) if !value.is_array() => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
        }
    }
    if object.is_empty() {
        return Err(BodyError::BadForm("no fields".into()));
    }
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded; charset=utf-8");

    #[test]
    fn json_is_read_whatever_the_content_type() {
        for content_type in [None, Some("text/plain"), Some("application/json"), FORM] {
            let decoded = decode_body(br#"{"conversation_id":1}"#, content_type).unwrap();
            assert_eq!(decoded.format, BodyFormat::Json);
            assert_eq!(decoded.object["conversation_id"], json!(1));
        }
    }

    #[test]
    fn a_form_body_in_another_encoding_than_utf8_is_refused() {
        // "测试" in GBK, as raw bytes; percent-encoded, the body is ASCII.
        let error = decode_body(b"conversation_id=1&agent_nick_name=\xb2\xe2\xca\xd4", FORM);
        assert!(
            matches!(&error, Err(BodyError::BadForm(why)) if why.contains("not UTF-8")),
            "{error:?}"
        );
        assert!(decode_body(b"conversation_id=1&agent_nick_name=%B2%E2", FORM).is_ok());
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        assert!(decode_body(b"\xEF\xBB\xBF{\"a\":1}", None).is_ok());
    }

    #[test]
    fn form_fields_are_read_with_embedded_json_and_repeats() {
        let body = b"conversation_id=7&occasion=end&ticket_numbers=%5B%22%2312%22%5D&relevant_agent=a&relevant_agent=b";
        let Decoded { format, object, .. } = decode_body(body, FORM).unwrap();
        assert_eq!(format, BodyFormat::Form);
        assert_eq!(object["conversation_id"], json!("7"));
        assert_eq!(object["ticket_numbers"], json!(["#12"]));
        assert_eq!(object["relevant_agent"], json!(["a", "b"]));
    }

    #[test]
    fn what_is_not_one_object_is_refused_with_a_reason() {
        assert_eq!(decode_body(b"  ", None), Err(BodyError::Empty));
        assert!(matches!(
            decode_body(b"hello", None),
            Err(BodyError::NotJson(_))
        ));
        assert_eq!(
            decode_body(b"[1]", None),
            Err(BodyError::NotAnObject("an array"))
        );
        assert!(matches!(
            decode_body(b"{\"a\":", FORM),
            Err(BodyError::NotJson(_))
        ));
        assert!(matches!(
            decode_body(b"nope", FORM),
            Err(BodyError::NotJson(_))
        ));
    }
}
