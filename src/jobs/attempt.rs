//! How one try of a job ended, in the terms the runner acts on: done, or
//! failed for a reason that says whose trouble it is (the destination's,
//! which pauses it, or the job's own, which backs the job off and parks it
//! after a few tries). A kind maps its own answers onto these.

use std::time::Duration;

use crate::storage::recordings::ArchivedRecording;

/// Why a try failed, as the metrics label it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Failure {
    /// No connection (refused, unreachable, DNS, TLS).
    Connect,
    /// No whole answer within the timeout (or a `408`).
    Timeout,
    /// A `5xx`.
    ServerError,
    /// A `429`: the target asks to slow down.
    Throttled,
    /// The destination refused this job (any other answer that is not a
    /// success): the job's own trouble.
    Refused,
    /// The job cannot succeed however often it is tried (a recording link
    /// answered `403`, `404` or `410`, or past its `Expires`): parked at once.
    Gone,
}

impl Failure {
    pub const ALL: [Failure; 6] = [
        Failure::Connect,
        Failure::Timeout,
        Failure::ServerError,
        Failure::Throttled,
        Failure::Refused,
        Failure::Gone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Connect => "connect",
            Failure::Timeout => "timeout",
            Failure::ServerError => "server_error",
            Failure::Throttled => "throttled",
            Failure::Refused => "refused",
            Failure::Gone => "gone",
        }
    }
}

/// How a try ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The job is done.
    Delivered,
    /// A recording's copy is in the archive.
    Archived(ArchivedRecording),
    Failed {
        failure: Failure,
        /// For the queue's `last_error` and GraphQL's `lastError`.
        error: String,
        /// How long the destination asked to be left alone (`Retry-After`).
        retry_after: Option<Duration>,
    },
}
