//! What a fuzzer chooses, made into request bodies.
//!
//! A [`FuzzPush`] starts from a recorded push (or from raw bytes), edits its
//! JSON with the odd values Udesk and hostile senders send (numbers beyond
//! any float, lone surrogates, duplicate keys, wrongly typed fields, times
//! in every format and none), then edits the bytes, and says how the body
//! travels (Content-Type, form fields, Content-Encoding). Every choice is a
//! type bolero generates: from random bytes under `cargo test`, from
//! libFuzzer's coverage-guided ones under `cargo bolero test`. Starting from
//! real pushes keeps most inputs deep in the parser instead of failing at
//! the first byte.

use std::io::Write;

use bolero::generator::TypeGenerator;
use bolero::generator::produce;
use flate2::Compression;
use flate2::write::{GzEncoder, ZlibEncoder};
use serde_json::{Map, Value};

/// The recorded pushes every structured input starts from
/// (`examples/seed-end.json` is the vendor sample's very bytes).
pub const SEEDS: &[&str] = &[
    include_str!("../../payloads/inbound-call/0-stale-retry.json"),
    include_str!("../../payloads/inbound-call/1-enqueue_succ.json"),
    include_str!("../../payloads/inbound-call/2-agent_incall.json"),
    include_str!("../../payloads/inbound-call/3-hangup.json"),
    include_str!("../../payloads/inbound-call/4-end.json"),
    include_str!("../../payloads/inbound-call/5-end_info.json"),
    include_str!("../../payloads/vendor-sample-end.json"),
];

/// Keys an edit aims at: every kind of field and collection, their other
/// spellings, and the keys that make a push (id, occasion, time).
const KEYS: &[&str] = &[
    "conversation_id",
    "occasion",
    "timestamp",
    "call_id",
    "agent_id",
    "total_time",
    "queue_statue",
    "queue_status",
    "is_leave_message",
    "customer_ring_at",
    "call_start_at",
    "customer_phone",
    "record_url",
    "customer_token",
    "call_result",
    "survey",
    "note_custom_fields",
    "ticket_numbers",
    "callout_tasks",
    "relevant_agent",
    "relevent_agent",
    "agent_tags",
    "ivr_record_urls",
    "ivr_variables",
    "questionnaire_contents",
    "weixin_openids",
];

/// Values written into the JSON text as they are: what `serde_json::Value`
/// cannot hold, and shapes each reader must survive.
const RAW_VALUES: &[&str] = &[
    "1e400",
    "-1e400",
    "1e-400",
    "18446744073709551616",
    "-9223372036854775809",
    "9007199254740993",
    "-0",
    "0.5",
    r#""\ud83d""#,
    r#""\udc00 tail""#,
    r#""\u0000""#,
    r#""2019-07-24T15:23:14.000+08:00""#,
    r#""2019-07-24 15:23:17 +0800""#,
    r#""2022-03-03 14:27:10""#,
    r#""2019-02-30 25:61:61""#,
    r#""9999-12-31 23:59:59 +2359""#,
    r#""0000-01-01 00:00:00""#,
    r#""-262144-01-01 00:00:00""#,
    r#""true""#,
    r#""null""#,
    r#""""#,
    r#"" ""#,
    r#""12345678901234567890""#,
    r#""0x10""#,
    r#""１２３""#,
    "[]",
    "{}",
    "[[]]",
    "[null, 1, \"a\", {}]",
    r#"[{"id": 1, "name": null, "value": {"a": [1e400]}}]"#,
    r#"[{"id": "x", "ivr_record_url": 5}]"#,
    r#""aa:11,bb:22""#,
    r#""a:,:b,,::,""#,
    r#"{"q": "a", "q": "b"}"#,
    r#"{"问题": ["答案"]}"#,
];

/// One push as a fuzzer composes it. Most choices keep the body a push
/// (one in eight starts from raw bytes, one in four has its bytes edited,
/// one in two travels compressed or oddly encoded), so that most inputs
/// reach the merge and the store.
#[derive(Clone, Debug, TypeGenerator)]
pub struct FuzzPush {
    /// One of [`SEEDS`], by index, or (one value in eight) `raw`.
    pub start: u8,
    /// The body when `start` picks raw bytes; JSON edits do not apply.
    #[generator(produce::<Vec<u8>>().with().len(0usize..256))]
    pub raw: Vec<u8>,
    #[generator(produce::<Vec<Edit>>().with().len(0usize..8))]
    pub edits: Vec<Edit>,
    /// Applied when `mangle` is a multiple of four.
    pub byte_edit: ByteEdit,
    pub mangle: u8,
    pub transport: Transport,
    pub encoding: Encoding,
}

#[derive(Clone, Debug, TypeGenerator)]
pub enum Edit {
    Set {
        key: Key,
        value: Odd,
    },
    Remove(Key),
    /// The key once more, after the others, with another value.
    Duplicate {
        key: Key,
        value: Odd,
    },
    /// One of a few call ids, so several pushes meet in one call.
    Call(u8),
    Occasion(u8),
    /// A time within an hour, in one of Udesk's formats (or none).
    Timestamp {
        seconds: u16,
        format: u8,
    },
}

#[derive(Clone, Copy, Debug, TypeGenerator)]
pub enum Key {
    Known(u8),
    Unknown(u8),
}

#[derive(Clone, Debug, TypeGenerator)]
pub enum Odd {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(#[generator(produce::<String>().with().len(0usize..40))] String),
    /// One of [`RAW_VALUES`].
    Raw(u8),
    /// An array nested this deep (past serde_json's recursion limit too).
    Nested(u8),
}

#[derive(Clone, Debug, TypeGenerator)]
pub enum ByteEdit {
    Truncate(u16),
    Flip { at: u16, mask: u8 },
    Insert { at: u16, token: u8 },
}

/// How the body travels: its Content-Type and its shape.
#[derive(Clone, Copy, Debug, TypeGenerator)]
pub enum Transport {
    NoContentType,
    Json,
    TextPlain,
    /// JSON text under a form Content-Type (read as JSON).
    JsonAsForm,
    /// `key=value` fields, values as text or JSON text.
    FormFields,
}

#[derive(Clone, Copy, Debug, TypeGenerator)]
pub enum Encoding {
    Identity,
    /// No Content-Encoding header either, as most senders send.
    Plain,
    Gzip,
    Deflate,
    /// Gzip with its stream cut short.
    TruncatedGzip,
    /// An encoding the service does not read (`br`).
    Unsupported,
}

/// A body as sent: bytes on the wire and the two headers that say how to
/// read them.
#[derive(Clone, Debug)]
pub struct RenderedPush {
    pub body: Vec<u8>,
    pub content_type: Option<&'static str>,
    pub content_encoding: Option<&'static str>,
}

/// Byte strings a byte edit inserts.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"\"",
    b",",
    b"\\",
    b"\xEF\xBB\xBF",
    b"\xFF\xFE",
    b"\0",
    b"1e400",
    b"\"\\ud83d\"",
    b",\"conversation_id\":7",
    b"&conversation_id=8",
    b"=",
    b"%",
];

impl FuzzPush {
    pub fn render(&self) -> RenderedPush {
        let mut text = match self.start as usize % 8 {
            7 => self.raw.clone(),
            index => {
                let seed = SEEDS[index % SEEDS.len()];
                let object: Map<String, Value> = serde_json::from_str(seed).expect("a seed push");
                let mut json = EditedJson::new(object);
                for edit in &self.edits {
                    json.apply(edit);
                }
                json.render(matches!(self.transport, Transport::FormFields))
            }
        };
        if self.mangle % 4 == 0 {
            self.byte_edit.apply(&mut text);
        }
        let content_type = match self.transport {
            Transport::NoContentType => None,
            Transport::Json => Some("application/json"),
            Transport::TextPlain => Some("text/plain; charset=utf-8"),
            Transport::JsonAsForm | Transport::FormFields => {
                Some("application/x-www-form-urlencoded")
            }
        };
        let (body, content_encoding) = match self.encoding {
            Encoding::Identity => (text, Some("identity")),
            Encoding::Plain => (text, None),
            Encoding::Gzip => (gzip(&text), Some("gzip")),
            Encoding::Deflate => (deflate(&text), Some("deflate")),
            Encoding::TruncatedGzip => {
                let mut body = gzip(&text);
                body.truncate(body.len() / 2);
                (body, Some("gzip"))
            }
            Encoding::Unsupported => (text, Some("br")),
        };
        RenderedPush {
            body,
            content_type,
            content_encoding,
        }
    }
}

impl ByteEdit {
    fn apply(&self, text: &mut Vec<u8>) {
        let at = |position: u16| position as usize % (text.len() + 1);
        match *self {
            ByteEdit::Truncate(position) => text.truncate(at(position)),
            ByteEdit::Flip { at: position, mask } if !text.is_empty() => {
                let index = position as usize % text.len();
                text[index] ^= mask;
            }
            ByteEdit::Flip { .. } => {}
            ByteEdit::Insert {
                at: position,
                token,
            } => {
                let index = at(position);
                let token = TOKENS[token as usize % TOKENS.len()];
                text.splice(index..index, token.iter().copied());
            }
        }
    }
}

/// A push's object under edit. Values JSON cannot hold in a `Value` stand
/// in as placeholder strings until the text is written.
struct EditedJson {
    object: Map<String, Value>,
    raw: Vec<String>,
    /// Entries written again after the object's own (duplicate keys).
    again: Vec<(String, Value)>,
}

impl EditedJson {
    fn new(object: Map<String, Value>) -> EditedJson {
        EditedJson {
            object,
            raw: Vec::new(),
            again: Vec::new(),
        }
    }

    fn apply(&mut self, edit: &Edit) {
        match edit {
            Edit::Set { key, value } => {
                let value = self.value(value);
                self.object.insert(key_name(*key), value);
            }
            Edit::Remove(key) => {
                self.object.remove(&key_name(*key));
            }
            Edit::Duplicate { key, value } => {
                let value = self.value(value);
                self.again.push((key_name(*key), value));
            }
            Edit::Call(choice) => {
                let id = match choice % 6 {
                    0..=2 => Value::from(900 + i64::from(choice % 3)),
                    3 => Value::from("901"),
                    4 => Value::from(u64::MAX),
                    _ => Value::from(-3),
                };
                self.object.insert("conversation_id".into(), id);
            }
            Edit::Occasion(choice) => {
                const OCCASIONS: &[&str] = &[
                    "end",
                    "hangup",
                    "agent_incall",
                    "end_info",
                    " end ",
                    "END",
                    "",
                ];
                let occasion = OCCASIONS[*choice as usize % OCCASIONS.len()];
                self.object.insert("occasion".into(), occasion.into());
            }
            Edit::Timestamp { seconds, format } => {
                let seconds = seconds % 3600;
                let (minute, second) = (seconds / 60, seconds % 60);
                let time = match format % 4 {
                    0 => format!("2024-05-06 10:{minute:02}:{second:02} +0800"),
                    1 => format!("2024-05-06T10:{minute:02}:{second:02}.000+08:00"),
                    2 => format!("2024-05-06 10:{minute:02}:{second:02}"),
                    _ => format!("2024-05-06 10:{minute:02}:{second:02} +0000"),
                };
                self.object.insert("timestamp".into(), time.into());
            }
        }
    }

    fn value(&mut self, odd: &Odd) -> Value {
        match odd {
            Odd::Null => Value::Null,
            Odd::Bool(value) => Value::Bool(*value),
            Odd::Int(value) => Value::from(*value),
            // NaN and the infinities have no JSON form: they become null.
            Odd::Float(value) => Value::from(*value),
            Odd::Text(text) => Value::String(text.clone()),
            Odd::Raw(index) => self.raw_value(RAW_VALUES[*index as usize % RAW_VALUES.len()]),
            Odd::Nested(depth) => {
                let depth = *depth as usize;
                self.raw_value(&format!("{}1{}", "[".repeat(depth), "]".repeat(depth)))
            }
        }
    }

    fn raw_value(&mut self, text: &str) -> Value {
        self.raw.push(text.to_owned());
        Value::String(placeholder(self.raw.len() - 1))
    }

    /// The object as JSON text, or as form fields.
    fn render(self, as_form: bool) -> Vec<u8> {
        let entries = self.object.into_iter().chain(self.again);
        if as_form {
            let fields: Vec<(String, String)> = entries
                .map(|(key, value)| {
                    let text = match value {
                        Value::String(text) => text,
                        other => other.to_string(),
                    };
                    (key, substitute(&text, &self.raw, false))
                })
                .collect();
            return serde_urlencoded::to_string(fields)
                .expect("text fields encode")
                .into_bytes();
        }
        let members: Vec<String> = entries
            .map(|(key, value)| format!("{}:{}", Value::String(key), value))
            .collect();
        substitute(&format!("{{{}}}", members.join(",")), &self.raw, true).into_bytes()
    }
}

fn key_name(key: Key) -> String {
    match key {
        Key::Known(index) => KEYS[index as usize % KEYS.len()].to_owned(),
        Key::Unknown(index) => format!("x_unknown_{}", index % 4),
    }
}

/// A string no push contains: NUL characters around the raw value's index.
fn placeholder(index: usize) -> String {
    format!("\0raw{index}\0")
}

/// Puts the raw values in place of their placeholders: in JSON text the
/// placeholder is a quoted, escaped string; in a form field, the bare text.
fn substitute(text: &str, raw: &[String], in_json: bool) -> String {
    let mut text = text.to_owned();
    for (index, value) in raw.iter().enumerate() {
        let stand_in = if in_json {
            Value::String(placeholder(index)).to_string()
        } else {
            placeholder(index)
        };
        text = text.replace(&stand_in, value);
    }
    text
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}
