//! Batched loading of what hangs off a call: its collections and related calls.
//!
//! Resolvers of a page's calls ask for their children one call at a time;
//! the [`DataLoader`](async_graphql::dataloader::DataLoader) collects those
//! requests and [`CallLoader`] answers each collection with one query for
//! all the ids at once.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;

use crate::storage::Store;
use crate::storage::read::CallRecord;
use crate::storage::read::calls::calls_by_call_ids;
use crate::storage::read::children::{self, ByCall, TextList};

use super::collections::{
    CallEvent, CalloutTask, CustomField, IvrRecording, IvrVariable, ParseWarning,
    QuestionnaireAnswer,
};
use super::error::ApiError;

/// A collection of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Collection {
    Events,
    ParseWarnings,
    CustomFields,
    CalloutTasks,
    IvrRecordings,
    IvrVariables,
    QuestionnaireAnswers,
    TicketNumbers,
    RelevantAgents,
    AgentTags,
    WeixinOpenids,
}

/// Key: one collection of one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChildrenOf {
    pub collection: Collection,
    pub conversation_id: i64,
}

/// Key: the calls sharing a `call_id`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SharingCallId(pub String);

/// One collection's elements; only the vector of the asked collection is filled.
#[derive(Clone, Debug, Default)]
pub struct Children {
    pub events: Vec<CallEvent>,
    pub parse_warnings: Vec<ParseWarning>,
    pub custom_fields: Vec<CustomField>,
    pub callout_tasks: Vec<CalloutTask>,
    pub ivr_recordings: Vec<IvrRecording>,
    pub ivr_variables: Vec<IvrVariable>,
    pub questionnaire_answers: Vec<QuestionnaireAnswer>,
    /// Ticket numbers, relevant agents, agent tags or openids.
    pub texts: Vec<String>,
}

pub struct CallLoader {
    pub store: Arc<Store>,
}

/// Turns rows grouped by call into `Children`, filling one vector.
fn fill<T, U: From<T>>(
    collection: Collection,
    rows: ByCall<T>,
    place: impl Fn(&mut Children) -> &mut Vec<U>,
) -> HashMap<ChildrenOf, Children> {
    rows.into_iter()
        .map(|(conversation_id, items)| {
            let mut children = Children::default();
            place(&mut children).extend(items.into_iter().map(U::from));
            (
                ChildrenOf {
                    collection,
                    conversation_id,
                },
                children,
            )
        })
        .collect()
}

impl Loader<ChildrenOf> for CallLoader {
    type Value = Children;
    type Error = ApiError;

    async fn load(&self, keys: &[ChildrenOf]) -> Result<HashMap<ChildrenOf, Children>, ApiError> {
        let mut wanted: HashMap<Collection, Vec<i64>> = HashMap::new();
        for key in keys {
            wanted
                .entry(key.collection)
                .or_default()
                .push(key.conversation_id);
        }
        Ok(self
            .store
            .read(move |conn| {
                let mut loaded = HashMap::new();
                for (collection, ids) in wanted {
                    let text_list = |list| children::text_list_of(conn, list, &ids);
                    loaded.extend(match collection {
                        Collection::Events => {
                            fill(collection, children::events_of(conn, &ids)?, |c| {
                                &mut c.events
                            })
                        }
                        Collection::ParseWarnings => {
                            fill(collection, children::warnings_of(conn, &ids)?, |c| {
                                &mut c.parse_warnings
                            })
                        }
                        Collection::CustomFields => {
                            fill(collection, children::custom_fields_of(conn, &ids)?, |c| {
                                &mut c.custom_fields
                            })
                        }
                        Collection::CalloutTasks => {
                            fill(collection, children::callout_tasks_of(conn, &ids)?, |c| {
                                &mut c.callout_tasks
                            })
                        }
                        Collection::IvrRecordings => {
                            fill(collection, children::ivr_recordings_of(conn, &ids)?, |c| {
                                &mut c.ivr_recordings
                            })
                        }
                        Collection::IvrVariables => {
                            fill(collection, children::ivr_variables_of(conn, &ids)?, |c| {
                                &mut c.ivr_variables
                            })
                        }
                        Collection::QuestionnaireAnswers => fill(
                            collection,
                            children::questionnaire_answers_of(conn, &ids)?,
                            |c| &mut c.questionnaire_answers,
                        ),
                        Collection::TicketNumbers => {
                            fill(collection, text_list(TextList::TicketNumbers)?, texts)
                        }
                        Collection::RelevantAgents => {
                            fill(collection, text_list(TextList::RelevantAgents)?, texts)
                        }
                        Collection::AgentTags => {
                            fill(collection, text_list(TextList::AgentTags)?, texts)
                        }
                        Collection::WeixinOpenids => {
                            fill(collection, text_list(TextList::WeixinOpenids)?, texts)
                        }
                    });
                }
                Ok(loaded)
            })
            .await?)
    }
}

fn texts(children: &mut Children) -> &mut Vec<String> {
    &mut children.texts
}

impl Loader<SharingCallId> for CallLoader {
    type Value = Vec<CallRecord>;
    type Error = ApiError;

    async fn load(
        &self,
        keys: &[SharingCallId],
    ) -> Result<HashMap<SharingCallId, Vec<CallRecord>>, ApiError> {
        let call_ids: Vec<String> = keys.iter().map(|key| key.0.clone()).collect();
        let grouped = self
            .store
            .read(move |conn| calls_by_call_ids(conn, &call_ids))
            .await?;
        Ok(grouped
            .into_iter()
            .map(|(call_id, calls)| (SharingCallId(call_id), calls))
            .collect())
    }
}
