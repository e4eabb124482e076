//! The `udesk_calls_forward_*` metrics: forwarding's names for the metrics
//! every kind of job has (`jobs::metrics`). Each is labelled by target, the
//! URL as GraphQL shows it (no user, password or query string).

use prometheus_client::registry::Registry;

use crate::config::forwarding::display_url;
use crate::jobs::metrics::{JobMetrics, MetricNames};

const NAMES: MetricNames = MetricNames {
    done: (
        "udesk_calls_forward_delivered",
        "Pushes a forwarding target answered with a 2xx",
    ),
    failed: (
        "udesk_calls_forward_failed_attempts",
        "Tries to forward a push that failed, by reason: connect, timeout, server_error (5xx), throttled (429), refused (other 4xx or 3xx)",
    ),
    parked: (
        "udesk_calls_forward_parked",
        "Pushes parked for a target after it refused them a few times (see `udesk-calls forward retry`)",
    ),
    pending: (
        "udesk_calls_forward_pending",
        "Pushes waiting to be forwarded to a target",
    ),
};

pub fn register(registry: &mut Registry) -> JobMetrics {
    JobMetrics::register(registry, &NAMES, display_url)
}
