//! What a push and a call are, independent of HTTP and SQL.
//!
//! - [`table`]: every field and collection of a push, listed once.
//! - [`fields`], [`collections`]: how their values are read and stored.
//! - [`push`]: one push, validated at the boundary; [`intake`]: a body as it
//!   arrives, prepared into a push or a rejection.
//! - [`call`]: the merge of a call's pushes into one [`Call`] (the rule of
//!   the service contract lives there and nowhere else).
//! - [`ids`], [`warnings`]: the small types the rest shares.
//! - [`call_center`]: what the call-center measures count (abandoned
//!   calls, service-level thresholds).
//! - [`masking`]: how a phone number may appear in a log line.

pub mod call;
pub mod call_center;
pub mod collections;
pub mod fields;
pub mod ids;
pub mod intake;
pub mod masking;
pub mod push;
pub mod recording;
pub mod table;
pub mod warnings;

pub use call::{Call, CallStatus, MergedCall, StoredPush, project};
pub use ids::{ConversationId, UdeskId};
pub use intake::{
    AcceptedPush, MAX_PUSHES_PER_CALL, RawPush, RejectReason, Rejection, prepare, received_now,
};
pub use push::{Push, PushError};
pub use table::{CollectionKind, Collections, SCALAR_FIELDS, Scalars};
pub use warnings::ParseWarning;
