//! The audit evidence's health: whether the checkpointer refuses to sign because the stored trail no
//! longer descends from its last checkpoint, and how many signed checkpoints still wait to be
//! published outside the database. Both are set by the checkpointer as it runs; either above 0 for
//! long is worth an alert.

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Default)]
pub struct EvidenceMetrics {
    /// 1 while the checkpointer refuses to sign, 0 otherwise.
    pub checkpoints_refused: Gauge,
    /// Checkpoints signed but not yet accepted by every publication target.
    pub checkpoints_unpublished: Gauge,
}

impl EvidenceMetrics {
    pub(crate) fn register(registry: &mut Registry) -> EvidenceMetrics {
        let metrics = EvidenceMetrics::default();
        registry.register(
            "audit_checkpoints_refused",
            "1 while audit checkpoints are refused because the stored trail does not descend from the last checkpoint (tampering), else 0",
            metrics.checkpoints_refused.clone(),
        );
        registry.register(
            "audit_checkpoints_unpublished",
            "Signed audit checkpoints not yet accepted by the publish file or the witness",
            metrics.checkpoints_unpublished.clone(),
        );
        metrics
    }
}
