//! The live-update metrics, registered in the served app's own registry
//! (`http::metrics`): WebSockets and subscriptions open now, and
//! subscribers closed for falling behind.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Handles on the live-update metrics; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct LiveMetrics {
    pub websockets: Gauge,
    pub subscriptions: Gauge,
    pub too_slow: Counter,
}

impl LiveMetrics {
    /// New metrics, registered in `registry`.
    pub fn register(registry: &mut Registry) -> LiveMetrics {
        let metrics = LiveMetrics::default();
        registry.register(
            "udesk_calls_websockets",
            "WebSocket connections open on /graphql (live updates)",
            metrics.websockets.clone(),
        );
        registry.register(
            "udesk_calls_subscriptions",
            "Subscriptions running (callUpdated), all connections together",
            metrics.subscriptions.clone(),
        );
        registry.register(
            "udesk_calls_subscribers_too_slow",
            "WebSocket connections closed for being too slow: a subscription fell behind the updates, or the client took no message in time",
            metrics.too_slow.clone(),
        );
        metrics
    }
}
