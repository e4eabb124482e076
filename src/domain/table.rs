//! The push table: every field and every collection of a Udesk push, listed
//! once.
//!
//! [`with_push_table!`] hands the table to a macro of the caller's choice.
//! `domain` expands it into the typed [`Scalars`](super::Scalars) and
//! [`Collections`](super::Collections) (parsing and merging), `storage` reads
//! and writes them through the same names, and `graphql` expands it into the
//! fields of `Call`. A field or collection added here is parsed, merged,
//! stored and served; a misspelt name fails to compile. A new field also
//! needs its column in `calls`, a new collection its table: a migration.
//!
//! A scalar line reads `name: Kind`, where `name` is Udesk's key (and the
//! column of `calls`, and camelCased, the GraphQL field), `Kind` one of
//! [`kind`](super::fields::kind), `= "key"` Udesk's key and the column when
//! they differ from `name`, and `| "alias"` another spelling Udesk uses. A collection line reads `Variant name: Item =
//! reader, ["push key", …] => "table" (columns…)`. The `///` lines become
//! the GraphQL descriptions.

/// Calls `$callback! { fields { … } collections { … } }` with the table.
macro_rules! with_push_table {
    ($callback:ident) => {
        $callback! {
            fields {
                /// The id shared by one customer's series of calls (transfers, consults).
                call_id: Text,
                /// The customer's name.
                nick_name: Text,
                /// The customer's phone number.
                customer_phone: Text,
                /// The phone number's home area, e.g. `北京 北京`.
                mobile_area: Text,
                /// The trunk number shown.
                display_number: Text,
                /// `in` inbound, `out_callback` two-way callback, `out_direct` direct outbound, `out_auto` automatic outbound (see `workflows`).
                workflow: Text,
                /// In advanced calls (transfer, consult…), the previous agent's id.
                from_agent_id: Id,
                /// The outcome as Udesk words it, e.g. `客户接听` (customer answered).
                call_result: Text,
                /// Whether a voicemail was left (it is in the recording).
                is_leave_message: Bool,
                /// Talk time in seconds.
                total_time: Int,
                /// The recording's URL.
                record_url: Text,
                /// The satisfaction rating, e.g. `未评价` (not rated).
                survey: Text,
                /// The outbound external number.
                outline_phone_number: Text,
                /// The agent's id.
                agent_id: Id,
                /// When the customer's side rang.
                customer_ring_at: Time,
                /// When the agent's side rang.
                agent_ring_at: Time,
                /// When the customer answered.
                customer_answer_at: Time,
                /// When the agent answered.
                agent_answer_at: Time,
                /// When the customer hung up.
                customer_hangup_at: Time,
                /// When the agent hung up.
                agent_hangup_at: Time,
                /// The agent's login e-mail.
                agent_email: Text,
                /// The agent's display name.
                agent_nick_name: Text,
                /// The advanced-call type, e.g. `normal`, `transfer` (see `categories`).
                category: Text,
                /// The task's name.
                task_name: Text,
                /// The queue status (Udesk's spelling; `queue_status` in some pushes).
                queue_statue: Text | "queue_status",
                /// Time spent queued, in seconds.
                queue_time: Int,
                /// The DTMF keys pressed.
                dtmf: Text,
                /// The device type, e.g. `网页电话` (web phone).
                device_info: Text,
                /// Who hung up, e.g. `客服` (agent).
                drop_side: Text,
                /// Why an outbound call failed: a `name` of `defeatCauses`.
                defeat_cause: Text,
                /// The sequential-ring count.
                multi_ring_count: Int,
                /// The automatic outbound task's id.
                task_id: Id,
                /// Queue overflow, e.g. `无溢出` (no overflow).
                queue_overflow: Text,
                /// Time spent in the IVR, in seconds.
                ivr_time: Int,
                /// The IVR variables as pushed (`"aa:11,bb:22"`); `ivrVariables` has them as pairs.
                ivr_variables_raw: Text = "ivr_variables",
                /// The customer's language, e.g. `ko`.
                lang: Text,
                /// Whether the customer is blacklisted.
                is_blocked: Bool,
                /// The customer's level, e.g. `vip`.
                level: Text,
                /// The customer's description.
                description: Text,
                /// The customer's company.
                organization_name: Text,
                /// The customer's owner.
                owner_name: Text,
                /// The customer owner's group.
                owner_group_name: Text,
                /// The business record's id.
                note_id: Id,
                /// The business record's subject.
                note_content: Text,
                /// The business record template's id.
                note_template_id: Id,
                /// The business record template's name.
                note_template_name: Text,
                /// The questionnaire's id.
                questionnaire_id: Id,
                /// A caller-defined call id (used with the call widget).
                biz_id: Text,
                /// The customer's id.
                customer_id: Id,
                /// The customer's token.
                customer_token: Text,
                /// The customer's web token.
                customer_web_token: Text,
                /// The customer's SDK token.
                customer_sdk_token: Text,
                /// The agent's group id.
                user_group_id: Id,
                /// The agent's group name.
                user_group_name: Text,
                /// When the call started, as Udesk reports it.
                call_start_at: Time,
                /// Ringing duration, in seconds.
                ring_time: Int,
                /// When Udesk created the record.
                created_at: Time,
            }
            collections {
                /// The business record's custom fields (`note_custom_fields`).
                CustomFields custom_fields: CustomField = read_custom_fields,
                    ["note_custom_fields"] => "custom_fields" (field_id, name, value),
                /// Tickets created during the call, e.g. `#12`.
                TicketNumbers ticket_numbers: String = read_text_list,
                    ["ticket_numbers"] => "tickets" (ticket_number),
                /// Manual outbound tasks containing the customer's number.
                CalloutTasks callout_tasks: CalloutTask = read_callout_tasks,
                    ["callout_tasks"] => "callout_tasks" (task_id, name),
                /// Related agents (`relevant_agent`).
                RelevantAgents relevant_agents: String = read_text_list,
                    ["relevant_agent", "relevent_agent"] => "relevant_agents" (agent),
                /// The agent's tags.
                AgentTags agent_tags: String = read_text_list,
                    ["agent_tags"] => "agent_tags" (tag),
                /// Recordings made in the IVR.
                IvrRecordings ivr_recordings: IvrRecording = read_ivr_recordings,
                    ["ivr_record_urls"] => "ivr_recordings" (recording_id, url),
                /// The IVR variables as name/value pairs, in pushed order.
                IvrVariables ivr_variables: IvrVariable = read_ivr_variables,
                    ["ivr_variables"] => "ivr_variables" (name, value),
                /// The questionnaire's answers.
                QuestionnaireAnswers questionnaire_answers: QuestionnaireAnswer = read_questionnaire_answers,
                    ["questionnaire_contents"] => "questionnaire_answers" (question, answer),
                /// The customer's WeChat official-account ids.
                WeixinOpenids weixin_openids: String = read_text_list,
                    ["weixin_openids"] => "weixin_openids" (openid),
            }
        }
    };
}

pub(crate) use with_push_table;

/// The domain's expansion of the table: [`Scalars`](super::Scalars),
/// [`SCALAR_FIELDS`](super::SCALAR_FIELDS), [`Collections`](super::Collections)
/// and [`CollectionKind`](super::CollectionKind).
macro_rules! define_push_types {
    (
        fields {
            $( $(#[doc = $doc:literal])* $name:ident : $kind:ident $(= $udesk:literal)? $(| $alias:literal)* ),* $(,)?
        }
        collections {
            $( $(#[doc = $cdoc:literal])* $variant:ident $cname:ident : $item:ty = $reader:ident,
                [$($key:literal),*] => $table:literal ($($column:ident),*) ),* $(,)?
        }
    ) => {
        /// The scalar values of a push or a call; `None` where there is no value.
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct Scalars {
            $( $(#[doc = $doc])* pub $name: Option<$crate::domain::fields::kind::$kind>, )*
        }

        /// Every scalar field of a push but `conversation_id`, `occasion` and
        /// `timestamp`, which describe the push rather than the call; in the
        /// order of [`Scalars::values`].
        pub const SCALAR_FIELDS: &[$crate::domain::fields::ScalarField] = &[
            $( $crate::domain::fields::ScalarField {
                name: [$($udesk,)? stringify!($name)][0],
                aliases: &[$($alias),*],
                kind: $crate::domain::fields::FieldKind::$kind,
            }, )*
        ];

        impl Scalars {
            /// Reads every field of a push object; an unreadable value is a warning.
            pub(crate) fn read(
                object: &serde_json::Map<String, serde_json::Value>,
                offset: chrono::FixedOffset,
                warnings: &mut $crate::domain::warnings::Warnings,
            ) -> Scalars {
                use $crate::domain::fields::read_field;
                Scalars {
                    $( $name: read_field(
                        object,
                        &[[$($udesk,)? stringify!($name)][0] $(, $alias)*],
                        offset,
                        warnings,
                    ), )*
                }
            }

            /// Takes each value `newer` carries whose push sorts after the
            /// push the value held came from, noting `key` for it. `keys`
            /// holds one per field, in the order of [`SCALAR_FIELDS`].
            /// Merging pushes this way in any order keeps what overlaying
            /// them in the order of their keys would.
            pub fn overlay_if_later<K: Ord + Copy>(
                &mut self,
                newer: &Scalars,
                keys: &mut [Option<K>],
                key: K,
            ) {
                let mut keys = keys.iter_mut();
                $(
                    let held = keys.next().expect("a key per field");
                    if newer.$name.is_some() && held.is_none_or(|held| held < key) {
                        self.$name.clone_from(&newer.$name);
                        *held = Some(key);
                    }
                )*
            }

            /// The values in the order of [`SCALAR_FIELDS`].
            pub fn values(&self) -> Vec<Option<$crate::domain::fields::FieldValue>> {
                use $crate::domain::fields::FieldType;
                vec![ $( self.$name.as_ref().map(FieldType::to_value), )* ]
            }

            /// Values in the order of [`SCALAR_FIELDS`]; a value of the wrong
            /// kind reads as none.
            pub fn from_values(
                values: impl IntoIterator<Item = Option<$crate::domain::fields::FieldValue>>,
            ) -> Scalars {
                use $crate::domain::fields::FieldType;
                let mut values = values.into_iter();
                Scalars {
                    $( $name: values.next().flatten().and_then(FieldType::from_value), )*
                }
            }
        }

        /// One of a call's collections.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum CollectionKind {
            $( $(#[doc = $cdoc])* $variant, )*
        }

        impl CollectionKind {
            /// Every collection, in the table's order.
            pub const ALL: &[CollectionKind] = &[ $( CollectionKind::$variant, )* ];

            /// The table holding it: `(conversation_id, position, columns…)`.
            pub fn table(self) -> &'static str {
                match self { $( CollectionKind::$variant => $table, )* }
            }

            /// The table's columns after `conversation_id` and `position`.
            pub fn columns(self) -> &'static [&'static str] {
                match self { $( CollectionKind::$variant => &[$(stringify!($column)),*], )* }
            }
        }

        /// The collections a push carries, or a call holds; `None` where
        /// there is no value. Each counts as one field in the merge.
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct Collections {
            $( $(#[doc = $cdoc])* pub $cname: Option<Vec<$item>>, )*
        }

        impl Collections {
            /// Reads every collection of a push object; an unreadable one is
            /// a warning.
            pub(crate) fn read(
                object: &serde_json::Map<String, serde_json::Value>,
                warnings: &mut $crate::domain::warnings::Warnings,
            ) -> Collections {
                use $crate::domain::collections::*;
                Collections {
                    $( $cname: read_collection(object, &[$($key),*], warnings, $reader), )*
                }
            }

            /// As [`Scalars::overlay_if_later`], with one key per
            /// collection in the order of [`CollectionKind::ALL`].
            pub fn overlay_if_later<K: Ord + Copy>(
                &mut self,
                newer: &Collections,
                keys: &mut [Option<K>],
                key: K,
            ) {
                let mut keys = keys.iter_mut();
                $(
                    let held = keys.next().expect("a key per collection");
                    if newer.$cname.is_some() && held.is_none_or(|held| held < key) {
                        self.$cname.clone_from(&newer.$cname);
                        *held = Some(key);
                    }
                )*
            }

            /// Whether `kind` holds the same elements in both.
            pub fn same(&self, other: &Collections, kind: CollectionKind) -> bool {
                match kind { $( CollectionKind::$variant => self.$cname == other.$cname, )* }
            }

            /// The rows of one collection, in the order of its
            /// [`columns`](CollectionKind::columns); `None` when it has no value.
            pub fn rows(
                &self,
                kind: CollectionKind,
            ) -> Option<Vec<Vec<Option<$crate::domain::fields::FieldValue>>>> {
                use $crate::domain::collections::CollectionItem;
                match kind {
                    $( CollectionKind::$variant => self.$cname.as_ref().map(|items| {
                        items.iter().map(CollectionItem::to_columns).collect()
                    }), )*
                }
            }

            /// Sets one collection from stored rows.
            pub fn set_rows(
                &mut self,
                kind: CollectionKind,
                rows: Vec<Vec<Option<$crate::domain::fields::FieldValue>>>,
            ) {
                use $crate::domain::collections::CollectionItem;
                match kind {
                    $( CollectionKind::$variant => {
                        self.$cname = Some(rows.into_iter().map(CollectionItem::from_columns).collect());
                    } )*
                }
            }
        }
    };
}

use super::collections::{
    CalloutTask, CustomField, IvrRecording, IvrVariable, QuestionnaireAnswer,
};

with_push_table!(define_push_types);
