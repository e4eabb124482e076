//! Batched loading of what hangs off a call: its children and related calls.
//!
//! Resolvers of a page's calls ask for their children one call at a time;
//! the [`DataLoader`](async_graphql::dataloader::DataLoader) collects those
//! requests and [`CallLoader`] answers them with one store read for all the
//! kinds and ids at once.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;

use crate::domain::{Call, ConversationId};
use crate::storage::Store;
use crate::storage::read::{Child, Children};

use super::error::ApiError;

/// Key: one kind of child of one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChildrenOf {
    pub child: Child,
    pub conversation_id: ConversationId,
}

/// Key: the calls sharing a `call_id`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SharingCallId(pub String);

pub struct CallLoader {
    pub store: Arc<Store>,
    /// The most bytes of bodies one call's events may bring into memory
    /// when the request has no budget of its own: past the response limit
    /// they could never be sent anyway.
    pub max_body_bytes: usize,
}

impl Loader<ChildrenOf> for CallLoader {
    type Value = Children;
    type Error = ApiError;

    async fn load(&self, keys: &[ChildrenOf]) -> Result<HashMap<ChildrenOf, Children>, ApiError> {
        let mut wanted: HashMap<Child, Vec<ConversationId>> = HashMap::new();
        for key in keys {
            wanted
                .entry(key.child)
                .or_default()
                .push(key.conversation_id);
        }
        Ok(self
            .store
            .children_of(wanted)
            .await?
            .into_iter()
            .map(|((child, conversation_id), children)| {
                (
                    ChildrenOf {
                        child,
                        conversation_id,
                    },
                    children,
                )
            })
            .collect())
    }
}

impl Loader<SharingCallId> for CallLoader {
    type Value = Vec<Call>;
    type Error = ApiError;

    async fn load(
        &self,
        keys: &[SharingCallId],
    ) -> Result<HashMap<SharingCallId, Vec<Call>>, ApiError> {
        let call_ids: Vec<String> = keys.iter().map(|key| key.0.clone()).collect();
        Ok(self
            .store
            .calls_sharing(call_ids)
            .await?
            .into_iter()
            .map(|(call_id, calls)| (SharingCallId(call_id), calls))
            .collect())
    }
}
