//! The audit vocabulary's stored names, pinned: changing one would split the trail in two.

use super::{AuditAction, AuditFamily};

/// Every fixed action with its stored name, written out by hand on purpose: a rename fails here.
const NAMES: [(AuditAction, &str); 87] = [
    (AuditAction::EntityCreate, "entity.create"),
    (AuditAction::EntityList, "entity.list"),
    (AuditAction::EntityStatusSet, "entity.status.set"),
    (AuditAction::EntitySuspend, "entity.suspend"),
    (AuditAction::EntityReactivate, "entity.reactivate"),
    (AuditAction::UserCreate, "user.create"),
    (AuditAction::UserList, "user.list"),
    (AuditAction::UserProvision, "user.provision"),
    (AuditAction::UserReplace, "user.replace"),
    (AuditAction::UserUpdate, "user.update"),
    (AuditAction::UserDeprovision, "user.deprovision"),
    (AuditAction::UserErase, "user.erase"),
    (AuditAction::UserBind, "user.bind"),
    (AuditAction::ServiceAccountCreate, "service_account.create"),
    (AuditAction::RoleGrant, "role.grant"),
    (AuditAction::RoleRevoke, "role.revoke"),
    (AuditAction::RoleList, "role.list"),
    (AuditAction::KeyCreate, "key.create"),
    (AuditAction::KeyList, "key.list"),
    (AuditAction::KeyRevoke, "key.revoke"),
    (AuditAction::KeyRotate, "key.rotate"),
    (AuditAction::ScimTokenCreate, "scim_token.create"),
    (AuditAction::ScimTokenList, "scim_token.list"),
    (AuditAction::ScimTokenRevoke, "scim_token.revoke"),
    (AuditAction::TeamCreate, "team.create"),
    (AuditAction::TeamReplace, "team.replace"),
    (AuditAction::TeamUpdate, "team.update"),
    (AuditAction::TeamDelete, "team.delete"),
    (AuditAction::AuthSignIn, "auth.sign_in"),
    (AuditAction::AuthLoginLinkCreate, "auth.login_link.create"),
    (AuditAction::SessionList, "session.list"),
    (AuditAction::SessionRevoke, "session.revoke"),
    (AuditAction::AuditRead, "audit.read"),
    (AuditAction::SeatRead, "seat.read"),
    (AuditAction::SeatPoolSet, "seat.pool.set"),
    (AuditAction::SeatReservationSet, "seat.reservation.set"),
    (AuditAction::SeatAssign, "seat.assign"),
    (AuditAction::SeatReclaim, "seat.reclaim"),
    (AuditAction::SeatRelease, "seat.release"),
    (AuditAction::RateLimitRead, "rate_limit.read"),
    (AuditAction::RateLimitSet, "rate_limit.set"),
    (AuditAction::RateLimitDelete, "rate_limit.delete"),
    (AuditAction::BudgetRead, "budget.read"),
    (AuditAction::BudgetSet, "budget.set"),
    (AuditAction::BudgetDelete, "budget.delete"),
    (AuditAction::BudgetReset, "budget.reset"),
    (
        AuditAction::BudgetSoftThresholdReached,
        "budget.soft_threshold_reached",
    ),
    (AuditAction::PoolShareSet, "pool_share.set"),
    (AuditAction::PoolShareList, "pool_share.list"),
    (AuditAction::UsageRead, "usage.read"),
    (AuditAction::ChargebackRead, "chargeback.read"),
    (AuditAction::ContentRead, "content.read"),
    (AuditAction::RetentionPurge, "retention.purge"),
    (AuditAction::LegalHoldPlace, "legal_hold.place"),
    (AuditAction::LegalHoldLift, "legal_hold.lift"),
    (AuditAction::LegalHoldList, "legal_hold.list"),
    (AuditAction::PolicyFlagged, "policy.flagged"),
    (AuditAction::PolicyRelaxed, "policy.relaxed"),
    (AuditAction::PolicyRead, "policy.read"),
    (AuditAction::PolicyDryRun, "policy.dry_run"),
    (AuditAction::UseCaseCreate, "use_case.create"),
    (AuditAction::UseCaseUpdate, "use_case.update"),
    (AuditAction::UseCaseRead, "use_case.read"),
    (AuditAction::UseCaseVersionCreate, "use_case.version.create"),
    (AuditAction::UseCaseSubmit, "use_case.submit"),
    (AuditAction::UseCaseReturn, "use_case.return"),
    (AuditAction::UseCaseApprove, "use_case.approve"),
    (AuditAction::UseCaseDeploy, "use_case.deploy"),
    (AuditAction::UseCaseRolloutSet, "use_case.rollout.set"),
    (AuditAction::UseCaseRollback, "use_case.rollback"),
    (AuditAction::UseCaseRetire, "use_case.retire"),
    (AuditAction::UseCaseExport, "use_case.export"),
    (AuditAction::UseCaseDocumentAdd, "use_case.document.add"),
    (AuditAction::UseCaseDocumentRead, "use_case.document.read"),
    (
        AuditAction::UseCaseDocumentDelete,
        "use_case.document.delete",
    ),
    (AuditAction::EvalSuiteSet, "eval.suite.set"),
    (AuditAction::EvalRun, "eval.run"),
    (AuditAction::FileCreate, "file.create"),
    (AuditAction::FileDelete, "file.delete"),
    (AuditAction::BatchCreate, "batch.create"),
    (AuditAction::BatchCancel, "batch.cancel"),
    (AuditAction::LibraryCreate, "library.create"),
    (AuditAction::LibraryRead, "library.read"),
    (AuditAction::LibraryDelete, "library.delete"),
    (AuditAction::LibraryDocumentAdd, "library.document.add"),
    (
        AuditAction::LibraryDocumentDelete,
        "library.document.delete",
    ),
    (AuditAction::LibraryAsk, "library.ask"),
];

#[test]
fn every_fixed_action_keeps_its_stored_name_and_parses_back() {
    assert_eq!(AuditAction::FIXED.len(), NAMES.len());
    for (action, name) in NAMES {
        assert!(
            AuditAction::FIXED.contains(&action),
            "{name} is not in FIXED"
        );
        assert_eq!(action.as_str(), name);
        assert_eq!(action.to_string(), name);
        assert_eq!(AuditAction::parse(name), Some(action));
    }
}

#[test]
fn every_action_is_named_after_its_family() {
    for action in AuditAction::FIXED {
        let family = action.family();
        let name = action.as_str();
        assert!(
            name.strip_prefix(family.as_str())
                .is_some_and(|rest| rest.starts_with('.')),
            "{name} is not in the family {}",
            family.as_str()
        );
    }
    for family in AuditFamily::ALL {
        assert_eq!(AuditFamily::parse(family.as_str()), Some(family));
        let members = AuditAction::FIXED
            .iter()
            .filter(|a| a.family() == family)
            .count();
        assert!(
            members > 0 || family == AuditFamily::Inference,
            "{} has no action",
            family.as_str()
        );
    }
}

#[test]
fn a_refusal_is_named_after_its_error_code() {
    let refused = AuditAction::inference_refused("model_not_allowed");
    assert_eq!(refused.as_str(), "inference.model_not_allowed");
    assert_eq!(refused.family(), AuditFamily::Inference);
    let AuditAction::InferenceRefused(refusal) = &refused else {
        panic!("not a refusal: {refused:?}");
    };
    assert_eq!(refusal.code(), "model_not_allowed");
    assert_eq!(
        AuditAction::parse("inference.model_not_allowed"),
        Some(refused)
    );
}

#[test]
fn unknown_names_are_not_actions() {
    for name in [
        "",
        "key",
        "key.create.",
        "kye.create",
        "Key.create",
        "inference",
        "inference.",
        "inference.Bad-Code",
        "inference.a.b",
    ] {
        assert_eq!(AuditAction::parse(name), None, "{name:?}");
    }
    assert_eq!(AuditFamily::parse("keys"), None);
}

#[test]
fn actions_serialize_as_their_names() {
    let json = serde_json::to_string(&AuditAction::KeyRevoke).unwrap();
    assert_eq!(json, "\"key.revoke\"");
    let back: AuditAction = serde_json::from_str(&json).unwrap();
    assert_eq!(back, AuditAction::KeyRevoke);
    assert!(serde_json::from_str::<AuditAction>("\"key.destroy\"").is_err());
}
