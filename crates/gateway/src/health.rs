//! Active health checks: every endpoint is probed on an interval, so a dead endpoint's circuit opens
//! before callers meet it and a recovered one is probed back into service. Each round probes the
//! endpoints of the configuration in force then, at the interval it sets (`[routing]
//! health_check_interval_ms`): a reload that changes the interval, or turns the checks on or off,
//! applies from the next round.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::state::Gateway;

/// Starts the checks: the first round at once, when they are on.
pub fn spawn_health_checks(gateway: Arc<Gateway>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut due = Instant::now();
        loop {
            let reloaded = gateway.reloaded.notified();
            tokio::pin!(reloaded);
            // Registered before the configuration is read, so no reload goes unnoticed.
            reloaded.as_mut().enable();
            let Some(interval) = gateway.config().routing.health_check_interval else {
                reloaded.await;
                continue;
            };
            tokio::select! {
                () = tokio::time::sleep_until(due) => {
                    check_all(&gateway, interval.min(Duration::from_secs(5))).await;
                    due = Instant::now() + interval;
                }
                () = reloaded => due = due.min(Instant::now() + interval),
            }
        }
    })
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
