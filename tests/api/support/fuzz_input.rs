//! What a fuzzer chooses, made into request bodies.
//!
//! A [`FuzzPush`] starts from a recorded push (or from raw bytes), edits its
//! JSON with the odd values Udesk and hostile senders send (numbers beyond
//! any float, lone surrogates, duplicate keys, wrongly typed fields, times
//! in every format and none), then edits the bytes, and says how the body
//! travels (Content-Type, form fields, Content-Encoding). Every choice is a
//! type bolero generates: from random bytes under `cargo test`, from
//! libFuzzer's coverage-guided ones under `scripts/fuzz.sh --libfuzzer`. Starting from
//! real pushes keeps most inputs deep in the parser instead of failing at
//! the first byte.

use std::io::Write;

use bolero::generator::TypeGenerator;
use bolero::generator::produce;
use flate2::Compression;
use flate2::write::{GzEncoder, ZlibEncoder};
use serde_json::{Map, Value};

use edited_json::EditedJson;

mod edited_json;

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

/// One push as a fuzzer composes it. Most choices keep the body a push
/// (one in eight starts from raw bytes, one in four has its bytes edited,
/// one in three is cut-short gzip or of an unknown encoding), so that most
/// inputs reach the merge and the store.
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
    /// One of `edited_json::RAW_VALUES`.
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
        if self.mangle.is_multiple_of(4) {
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

/// The event a stored push becomes, as `reprocess` and every later merge
/// read it back: its columns, not the parsed push in hand.
pub fn as_stored(
    accepted: &udesk_calls::domain::AcceptedPush,
) -> udesk_calls::storage::events::CallEvent {
    udesk_calls::storage::events::CallEvent {
        event_id: 1,
        conversation_id: accepted.push.conversation_id,
        occasion: accepted.push.occasion.clone().unwrap_or_default(),
        timestamp: accepted.push.timestamp,
        received_at: accepted.raw.received_at,
        deliveries: 1,
        format: accepted.format,
        body: accepted.raw.body.clone(),
        form_payload: accepted.form_payload.clone(),
    }
}
