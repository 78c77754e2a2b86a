//! An evaluation run's summary: the pass rate (cases whose every expectation passed), the mean
//! score per grader, cost and latency; the gate a version must pass to be approved; and the
//! regressions against a baseline run (the deployed version's, on the same suite).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::grading::{Grade, GraderKind};
use crate::registry::Thresholds;

/// One case's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    pub case_id: String,
    /// The model's answer, when the call succeeded.
    pub answer: Option<String>,
    /// Why the call failed, when it did.
    pub error: Option<String>,
    pub grades: Vec<Grade>,
    pub latency_ms: u64,
    pub cost_micros: u64,
}

impl CaseResult {
    /// Whether every expectation passed (a failed call passes none).
    pub fn passed(&self) -> bool {
        self.error.is_none() && !self.grades.is_empty() && self.grades.iter().all(|g| g.passed)
    }
}

/// What a run adds up to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub cases: u64,
    pub passed: u64,
    pub pass_rate: f64,
    /// Mean score per grader, over the cases that use it.
    pub scores: BTreeMap<GraderKind, f64>,
    pub cost_micros: u64,
    pub latency_p50_ms: u64,
    pub latency_p95_ms: u64,
}

/// Sums up `results`.
pub fn summarize(results: &[CaseResult]) -> Summary {
    let cases = results.len() as u64;
    let passed = results.iter().filter(|r| r.passed()).count() as u64;
    let mut sums: BTreeMap<GraderKind, (f64, u64)> = BTreeMap::new();
    for grade in results.iter().flat_map(|r| &r.grades) {
        let entry = sums.entry(grade.grader).or_default();
        entry.0 += grade.score;
        entry.1 += 1;
    }
    let mut latencies: Vec<u64> = results.iter().map(|r| r.latency_ms).collect();
    latencies.sort_unstable();
    let percentile = |p: usize| {
        latencies
            .get((latencies.len() * p / 100).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    Summary {
        cases,
        passed,
        pass_rate: if cases == 0 {
            0.0
        } else {
            passed as f64 / cases as f64
        },
        scores: sums
            .into_iter()
            .map(|(kind, (sum, n))| (kind, sum / n.max(1) as f64))
            .collect(),
        cost_micros: results.iter().map(|r| r.cost_micros).sum(),
        latency_p50_ms: percentile(50),
        latency_p95_ms: percentile(95),
    }
}

/// Why a run does not let its version be approved.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GateRefusal {
    #[error("pass rate {got:.3} is below the use case's threshold {want:.3}")]
    PassRate { got: f64, want: f64 },
    #[error("mean `{grader}` score {got:.3} is below the use case's threshold {want:.3}")]
    Score { grader: String, got: f64, want: f64 },
    #[error("the suite has no case")]
    Empty,
}

/// Whether `summary` passes `thresholds`.
pub fn gate(thresholds: &Thresholds, summary: &Summary) -> Result<(), GateRefusal> {
    if summary.cases == 0 {
        return Err(GateRefusal::Empty);
    }
    if summary.pass_rate < thresholds.pass_rate {
        return Err(GateRefusal::PassRate {
            got: summary.pass_rate,
            want: thresholds.pass_rate,
        });
    }
    for (grader, want) in &thresholds.min_scores {
        let got = GraderKind::parse(grader)
            .and_then(|kind| summary.scores.get(&kind).copied())
            .unwrap_or(0.0);
        if got < *want {
            return Err(GateRefusal::Score {
                grader: grader.clone(),
                got,
                want: *want,
            });
        }
    }
    Ok(())
}

/// The cases that passed in `baseline` and fail in `run`, by id.
pub fn regressions(run: &[CaseResult], baseline: &[CaseResult]) -> Vec<String> {
    let passed_before: std::collections::HashSet<&str> = baseline
        .iter()
        .filter(|r| r.passed())
        .map(|r| r.case_id.as_str())
        .collect();
    run.iter()
        .filter(|r| !r.passed() && passed_before.contains(r.case_id.as_str()))
        .map(|r| r.case_id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str, passed: bool, latency_ms: u64) -> CaseResult {
        CaseResult {
            case_id: id.into(),
            answer: Some("a".into()),
            error: None,
            grades: vec![Grade {
                grader: GraderKind::Exact,
                score: if passed { 1.0 } else { 0.0 },
                passed,
                detail: String::new(),
            }],
            latency_ms,
            cost_micros: 10,
        }
    }

    #[test]
    fn a_run_is_summed_gated_and_compared() {
        let run = [
            result("a", true, 10),
            result("b", false, 20),
            result("c", true, 30),
        ];
        let summary = summarize(&run);
        assert_eq!(
            (summary.cases, summary.passed, summary.cost_micros),
            (3, 2, 30)
        );
        assert_eq!(summary.latency_p50_ms, 20);
        assert!(
            gate(
                &Thresholds {
                    pass_rate: 0.6,
                    ..Thresholds::default()
                },
                &summary
            )
            .is_ok()
        );
        assert!(matches!(
            gate(&Thresholds::default(), &summary),
            Err(GateRefusal::PassRate { .. })
        ));
        let strict = Thresholds {
            pass_rate: 0.0,
            min_scores: [("exact".to_owned(), 0.9)].into(),
        };
        assert!(matches!(
            gate(&strict, &summary),
            Err(GateRefusal::Score { .. })
        ));
        let baseline = [result("a", true, 1), result("b", true, 1)];
        assert_eq!(regressions(&run, &baseline), ["b"]);
    }
}
