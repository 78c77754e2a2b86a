//! Active health checks: every endpoint is probed on an interval, so a dead endpoint's circuit opens
//! before callers meet it and a recovered one is probed back into service. Each round probes the
//! endpoints of the configuration in force then (`[routing]`, which sets the interval, is read
//! at start).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::state::Gateway;

/// Starts the checks, or returns `None` when they are disabled in the configuration.
pub fn spawn_health_checks(gateway: Arc<Gateway>) -> Option<JoinHandle<()>> {
    let interval = gateway.config().routing.health_check_interval?;
    Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            check_all(&gateway, interval.min(Duration::from_secs(5))).await;
        }
    }))
}

async fn check_all(gateway: &Gateway, timeout: Duration) {
    let configured = gateway.configured();
    let routing = &configured.routing;
    let checks = configured.catalog.endpoints().map(|(index, endpoint)| async move {
        let uri = match &endpoint.health_path {
            Some(path) => endpoint.target.origin_uri(path),
            None => endpoint.target.api_uri("/models"),
        };
        let healthy = match uri {
            Ok(uri) => matches!(routing.client.get_status(&endpoint.target, uri, timeout).await, Ok(s) if (200..300).contains(&s)),
            Err(_) => false,
        };
        if !healthy {
            tracing::warn!(endpoint = %endpoint.name, "active health check failed");
        }
        routing.health.observe_health(index, healthy);
        routing.metrics.set_endpoint_up(&endpoint.name, healthy);
    });
    futures_util::future::join_all(checks).await;
    gateway.scheduling.refresh_capacity();
}
