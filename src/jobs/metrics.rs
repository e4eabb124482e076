//! The metrics every kind of job has, under its own names: jobs done, tries
//! failed by reason, jobs parked, and jobs pending, each by destination as
//! the kind shows it (a forwarding URL without its credentials).

use std::collections::BTreeMap;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::attempt::Failure;

/// A kind's metric names and help texts.
pub struct MetricNames {
    pub done: (&'static str, &'static str),
    pub failed: (&'static str, &'static str),
    pub parked: (&'static str, &'static str),
    pub pending: (&'static str, &'static str),
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    target: String,
    reason: &'static str,
}

/// Handles on one kind's metrics; cheap to clone.
#[derive(Clone, Debug)]
pub struct JobMetrics {
    /// How a destination is shown in a label.
    shown: fn(&str) -> String,
    done: Family<TargetLabels, Counter>,
    failed: Family<FailureLabels, Counter>,
    parked: Family<TargetLabels, Counter>,
    pending: Family<TargetLabels, Gauge>,
}

impl JobMetrics {
    pub fn register(
        registry: &mut Registry,
        names: &MetricNames,
        shown: fn(&str) -> String,
    ) -> JobMetrics {
        let metrics = JobMetrics {
            shown,
            done: Family::default(),
            failed: Family::default(),
            parked: Family::default(),
            pending: Family::default(),
        };
        registry.register(names.done.0, names.done.1, metrics.done.clone());
        registry.register(names.failed.0, names.failed.1, metrics.failed.clone());
        registry.register(names.parked.0, names.parked.1, metrics.parked.clone());
        registry.register(names.pending.0, names.pending.1, metrics.pending.clone());
        metrics
    }

    /// Shows `target`'s series at zero from the first scrape.
    pub fn add_target(&self, target: &str) {
        let target = (self.shown)(target);
        for reason in Failure::ALL {
            drop(self.failed.get_or_create(&FailureLabels {
                target: target.clone(),
                reason: reason.as_str(),
            }));
        }
        let labels = TargetLabels { target };
        drop(self.done.get_or_create(&labels));
        drop(self.parked.get_or_create(&labels));
        drop(self.pending.get_or_create(&labels));
    }

    pub fn done(&self, target: &str) {
        self.done.get_or_create(&self.labels(target)).inc();
    }

    pub fn failed(&self, target: &str, failure: Failure) {
        let labels = FailureLabels {
            target: (self.shown)(target),
            reason: failure.as_str(),
        };
        self.failed.get_or_create(&labels).inc();
    }

    pub fn parked(&self, target: &str) {
        self.parked.get_or_create(&self.labels(target)).inc();
    }

    /// The pending jobs of the configured destinations `shown` (at zero
    /// when they have none) and of any other the queue still holds.
    pub fn set_pending(&self, configured: &[String], counts: &[(String, i64)]) {
        let mut by_label: BTreeMap<String, i64> = configured
            .iter()
            .map(|target| ((self.shown)(target), 0))
            .collect();
        for (target, count) in counts {
            *by_label.entry((self.shown)(target)).or_default() += count;
        }
        for (target, count) in by_label {
            self.pending
                .get_or_create(&TargetLabels { target })
                .set(count);
        }
    }

    fn labels(&self, target: &str) -> TargetLabels {
        TargetLabels {
            target: (self.shown)(target),
        }
    }
}
