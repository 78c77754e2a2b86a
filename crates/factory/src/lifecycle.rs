//! How a version moves: `draft → in_review → approved → deployed → retired`, and back to `draft`
//! from review. Each move is a [`Transition`], made by one role, always with a reason (the admin
//! API refuses a move without one and audits every move it makes).
//!
//! Approval is the one move that may take two steps: a high-risk use case needs a second
//! approver, at group level and a different person ([`approval_need`]). A prohibited use case is
//! never approved, so never deployed. A high-risk use case is approved only once its impact
//! assessment is `completed` and at least one document is attached to it ([`impact_ready`]).

use serde::{Deserialize, Serialize};

use crate::registry::{ImpactAssessment, RiskClass, VersionState};

/// A move of a version from one state to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// `draft → in_review`: the engineer proposes it; its content is frozen from now on.
    Submit,
    /// `in_review → draft`: sent back (by the reviewer) or withdrawn (by the engineer).
    Return,
    /// `in_review → approved`: the owning entity's risk officer accepts it, on an evaluation run
    /// that passed the use case's thresholds.
    Approve,
    /// `approved → deployed`: the engineer puts it in service with a weight.
    Deploy,
    /// `deployed → approved`: taken out of service (by hand, or automatically when a canary
    /// crosses its thresholds); it may be deployed again.
    Rollback,
    /// `draft`, `approved` or `deployed` `→ retired`: for good.
    Retire,
}

/// Who makes a transition. The admin API's Cedar policies grant each role's actions; a test of
/// the admin crate checks that they grant exactly these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransitionRole {
    /// A factory engineer of the owning entity.
    FactoryEngineer,
    /// A risk or compliance officer of the owning entity, or of the group.
    RiskOfficer,
    /// Either of them.
    EngineerOrRiskOfficer,
}

/// Why a transition cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("a version in state `{}` cannot be {}", from.as_str(), transition.past_tense())]
    NotFrom {
        transition: Transition,
        from: VersionState,
    },
    #[error("a use case of risk class `prohibited` can never be approved or deployed")]
    Prohibited,
    #[error("the use case is retired")]
    UseCaseRetired,
    #[error("a reason is required for every transition")]
    MissingReason,
    #[error("`{0}` has already approved this version; a second approver must be someone else")]
    SameApprover(String),
    #[error(
        "a high-risk use case is approved only once its impact assessment is `completed` and at \
         least one document is attached (it is `{}`, with {documents} document(s))",
        impact.as_str()
    )]
    ImpactNotReady {
        impact: ImpactAssessment,
        documents: usize,
    },
}

impl Transition {
    pub const ALL: [Transition; 6] = [
        Transition::Submit,
        Transition::Return,
        Transition::Approve,
        Transition::Deploy,
        Transition::Rollback,
        Transition::Retire,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Submit => "submit",
            Transition::Return => "return",
            Transition::Approve => "approve",
            Transition::Deploy => "deploy",
            Transition::Rollback => "rollback",
            Transition::Retire => "retire",
        }
    }

    pub fn parse(name: &str) -> Option<Transition> {
        Transition::ALL.into_iter().find(|t| t.as_str() == name)
    }

    fn past_tense(self) -> &'static str {
        match self {
            Transition::Submit => "submitted for review",
            Transition::Return => "returned to draft",
            Transition::Approve => "approved",
            Transition::Deploy => "deployed",
            Transition::Rollback => "rolled back",
            Transition::Retire => "retired",
        }
    }

    /// Who makes it.
    pub fn role(self) -> TransitionRole {
        match self {
            Transition::Submit | Transition::Deploy | Transition::Rollback => {
                TransitionRole::FactoryEngineer
            }
            Transition::Approve => TransitionRole::RiskOfficer,
            Transition::Return | Transition::Retire => TransitionRole::EngineerOrRiskOfficer,
        }
    }

    /// The state a version in `from` reaches, for a use case of `risk`; approvals aside (see
    /// [`approval_need`]).
    pub fn target(
        self,
        from: VersionState,
        risk: RiskClass,
        reason: &str,
    ) -> Result<VersionState, LifecycleError> {
        use VersionState as S;
        if reason.trim().is_empty() {
            return Err(LifecycleError::MissingReason);
        }
        if risk == RiskClass::Prohibited && matches!(self, Transition::Approve | Transition::Deploy)
        {
            return Err(LifecycleError::Prohibited);
        }
        let to = match (self, from) {
            (Transition::Submit, S::Draft) => S::InReview,
            (Transition::Return, S::InReview) => S::Draft,
            (Transition::Approve, S::InReview) => S::Approved,
            (Transition::Deploy, S::Approved) => S::Deployed,
            (Transition::Rollback, S::Deployed) => S::Approved,
            (Transition::Retire, S::Draft | S::Approved | S::Deployed) => S::Retired,
            _ => {
                return Err(LifecycleError::NotFrom {
                    transition: self,
                    from,
                });
            }
        };
        Ok(to)
    }
}

/// One approval of a version in review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Who approved (the audit actor).
    pub approver: String,
    /// Whether the approver holds the risk role over the whole group, not only the entity.
    pub group_level: bool,
}

/// What an approval still needs after the ones given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalNeed {
    /// Enough: the version is approved.
    Complete,
    /// A high-risk use case: another approver, at group level, is still needed.
    SecondGroupApprover,
}

/// Whether `given` approvals (the newest last) approve a version of a use case of `risk`.
/// Minimal and limited risk: one approval. High risk: two, by different people, one of them at
/// group level. Prohibited: never (the transition refuses it before this is asked).
pub fn approval_need(risk: RiskClass, given: &[Approval]) -> Result<ApprovalNeed, LifecycleError> {
    if risk == RiskClass::Prohibited {
        return Err(LifecycleError::Prohibited);
    }
    if let Some((newest, earlier)) = given.split_last()
        && let Some(same) = earlier.iter().find(|a| a.approver == newest.approver)
    {
        return Err(LifecycleError::SameApprover(same.approver.clone()));
    }
    let enough = match risk {
        RiskClass::Minimal | RiskClass::Limited => !given.is_empty(),
        RiskClass::High => given.len() >= 2 && given.iter().any(|a| a.group_level),
        RiskClass::Prohibited => false,
    };
    Ok(if enough {
        ApprovalNeed::Complete
    } else {
        ApprovalNeed::SecondGroupApprover
    })
}

/// Whether a use case of `risk` may be approved with its impact assessment at `impact` and
/// `documents` documents attached: a high-risk one needs the assessment `completed` and at least
/// one document (the assessment itself, as evidence); other classes need neither.
pub fn impact_ready(
    risk: RiskClass,
    impact: ImpactAssessment,
    documents: usize,
) -> Result<(), LifecycleError> {
    if risk == RiskClass::High && (impact != ImpactAssessment::Completed || documents == 0) {
        return Err(LifecycleError::ImpactNotReady { impact, documents });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use RiskClass::*;
    use VersionState as S;

    #[test]
    fn every_transition_goes_from_one_state_to_its_next() {
        let table = [
            (Transition::Submit, S::Draft, S::InReview),
            (Transition::Return, S::InReview, S::Draft),
            (Transition::Approve, S::InReview, S::Approved),
            (Transition::Deploy, S::Approved, S::Deployed),
            (Transition::Rollback, S::Deployed, S::Approved),
            (Transition::Retire, S::Draft, S::Retired),
            (Transition::Retire, S::Approved, S::Retired),
            (Transition::Retire, S::Deployed, S::Retired),
        ];
        for transition in Transition::ALL {
            for from in VersionState::ALL {
                let expected = table
                    .iter()
                    .find(|(t, f, _)| *t == transition && *f == from)
                    .map(|(_, _, to)| *to);
                let got = transition.target(from, Limited, "because").ok();
                assert_eq!(got, expected, "{transition:?} from {from:?}");
            }
        }
    }

    #[test]
    fn a_transition_needs_a_reason() {
        assert_eq!(
            Transition::Submit.target(S::Draft, Minimal, "  "),
            Err(LifecycleError::MissingReason)
        );
    }

    #[test]
    fn a_prohibited_use_case_is_never_approved_or_deployed() {
        for t in [Transition::Approve, Transition::Deploy] {
            let from = if t == Transition::Approve {
                S::InReview
            } else {
                S::Approved
            };
            assert_eq!(
                t.target(from, Prohibited, "r"),
                Err(LifecycleError::Prohibited)
            );
        }
        assert_eq!(
            Transition::Submit.target(S::Draft, Prohibited, "r"),
            Ok(S::InReview)
        );
        assert!(approval_need(Prohibited, &[]).is_err());
    }

    #[test]
    fn high_risk_is_approved_with_a_completed_assessment_and_a_document_only() {
        use ImpactAssessment::*;
        for impact in ImpactAssessment::ALL {
            for documents in [0, 1, 3] {
                let ready = impact == Completed && documents > 0;
                assert_eq!(
                    impact_ready(High, impact, documents).is_ok(),
                    ready,
                    "{impact:?} with {documents}"
                );
                assert_eq!(impact_ready(Limited, impact, documents), Ok(()));
                assert_eq!(impact_ready(Minimal, impact, documents), Ok(()));
            }
        }
        let refused = impact_ready(High, InProgress, 0).unwrap_err().to_string();
        assert!(
            refused.contains("`in_progress`, with 0 document"),
            "{refused}"
        );
    }

    #[test]
    fn high_risk_needs_a_second_approver_at_group_level() {
        let entity = |who: &str| Approval {
            approver: who.into(),
            group_level: false,
        };
        let group = |who: &str| Approval {
            approver: who.into(),
            group_level: true,
        };
        assert_eq!(
            approval_need(Limited, &[entity("a")]),
            Ok(ApprovalNeed::Complete)
        );
        assert_eq!(
            approval_need(High, &[entity("a")]),
            Ok(ApprovalNeed::SecondGroupApprover)
        );
        assert_eq!(
            approval_need(High, &[entity("a"), entity("b")]),
            Ok(ApprovalNeed::SecondGroupApprover)
        );
        assert_eq!(
            approval_need(High, &[entity("a"), group("b")]),
            Ok(ApprovalNeed::Complete)
        );
        assert_eq!(
            approval_need(High, &[group("a"), group("a")]),
            Err(LifecycleError::SameApprover("a".into()))
        );
    }
}
