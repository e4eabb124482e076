//! The JSON edits of a fuzz input: a push's object, edited, written back as
//! JSON text or form fields, with values no `serde_json::Value` can hold
//! (numbers beyond any float, lone surrogates, nesting past a parser's
//! limit) spliced into the text.

use serde_json::{Map, Value};

use super::{Edit, Key, Odd};

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

/// A push's object under edit. Values JSON cannot hold in a `Value` stand
/// in as placeholder strings until the text is written.
pub struct EditedJson {
    object: Map<String, Value>,
    raw: Vec<String>,
    /// Entries written again after the object's own (duplicate keys).
    again: Vec<(String, Value)>,
}

impl EditedJson {
    pub fn new(object: Map<String, Value>) -> EditedJson {
        EditedJson {
            object,
            raw: Vec::new(),
            again: Vec::new(),
        }
    }

    pub fn apply(&mut self, edit: &Edit) {
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
    pub fn render(self, as_form: bool) -> Vec<u8> {
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
