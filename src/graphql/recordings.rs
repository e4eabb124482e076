//! A call's recording as the API shows it (`Call.recording`, and the same
//! fields on `ivrRecordings`), and the archive's totals
//! (`recordingsArchive`): the link Udesk pushed, when it expires, and the
//! copy kept of it under `serve --recordings-to`.

use async_graphql::dataloader::Loader;
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

use super::call::load_one;
use super::error::ApiError;
use super::loaders::CallLoader;
use crate::domain::ConversationId;
use crate::domain::collections::IvrRecording;
use crate::domain::recording::{ivr_recording_key, source_expiry};
use crate::storage::recordings::{ArchiveTotals, RecordingState};

/// Key: the recordings of one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecordingsOf(pub ConversationId);

impl Loader<RecordingsOf> for CallLoader {
    type Value = Vec<RecordingState>;
    type Error = ApiError;

    async fn load(
        &self,
        keys: &[RecordingsOf],
    ) -> Result<HashMap<RecordingsOf, Vec<RecordingState>>, ApiError> {
        let ids = keys.iter().map(|key| key.0.0).collect();
        Ok(self
            .store
            .recordings_of(ids)
            .await?
            .into_iter()
            .map(|(id, states)| (RecordingsOf(ConversationId(id)), states))
            .collect())
    }
}

/// The recording of `url` (the call's own when `ivr_id` is empty) of call
/// `conversation_id`, with what the archive holds of it.
pub async fn recording_of(
    ctx: &Context<'_>,
    conversation_id: ConversationId,
    ivr_id: &str,
    url: &str,
) -> Result<Recording, ApiError> {
    let state = load_one(ctx, RecordingsOf(conversation_id))
        .await?
        .unwrap_or_default()
        .into_iter()
        .find(|state| state.ivr_recording_id == ivr_id && state.source_url == url);
    Ok(Recording {
        source_url: url.to_owned(),
        state,
    })
}

pub struct Recording {
    source_url: String,
    state: Option<RecordingState>,
}

/// A recording: the link Udesk pushed (signed, it expires) and the copy
/// kept of it when the service archives recordings (`serve
/// --recordings-to`); `GET /recordings/{conversationId}` serves the copy.
#[Object]
impl Recording {
    /// The link as pushed. It carries a signature and stops working at
    /// `sourceExpiresAt`.
    async fn source_url(&self) -> &str {
        &self.source_url
    }

    /// Whether a copy is kept.
    async fn archived(&self) -> bool {
        self.copy().is_some()
    }

    /// The copy's size in bytes.
    async fn bytes(&self) -> Option<i64> {
        self.bytes_kept()
    }

    /// SHA-256 of the copy, in lowercase hex.
    async fn sha256(&self) -> Option<&str> {
        self.copy().map(|copy| copy.sha256.as_str())
    }

    /// The copy's media type, as its source declared it.
    async fn content_type(&self) -> Option<&str> {
        self.copy().map(|copy| copy.content_type.as_str())
    }

    /// When the link stops working, as its signature says (`Expires`).
    async fn source_expires_at(&self) -> Option<DateTime<Utc>> {
        match &self.state {
            Some(state) => state.source_expires_at,
            None => source_expiry(&self.source_url),
        }
    }

    /// Why archiving it failed last (it is tried again unless `failed`).
    async fn error(&self) -> Option<&str> {
        self.state.as_ref().and_then(|state| state.error.as_deref())
    }

    /// Given up on: the link was refused or expired (`udesk-calls
    /// recordings retry` tries again).
    async fn failed(&self) -> bool {
        self.state.as_ref().is_some_and(|state| state.failed)
    }
}

/// An IVR recording with the call it belongs to (its copy is found by both).
pub struct IvrRecordingOf {
    pub call: ConversationId,
    /// Its place among the call's IVR recordings, from 0.
    pub position: usize,
    pub recording: IvrRecording,
}

/// A recording made in the IVR, with the copy kept of it (the same fields
/// as `Recording`); `GET /recordings/{conversationId}/ivr/{id}` serves the
/// copy.
#[Object(name = "IvrRecording")]
impl IvrRecordingOf {
    /// The recording's id.
    async fn id(&self) -> Option<ID> {
        self.recording.id.map(|id| ID(id.to_string()))
    }

    /// Where to fetch it (signed URLs expire).
    async fn url(&self) -> Option<&str> {
        self.recording.url.as_deref()
    }

    /// The link as pushed (`url`); null when none was.
    async fn source_url(&self) -> Option<&str> {
        self.recording.url.as_deref()
    }

    /// Whether a copy is kept.
    async fn archived(&self, ctx: &Context<'_>) -> Result<bool, ApiError> {
        Ok(self.kept(ctx).await?.is_some_and(|r| r.copy().is_some()))
    }

    /// The copy's size in bytes.
    async fn bytes(&self, ctx: &Context<'_>) -> Result<Option<i64>, ApiError> {
        Ok(self.kept(ctx).await?.and_then(|r| r.bytes_kept()))
    }

    /// SHA-256 of the copy, in lowercase hex.
    async fn sha256(&self, ctx: &Context<'_>) -> Result<Option<String>, ApiError> {
        Ok(self
            .kept(ctx)
            .await?
            .and_then(|r| r.copy().map(|copy| copy.sha256.clone())))
    }

    /// The copy's media type, as its source declared it.
    async fn content_type(&self, ctx: &Context<'_>) -> Result<Option<String>, ApiError> {
        Ok(self
            .kept(ctx)
            .await?
            .and_then(|r| r.copy().map(|copy| copy.content_type.clone())))
    }

    /// When the link stops working, as its signature says (`Expires`).
    async fn source_expires_at(&self) -> Option<DateTime<Utc>> {
        self.recording.url.as_deref().and_then(source_expiry)
    }

    /// Why archiving it failed last (it is tried again unless `failed`).
    async fn error(&self, ctx: &Context<'_>) -> Result<Option<String>, ApiError> {
        Ok(self
            .kept(ctx)
            .await?
            .and_then(|r| r.state.and_then(|state| state.error)))
    }

    /// Given up on: the link was refused or expired (`udesk-calls
    /// recordings retry` tries again).
    async fn failed(&self, ctx: &Context<'_>) -> Result<bool, ApiError> {
        Ok(self
            .kept(ctx)
            .await?
            .is_some_and(|r| r.state.is_some_and(|state| state.failed)))
    }
}

impl IvrRecordingOf {
    /// What the archive holds of it (from the call's recordings, loaded
    /// once a request).
    async fn kept(&self, ctx: &Context<'_>) -> Result<Option<Recording>, ApiError> {
        let Some(url) = self.recording.url.as_deref() else {
            return Ok(None);
        };
        let key = ivr_recording_key(self.recording.id, self.position);
        Ok(Some(recording_of(ctx, self.call, &key, url.trim()).await?))
    }
}

impl Recording {
    fn bytes_kept(&self) -> Option<i64> {
        self.copy()
            .map(|copy| i64::try_from(copy.bytes).unwrap_or(i64::MAX))
    }

    fn copy(&self) -> Option<&crate::storage::recordings::ArchivedRecording> {
        self.state
            .as_ref()
            .and_then(|state| state.archived.as_ref())
    }
}

/// The recordings archive (`serve --recordings-to`): how many recordings
/// wait, are kept, or were given up on, and the bytes kept.
#[derive(SimpleObject)]
pub struct RecordingsArchive {
    /// Recordings waiting to be archived (or tried again).
    pub pending: i64,
    /// Recordings kept.
    pub archived: i64,
    /// Recordings given up on (a refused or expired link).
    pub failed: i64,
    /// Bytes of the recordings kept (each copy counted once per recording).
    pub bytes: i64,
}

impl From<ArchiveTotals> for RecordingsArchive {
    fn from(totals: ArchiveTotals) -> Self {
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        RecordingsArchive {
            pending: count(totals.pending),
            archived: count(totals.archived),
            failed: count(totals.failed),
            bytes: count(totals.bytes),
        }
    }
}
