//! The array- and object-valued fields of a push: their element types, how
//! each is read, and how an element becomes a stored row.
//!
//! Which collections exist is the [`table`](super::table)'s to say. Each
//! counts as one field for merging: a push either carries it (and its
//! elements replace the call's) or does not. Elements that cannot be read are
//! dropped with a warning; the raw push keeps them.

use serde_json::{Map, Value};

use super::fields::FieldValue;
use super::ids::UdeskId;
use super::warnings::Warnings;
use crate::wire::value::{first_present, is_absent, read_int, read_object_list, read_text};

pub(crate) use crate::wire::value::read_text_list;

/// `note_custom_fields[]`: a business-record field.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomField {
    /// The field's id, e.g. `TextField_286` or `SelectField_257`.
    pub id: String,
    /// The field's label.
    pub name: Option<String>,
    /// A string for text fields, a list for select, cascade and checkbox fields.
    pub value: Option<Value>,
}

/// `callout_tasks[]`: a manual outbound task containing the number.
#[derive(Clone, Debug, PartialEq)]
pub struct CalloutTask {
    pub id: UdeskId,
    pub name: Option<String>,
}

/// `ivr_record_urls[]`: a recording made in the IVR.
#[derive(Clone, Debug, PartialEq)]
pub struct IvrRecording {
    pub id: Option<UdeskId>,
    /// Where to fetch it (signed URLs expire).
    pub url: Option<String>,
}

/// One `name:value` pair of `ivr_variables`.
#[derive(Clone, Debug, PartialEq)]
pub struct IvrVariable {
    pub name: String,
    pub value: String,
}

/// One question → answer of `questionnaire_contents`.
#[derive(Clone, Debug, PartialEq)]
pub struct QuestionnaireAnswer {
    pub question: String,
    pub answer: Option<String>,
}

/// An element of a collection as a stored row: its columns in the order the
/// table names them, after `conversation_id` and `position`.
pub trait CollectionItem: Sized {
    fn to_columns(&self) -> Vec<Option<FieldValue>>;
    /// The element back from its row; a value of another kind reads as none.
    fn from_columns(columns: Vec<Option<FieldValue>>) -> Self;
}

fn text(value: Option<FieldValue>) -> Option<String> {
    match value {
        Some(FieldValue::Text(text)) => Some(text),
        _ => None,
    }
}

fn id(value: Option<FieldValue>) -> Option<UdeskId> {
    match value {
        Some(FieldValue::Int(id)) => Some(UdeskId(id)),
        _ => None,
    }
}

impl CollectionItem for String {
    fn to_columns(&self) -> Vec<Option<FieldValue>> {
        vec![Some(FieldValue::Text(self.clone()))]
    }
    fn from_columns(columns: Vec<Option<FieldValue>>) -> Self {
        text(columns.into_iter().next().flatten()).unwrap_or_default()
    }
}

impl CollectionItem for CustomField {
    fn to_columns(&self) -> Vec<Option<FieldValue>> {
        vec![
            Some(FieldValue::Text(self.id.clone())),
            self.name.clone().map(FieldValue::Text),
            self.value.as_ref().map(|v| FieldValue::Text(v.to_string())),
        ]
    }
    fn from_columns(columns: Vec<Option<FieldValue>>) -> Self {
        let mut columns = columns.into_iter();
        CustomField {
            id: text(columns.next().flatten()).unwrap_or_default(),
            name: text(columns.next().flatten()),
            value: text(columns.next().flatten()).and_then(|json| serde_json::from_str(&json).ok()),
        }
    }
}

impl CollectionItem for CalloutTask {
    fn to_columns(&self) -> Vec<Option<FieldValue>> {
        vec![
            Some(FieldValue::Int(self.id.0)),
            self.name.clone().map(FieldValue::Text),
        ]
    }
    fn from_columns(columns: Vec<Option<FieldValue>>) -> Self {
        let mut columns = columns.into_iter();
        CalloutTask {
            id: id(columns.next().flatten()).unwrap_or(UdeskId(0)),
            name: text(columns.next().flatten()),
        }
    }
}

impl CollectionItem for IvrRecording {
    fn to_columns(&self) -> Vec<Option<FieldValue>> {
        vec![
            self.id.map(|id| FieldValue::Int(id.0)),
            self.url.clone().map(FieldValue::Text),
        ]
    }
    fn from_columns(columns: Vec<Option<FieldValue>>) -> Self {
        let mut columns = columns.into_iter();
        IvrRecording {
            id: id(columns.next().flatten()),
            url: text(columns.next().flatten()),
        }
    }
}

impl CollectionItem for IvrVariable {
    fn to_columns(&self) -> Vec<Option<FieldValue>> {
        vec![
            Some(FieldValue::Text(self.name.clone())),
            Some(FieldValue::Text(self.value.clone())),
        ]
    }
    fn from_columns(columns: Vec<Option<FieldValue>>) -> Self {
        let mut columns = columns.into_iter();
        IvrVariable {
            name: text(columns.next().flatten()).unwrap_or_default(),
            value: text(columns.next().flatten()).unwrap_or_default(),
        }
    }
}

impl CollectionItem for QuestionnaireAnswer {
    fn to_columns(&self) -> Vec<Option<FieldValue>> {
        vec![
            Some(FieldValue::Text(self.question.clone())),
            self.answer.clone().map(FieldValue::Text),
        ]
    }
    fn from_columns(columns: Vec<Option<FieldValue>>) -> Self {
        let mut columns = columns.into_iter();
        QuestionnaireAnswer {
            question: text(columns.next().flatten()).unwrap_or_default(),
            answer: text(columns.next().flatten()),
        }
    }
}

/// Reads the first present spelling of a collection; an unreadable one is a
/// warning and no value, and an empty result is no value.
pub(crate) fn read_collection<T>(
    object: &Map<String, Value>,
    keys: &[&str],
    warnings: &mut Warnings,
    reader: impl Fn(&Value) -> Result<Vec<T>, String>,
) -> Option<Vec<T>> {
    let (key, value) = first_present(object, keys)?;
    match reader(value) {
        Ok(items) if items.is_empty() => None,
        Ok(items) => Some(items),
        Err(problem) => {
            warnings.add(key, value, problem);
            None
        }
    }
}

pub(crate) fn read_custom_fields(value: &Value) -> Result<Vec<CustomField>, String> {
    read_object_list(value)?
        .into_iter()
        .map(|item| {
            let id = item
                .get("id")
                .filter(|v| !is_absent(v))
                .ok_or("a custom field has no id")?;
            Ok(CustomField {
                id: read_text(id)?,
                name: optional(&item, "name", read_text),
                value: item.get("value").filter(|v| !v.is_null()).cloned(),
            })
        })
        .collect()
}

pub(crate) fn read_callout_tasks(value: &Value) -> Result<Vec<CalloutTask>, String> {
    read_object_list(value)?
        .into_iter()
        .map(|item| {
            let id = item.get("id").ok_or("a callout task has no id")?;
            Ok(CalloutTask {
                id: UdeskId(read_int(id)?),
                name: optional(&item, "name", read_text),
            })
        })
        .collect()
}

pub(crate) fn read_ivr_recordings(value: &Value) -> Result<Vec<IvrRecording>, String> {
    Ok(read_object_list(value)?
        .into_iter()
        .map(|item| IvrRecording {
            id: optional(&item, "id", read_int).map(UdeskId),
            url: optional(&item, "ivr_record_url", read_text)
                .or_else(|| optional(&item, "url", read_text)),
        })
        .collect())
}

/// `"aa:11,bb:22"`; an object `{"aa": "11"}` is read too.
pub(crate) fn read_ivr_variables(value: &Value) -> Result<Vec<IvrVariable>, String> {
    match value {
        Value::Object(fields) => Ok(fields
            .iter()
            .map(|(name, value)| IvrVariable {
                name: name.clone(),
                value: read_text(value).unwrap_or_else(|_| value.to_string()),
            })
            .collect()),
        Value::String(text) => Ok(text
            .split(',')
            .filter(|pair| !pair.trim().is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once(':').unwrap_or((pair, ""));
                IvrVariable {
                    name: name.trim().to_owned(),
                    value: value.trim().to_owned(),
                }
            })
            .collect()),
        other => Err(format!(
            "expected \"name:value,…\", got {}",
            crate::wire::value::kind_of(other)
        )),
    }
}

pub(crate) fn read_questionnaire_answers(
    value: &Value,
) -> Result<Vec<QuestionnaireAnswer>, String> {
    let object = match value {
        Value::Object(fields) => fields.clone(),
        Value::String(text) => match crate::wire::value::embedded_json(text) {
            Some(Value::Object(fields)) => fields,
            _ => return Err("expected an object of question → answer".into()),
        },
        other => {
            return Err(format!(
                "expected an object of question → answer, got {}",
                crate::wire::value::kind_of(other)
            ));
        }
    };
    Ok(object
        .into_iter()
        .map(|(question, answer)| QuestionnaireAnswer {
            question,
            answer: match answer {
                Value::Null => None,
                other => Some(read_text(&other).unwrap_or_else(|_| other.to_string())),
            },
        })
        .collect())
}

fn optional<T>(
    item: &Map<String, Value>,
    key: &str,
    reader: impl Fn(&Value) -> Result<T, String>,
) -> Option<T> {
    item.get(key)
        .filter(|v| !is_absent(v))
        .and_then(|v| reader(v).ok())
}
