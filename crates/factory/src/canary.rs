//! When a canary is rolled back: a deployed version that is not the use case's main one (it has
//! less than half of the traffic weight) is taken out of service once, over enough requests to
//! judge, its error rate or its share of negative feedback crosses the use case's thresholds.

use serde::{Deserialize, Serialize};

/// A use case's rollback thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryRule {
    /// The highest share of failed requests (5xx, timeouts, output-schema violations), 0 to 1.
    #[serde(default = "default_error_rate")]
    pub max_error_rate: f64,
    /// The highest share of thumbs-down among the feedback given, 0 to 1.
    #[serde(default = "default_negative_rate")]
    pub max_negative_feedback_rate: f64,
    /// Requests (for the error rate) or feedback (for the feedback rate) seen before judging.
    #[serde(default = "default_min_samples")]
    pub min_samples: u64,
}

fn default_error_rate() -> f64 {
    0.05
}

fn default_negative_rate() -> f64 {
    0.3
}

fn default_min_samples() -> u64 {
    20
}

impl Default for CanaryRule {
    fn default() -> Self {
        CanaryRule {
            max_error_rate: default_error_rate(),
            max_negative_feedback_rate: default_negative_rate(),
            min_samples: default_min_samples(),
        }
    }
}

/// What a deployed version did since it was deployed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionStats {
    pub requests: u64,
    pub errors: u64,
    /// Requests the data policy refused (`domain::DATA_POLICY_REFUSALS`); not errors: the
    /// version did nothing wrong, the caller's input broke the policy.
    #[serde(default)]
    pub policy_refusals: u64,
    pub thumbs_up: u64,
    pub thumbs_down: u64,
}

/// Why a canary is rolled back, for its audit event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum Breach {
    ErrorRate {
        rate: f64,
        threshold: f64,
        requests: u64,
    },
    NegativeFeedback {
        rate: f64,
        threshold: f64,
        feedback: u64,
    },
}

impl Breach {
    /// The reason recorded with the rollback.
    pub fn reason(&self) -> String {
        match self {
            Breach::ErrorRate {
                rate,
                threshold,
                requests,
            } => format!(
                "automatic rollback: error rate {:.1} % over {requests} requests crossed {:.1} %",
                rate * 100.0,
                threshold * 100.0
            ),
            Breach::NegativeFeedback {
                rate,
                threshold,
                feedback,
            } => format!(
                "automatic rollback: {:.1} % negative feedback over {feedback} answers crossed {:.1} %",
                rate * 100.0,
                threshold * 100.0
            ),
        }
    }
}

/// Whether a canary with `stats` must be rolled back under `rule`.
pub fn breach(rule: &CanaryRule, stats: &VersionStats) -> Option<Breach> {
    let min = rule.min_samples.max(1);
    if stats.requests >= min {
        let rate = stats.errors as f64 / stats.requests as f64;
        if rate > rule.max_error_rate {
            return Some(Breach::ErrorRate {
                rate,
                threshold: rule.max_error_rate,
                requests: stats.requests,
            });
        }
    }
    let feedback = stats.thumbs_up + stats.thumbs_down;
    if feedback >= min {
        let rate = stats.thumbs_down as f64 / feedback as f64;
        if rate > rule.max_negative_feedback_rate {
            return Some(Breach::NegativeFeedback {
                rate,
                threshold: rule.max_negative_feedback_rate,
                feedback,
            });
        }
    }
    None
}

/// Whether a deployed version of `weight` is a canary among deployed versions weighing `total`:
/// it carries less than half of the traffic. The main version is never rolled back automatically.
pub fn is_canary(weight: u32, total: u32) -> bool {
    u64::from(weight) * 2 < u64::from(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> CanaryRule {
        CanaryRule {
            max_error_rate: 0.1,
            max_negative_feedback_rate: 0.5,
            min_samples: 10,
        }
    }

    #[test]
    fn crossing_a_threshold_over_enough_samples_rolls_back() {
        let stats = |requests, errors, up, down| VersionStats {
            requests,
            errors,
            thumbs_up: up,
            thumbs_down: down,
            ..VersionStats::default()
        };
        assert_eq!(breach(&rule(), &stats(9, 9, 0, 0)), None, "too few");
        assert_eq!(
            breach(&rule(), &stats(10, 1, 0, 0)),
            None,
            "at the threshold"
        );
        assert!(matches!(
            breach(&rule(), &stats(10, 2, 0, 0)),
            Some(Breach::ErrorRate { requests: 10, .. })
        ));
        assert!(matches!(
            breach(&rule(), &stats(100, 0, 4, 6)),
            Some(Breach::NegativeFeedback { feedback: 10, .. })
        ));
        assert_eq!(breach(&rule(), &stats(100, 0, 5, 5)), None);
    }

    #[test]
    fn only_a_minority_version_is_a_canary() {
        assert!(is_canary(10, 100));
        assert!(!is_canary(50, 100));
        assert!(!is_canary(90, 100));
    }
}
