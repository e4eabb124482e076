//! The `udesk_calls_recordings_*` metrics: archiving's names for the
//! metrics every kind of job has (`jobs::metrics`), labelled by archive.

use prometheus_client::registry::Registry;

use crate::jobs::metrics::{JobMetrics, MetricNames};

const NAMES: MetricNames = MetricNames {
    done: (
        "udesk_calls_recordings_archived",
        "Recordings downloaded and kept in the archive",
    ),
    failed: (
        "udesk_calls_recordings_failed_attempts",
        "Tries to archive a recording that failed, by reason: connect, timeout, server_error (5xx, or the archive's own trouble), throttled (429), refused (other 4xx), gone (403, 404, 410, an expired link, too large)",
    ),
    parked: (
        "udesk_calls_recordings_failed",
        "Recordings given up on (see `udesk-calls recordings retry`)",
    ),
    pending: (
        "udesk_calls_recordings_pending",
        "Recordings waiting to be archived",
    ),
};

pub fn register(registry: &mut Registry) -> JobMetrics {
    JobMetrics::register(registry, &NAMES, |target| target.to_owned())
}
