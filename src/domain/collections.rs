//! The array- and object-valued fields of a push.
//!
//! Each collection is one field for merging: a push either carries it (and
//! its elements replace the call's) or does not. Elements that cannot be read
//! are dropped with a warning; the raw push keeps them.

use serde_json::{Map, Value};

use crate::wire::value::{is_absent, read_int, read_object_list, read_text, read_text_list};

use super::push::Warnings;

/// `note_custom_fields[]`: a business-record field.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomField {
    pub id: String,
    pub name: Option<String>,
    /// A string for text fields, an array for select / cascade / checkbox.
    pub value: Option<Value>,
}

/// `callout_tasks[]`: a manual outbound task containing the number.
#[derive(Clone, Debug, PartialEq)]
pub struct CalloutTask {
    pub id: i64,
    pub name: Option<String>,
}

/// `ivr_record_urls[]`.
#[derive(Clone, Debug, PartialEq)]
pub struct IvrRecording {
    pub id: Option<i64>,
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

/// The collections a push carries; `None` where it carries no value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Collections {
    pub custom_fields: Option<Vec<CustomField>>,
    pub ticket_numbers: Option<Vec<String>>,
    pub callout_tasks: Option<Vec<CalloutTask>>,
    pub relevant_agents: Option<Vec<String>>,
    pub agent_tags: Option<Vec<String>>,
    pub ivr_recordings: Option<Vec<IvrRecording>>,
    pub ivr_variables: Option<Vec<IvrVariable>>,
    pub questionnaire_answers: Option<Vec<QuestionnaireAnswer>>,
    pub weixin_openids: Option<Vec<String>>,
}

impl Collections {
    pub fn read(object: &Map<String, Value>, warnings: &mut Warnings) -> Self {
        Collections {
            custom_fields: read(object, &["note_custom_fields"], warnings, custom_fields),
            ticket_numbers: read(object, &["ticket_numbers"], warnings, read_text_list),
            callout_tasks: read(object, &["callout_tasks"], warnings, callout_tasks),
            relevant_agents: read(
                object,
                &["relevant_agent", "relevent_agent"],
                warnings,
                read_text_list,
            ),
            agent_tags: read(object, &["agent_tags"], warnings, read_text_list),
            ivr_recordings: read(object, &["ivr_record_urls"], warnings, ivr_recordings),
            ivr_variables: read(object, &["ivr_variables"], warnings, ivr_variables),
            questionnaire_answers: read(
                object,
                &["questionnaire_contents"],
                warnings,
                questionnaire_answers,
            ),
            weixin_openids: read(object, &["weixin_openids"], warnings, read_text_list),
        }
    }
}

/// Reads the first present spelling of a collection; an unreadable one is a
/// warning and no value, and an empty result is no value.
fn read<T>(
    object: &Map<String, Value>,
    keys: &[&str],
    warnings: &mut Warnings,
    reader: impl Fn(&Value) -> Result<Vec<T>, String>,
) -> Option<Vec<T>> {
    let (key, value) = keys.iter().find_map(|key| {
        object
            .get(*key)
            .filter(|v| !is_absent(v))
            .map(|v| (*key, v))
    })?;
    match reader(value) {
        Ok(items) if items.is_empty() => None,
        Ok(items) => Some(items),
        Err(problem) => {
            warnings.add(key, value, problem);
            None
        }
    }
}

fn custom_fields(value: &Value) -> Result<Vec<CustomField>, String> {
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

fn callout_tasks(value: &Value) -> Result<Vec<CalloutTask>, String> {
    read_object_list(value)?
        .into_iter()
        .map(|item| {
            let id = item.get("id").ok_or("a callout task has no id")?;
            Ok(CalloutTask {
                id: read_int(id)?,
                name: optional(&item, "name", read_text),
            })
        })
        .collect()
}

fn ivr_recordings(value: &Value) -> Result<Vec<IvrRecording>, String> {
    Ok(read_object_list(value)?
        .into_iter()
        .map(|item| IvrRecording {
            id: optional(&item, "id", read_int),
            url: optional(&item, "ivr_record_url", read_text)
                .or_else(|| optional(&item, "url", read_text)),
        })
        .collect())
}

/// `"aa:11,bb:22"`; an object `{"aa": "11"}` is read too.
fn ivr_variables(value: &Value) -> Result<Vec<IvrVariable>, String> {
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

fn questionnaire_answers(value: &Value) -> Result<Vec<QuestionnaireAnswer>, String> {
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
