//! `forwardingTargets`: where stored pushes are forwarded and how far each
//! target is, read from the job queue.

use async_graphql::SimpleObject;
use chrono::{DateTime, FixedOffset};

use crate::config::forwarding::display_url;
use crate::storage::jobs::JobTargetSummary;

/// A URL stored pushes are forwarded to (`serve --forward-to`), with its
/// queue.
#[derive(SimpleObject, Clone, Debug)]
pub struct ForwardingTarget {
    /// The URL without its query string (or user and password), which may
    /// hold the receiver's token.
    pub url: String,
    /// Pushes waiting to be sent (or being sent) to it.
    pub pending: i64,
    /// Pushes it refused a few times, set aside until `udesk-calls forward
    /// retry` re-queues them.
    pub parked: i64,
    /// Pushes it accepted with a 2xx (those of erased calls are no longer
    /// counted).
    pub delivered: i64,
    /// Why the latest failed try of a push still pending or parked failed;
    /// null when every push was delivered.
    pub last_error: Option<String>,
    /// When a push was last delivered to it.
    pub last_success_at: Option<DateTime<FixedOffset>>,
    /// False for a URL no longer given to `--forward-to` that still has
    /// pushes queued or parked: they wait until it is given again.
    pub configured: bool,
}

impl ForwardingTarget {
    pub fn of(summary: JobTargetSummary, configured: bool) -> ForwardingTarget {
        ForwardingTarget {
            url: display_url(&summary.target),
            pending: summary.pending,
            parked: summary.parked,
            delivered: summary.delivered,
            last_error: summary.last_error,
            last_success_at: summary.last_success_at,
            configured,
        }
    }
}
