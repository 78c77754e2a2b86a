//! `fabrique simulate`: the running server as the workload simulator's platform (the `simulate`
//! crate), started in-process on a loopback port with the simulator's administrator key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::server::{RunningServer, start};

/// Replays the scenario at `path` through servers started here and prints the report.
pub async fn run(path: &Path, svg: Option<PathBuf>) -> anyhow::Result<()> {
    let report = simulate::run(path, svg, |config, admin_key| {
        start(config, Some(admin_key))
    })
    .await?;
    crate::output::print_lines(&report)
}

impl simulate::Platform for RunningServer {
    fn base_url(&self) -> String {
        RunningServer::base_url(self)
    }

    fn scheduler(&self) -> Option<Arc<scheduler::Scheduler>> {
        self.gateway.scheduling.scheduler().cloned()
    }

    async fn shutdown(self) {
        RunningServer::shutdown(self).await;
    }
}

#[cfg(test)]
mod tests {
    /// The simulator reads the gateway's queue-wait header by name: the name must be the
    /// gateway's.
    #[test]
    fn the_simulator_reads_the_gateways_queue_wait_header() {
        assert_eq!(simulate::QUEUE_WAIT_HEADER, gateway::QUEUE_WAIT_HEADER);
    }
}
