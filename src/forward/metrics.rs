//! The `udesk_calls_forward_*` metrics, registered in the served app's own
//! registry (`http::metrics`). Each is labelled by target, the URL as
//! GraphQL shows it (no user, password or query string).

use std::collections::BTreeMap;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::attempt::Failure;
use crate::config::forwarding::display_url;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    target: String,
    reason: &'static str,
}

/// Handles on the forwarding metrics; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct ForwardMetrics {
    delivered: Family<TargetLabels, Counter>,
    failed: Family<FailureLabels, Counter>,
    parked: Family<TargetLabels, Counter>,
    pending: Family<TargetLabels, Gauge>,
}

impl ForwardMetrics {
    /// New metrics, registered in `registry`.
    pub fn register(registry: &mut Registry) -> ForwardMetrics {
        let metrics = ForwardMetrics::default();
        registry.register(
            "udesk_calls_forward_delivered",
            "Pushes a forwarding target answered with a 2xx",
            metrics.delivered.clone(),
        );
        registry.register(
            "udesk_calls_forward_failed_attempts",
            "Tries to forward a push that failed, by reason: connect, timeout, server_error (5xx), throttled (429), refused (other 4xx or 3xx)",
            metrics.failed.clone(),
        );
        registry.register(
            "udesk_calls_forward_parked",
            "Pushes parked for a target after it refused them a few times (see `udesk-calls forward retry`)",
            metrics.parked.clone(),
        );
        registry.register(
            "udesk_calls_forward_pending",
            "Pushes waiting to be forwarded to a target",
            metrics.pending.clone(),
        );
        metrics
    }

    /// Shows every series of `target` from the start, at zero.
    pub fn add_target(&self, target: &str) {
        let target = display_url(target);
        for reason in Failure::ALL {
            drop(self.failed.get_or_create(&FailureLabels {
                target: target.clone(),
                reason: reason.as_str(),
            }));
        }
        let labels = TargetLabels { target };
        drop(self.delivered.get_or_create(&labels));
        drop(self.parked.get_or_create(&labels));
        drop(self.pending.get_or_create(&labels));
    }

    pub fn delivered(&self, target: &str) {
        self.delivered.get_or_create(&labels(target)).inc();
    }

    pub fn failed(&self, target: &str, failure: Failure) {
        let labels = FailureLabels {
            target: display_url(target),
            reason: failure.as_str(),
        };
        self.failed.get_or_create(&labels).inc();
    }

    pub fn parked(&self, target: &str) {
        self.parked.get_or_create(&labels(target)).inc();
    }

    /// Sets the pending gauge of each target from the queue's counts; the
    /// `shown` targets read zero when the queue holds nothing for them.
    pub fn set_pending(&self, shown: &[String], counts: &[(String, i64)]) {
        let mut by_label: BTreeMap<String, i64> = shown
            .iter()
            .map(|target| (display_url(target), 0))
            .collect();
        for (target, count) in counts {
            *by_label.entry(display_url(target)).or_default() += count;
        }
        for (target, count) in by_label {
            self.pending
                .get_or_create(&TargetLabels { target })
                .set(count);
        }
    }
}

fn labels(target: &str) -> TargetLabels {
    TargetLabels {
        target: display_url(target),
    }
}
