//! The fields of `Call` that are loaded rather than copied: its events and
//! collections, its parse warnings and the calls of the same series, each
//! through the batching data loader.

use async_graphql::dataloader::DataLoader;
use async_graphql::{ComplexObject, Context};

use super::call::Call;
use super::collections::{
    CallEvent, CalloutTask, CustomField, IvrRecording, IvrVariable, ParseWarning,
    QuestionnaireAnswer,
};
use super::error::ApiError;
use super::loaders::{CallLoader, Children, ChildrenOf, Collection, SharingCallId};

/// What `relatedCalls` may cost, as a multiple of the fields asked of each:
/// a series rarely holds more than a few calls, and nesting it should cost.
const RELATED_CALLS_COST: usize = 10;

#[ComplexObject]
impl Call {
    /// Every stored push of this call, whole, in event-time order (pushes
    /// without a timestamp first, then by arrival).
    async fn events(&self, ctx: &Context<'_>) -> Result<Vec<CallEvent>, ApiError> {
        self.load(ctx, Collection::Events).await.map(|c| c.events)
    }

    /// The business record's custom fields (`note_custom_fields`).
    async fn custom_fields(&self, ctx: &Context<'_>) -> Result<Vec<CustomField>, ApiError> {
        self.load(ctx, Collection::CustomFields)
            .await
            .map(|c| c.custom_fields)
    }

    /// Tickets created during the call, e.g. `#12`.
    async fn ticket_numbers(&self, ctx: &Context<'_>) -> Result<Vec<String>, ApiError> {
        self.load(ctx, Collection::TicketNumbers)
            .await
            .map(|c| c.texts)
    }

    /// Manual outbound tasks containing the customer's number.
    async fn callout_tasks(&self, ctx: &Context<'_>) -> Result<Vec<CalloutTask>, ApiError> {
        self.load(ctx, Collection::CalloutTasks)
            .await
            .map(|c| c.callout_tasks)
    }

    /// Related agents (`relevant_agent`).
    async fn relevant_agents(&self, ctx: &Context<'_>) -> Result<Vec<String>, ApiError> {
        self.load(ctx, Collection::RelevantAgents)
            .await
            .map(|c| c.texts)
    }

    /// The agent's tags.
    async fn agent_tags(&self, ctx: &Context<'_>) -> Result<Vec<String>, ApiError> {
        self.load(ctx, Collection::AgentTags).await.map(|c| c.texts)
    }

    /// Recordings made in the IVR.
    async fn ivr_recordings(&self, ctx: &Context<'_>) -> Result<Vec<IvrRecording>, ApiError> {
        self.load(ctx, Collection::IvrRecordings)
            .await
            .map(|c| c.ivr_recordings)
    }

    /// The IVR variables as name/value pairs, in pushed order.
    async fn ivr_variables(&self, ctx: &Context<'_>) -> Result<Vec<IvrVariable>, ApiError> {
        self.load(ctx, Collection::IvrVariables)
            .await
            .map(|c| c.ivr_variables)
    }

    /// The questionnaire's answers.
    async fn questionnaire_answers(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<QuestionnaireAnswer>, ApiError> {
        self.load(ctx, Collection::QuestionnaireAnswers)
            .await
            .map(|c| c.questionnaire_answers)
    }

    /// The customer's WeChat official-account ids.
    async fn weixin_openids(&self, ctx: &Context<'_>) -> Result<Vec<String>, ApiError> {
        self.load(ctx, Collection::WeixinOpenids)
            .await
            .map(|c| c.texts)
    }

    /// Fields of this call's pushes that could not be read; their normalized
    /// value was left empty, the raw push keeps them.
    async fn parse_warnings(&self, ctx: &Context<'_>) -> Result<Vec<ParseWarning>, ApiError> {
        self.load(ctx, Collection::ParseWarnings)
            .await
            .map(|c| c.parse_warnings)
    }

    /// The other calls of the same `callId` (transfers, consults…), by start
    /// time; empty when this call has no `callId`.
    #[graphql(complexity = "RELATED_CALLS_COST * child_complexity + 1")]
    async fn related_calls(&self, ctx: &Context<'_>) -> Result<Vec<Call>, ApiError> {
        let Some(call_id) = self.call_id.clone() else {
            return Ok(Vec::new());
        };
        let loader = ctx.data_unchecked::<DataLoader<CallLoader>>();
        let calls = loader.load_one(SharingCallId(call_id)).await?;
        Ok(calls
            .unwrap_or_default()
            .into_iter()
            .filter(|call| call.conversation_id != self.record.conversation_id)
            .map(Call::new)
            .collect())
    }
}

impl Call {
    async fn load(&self, ctx: &Context<'_>, collection: Collection) -> Result<Children, ApiError> {
        let loader = ctx.data_unchecked::<DataLoader<CallLoader>>();
        let key = ChildrenOf {
            collection,
            conversation_id: self.record.conversation_id,
        };
        Ok(loader.load_one(key).await?.unwrap_or_default())
    }
}
