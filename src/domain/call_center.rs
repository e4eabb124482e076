//! The call-center measures' definitions: which calls count as abandoned,
//! and the service-level thresholds kept ready.
//!
//! The measures are computed in SQL (storage turns these lists into the
//! expressions of `storage::rollups::measures`), but what they mean is a
//! rule of the domain, decided here once.

/// Udesk's `workflow` of an inbound call; the call-center measures
/// (service level, speed of answer, abandonment, waits) are about these.
pub const INBOUND_WORKFLOW: &str = "in";

/// The `call_result` values of an inbound call the caller gave up on before
/// an agent took it, from the values Udesk documents:
///
/// - `放弃排队` (gave up queueing): the textbook abandoned call;
/// - `客户速挂` (caller hung up at once) and `客户挂机` (caller hung up):
///   the caller ended the call while it was still waiting.
///
/// Left out on purpose: `未选择队列` (hung up in the IVR before choosing a
/// queue: self-service, never queued for an agent), `排队超时` (the system
/// ended the wait, not the caller), `客服未接` / `客服拒接` (the agent did not
/// take it). A call with talk time above 0 reached an agent and is never
/// abandoned, whatever its result says.
pub const ABANDONED_CALL_RESULTS: &[&str] = &["放弃排队", "客户速挂", "客户挂机"];

/// Service-level thresholds, in seconds, whose counts the statistics keep
/// ready; `serviceLevel` with another threshold is computed from the calls.
/// The common targets: 80/20 and 90/10, 30, 60 and the rest seen in
/// contracts.
pub const SERVICE_LEVEL_THRESHOLDS: &[u32] = &[10, 15, 20, 30, 45, 60, 90, 120, 180, 300];
