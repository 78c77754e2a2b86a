//! The shipped Cedar schema and default policies against every admin action and role.

use domain::{EntityId, KeyId, KeyOwner, Role, RoleGrant, UserId};
use identity::Principal;

use super::{DEFAULT_POLICIES, Engine, SCHEMA};
use crate::AdminAction;

fn caller(roles: &[(Role, Option<EntityId>)]) -> Principal {
    Principal {
        key_id: Some(KeyId::generate()),
        owner: KeyOwner::User(UserId::generate()),
        entity_id: None,
        entity_slug: None,
        roles: roles
            .iter()
            .map(|&(role, entity_id)| RoleGrant { role, entity_id })
            .collect(),
        classification: None,
        models: None,
        expires_at: None,
        priority: None,
    }
}

fn engine() -> Engine {
    Engine::new(DEFAULT_POLICIES).unwrap_or_else(|errors| panic!("{errors:#?}"))
}

#[test]
fn the_default_policies_validate_against_the_schema() {
    engine();
}

#[test]
fn every_action_is_declared_in_the_schema_and_nothing_more() {
    for action in AdminAction::ALL {
        assert!(
            SCHEMA.contains(&format!("\"{}\"", action.audit_action().as_str())),
            "{} is missing from the schema",
            action.audit_action().as_str()
        );
    }
    let declared = SCHEMA.matches("\"").count() / 2;

    assert_eq!(
        declared,
        AdminAction::ALL.len(),
        "the schema declares other actions"
    );
}

#[test]
fn every_action_makes_a_valid_request_on_the_group_and_on_an_entity() {
    let engine = engine();
    let admin = caller(&[(Role::GroupAdmin, None)]);
    for action in AdminAction::ALL {
        if action.on_library() {
            let library = library(Some(EntityId::generate()), &[], &[]);
            assert!(
                engine.allows_on_library(&admin, &[], action, &library),
                "{action:?}"
            );
            continue;
        }
        for target in [None, Some(EntityId::generate())] {
            let carried = match action.changes_roles() {
                true => vec![RoleGrant {
                    role: Role::Auditor,
                    entity_id: target,
                }],
                false => Vec::new(),
            };
            assert_eq!(
                engine.decide(&admin, action, target, &carried),
                Ok(true),
                "{}",
                action.audit_action().as_str()
            );
        }
    }
}

fn library(
    entity_id: Option<EntityId>,
    readers: &[&str],
    editors: &[&str],
) -> store::StoredLibrary {
    let tags = |tags: &[&str]| tags.iter().map(|t| (*t).to_owned()).collect();
    store::StoredLibrary {
        id: "lib_test".into(),
        entity_id,
        name: "Test".into(),
        description: String::new(),
        classification: "internal".into(),
        retention_days: None,
        readers: tags(readers),
        editors: tags(editors),
        embedding_model: None,
        created_by: "test".into(),
        created_at: 0,
    }
}

/// Readers read, editors also change documents, the owning entity's administrators also delete;
/// nobody else, whatever their roles elsewhere.
#[test]
fn a_library_is_read_and_changed_by_whom_it_names() {
    let engine = engine();
    let acme = EntityId::generate();
    let other = EntityId::generate();
    let library = library(Some(acme), &["team:legal"], &["user:ed"]);
    let nobody = caller(&[(Role::User, Some(acme))]);
    let acme_admin = caller(&[(Role::EntityAdmin, Some(acme))]);
    let other_admin = caller(&[(Role::EntityAdmin, Some(other))]);
    let tags = |tags: &[&str]| -> Vec<String> { tags.iter().map(|t| (*t).to_owned()).collect() };
    let reader = tags(&["user:rita", "team:legal"]);
    let editor = tags(&["user:ed"]);
    let stranger = tags(&["user:gus", "entity:globex"]);
    for action in AdminAction::ALL.into_iter().filter(|a| a.on_library()) {
        let (reads, edits) = (
            action == AdminAction::ReadLibrary,
            action != AdminAction::DeleteLibrary,
        );
        assert_eq!(
            engine.allows_on_library(&nobody, &reader, action, &library),
            reads,
            "{action:?}"
        );
        assert_eq!(
            engine.allows_on_library(&nobody, &editor, action, &library),
            edits,
            "{action:?}"
        );
        assert!(
            !engine.allows_on_library(&nobody, &stranger, action, &library),
            "{action:?}"
        );
        assert!(
            engine.allows_on_library(&acme_admin, &stranger, action, &library),
            "{action:?}"
        );
        assert!(
            !engine.allows_on_library(&other_admin, &stranger, action, &library),
            "{action:?}"
        );
    }
    assert!(engine.allows(&acme_admin, AdminAction::CreateLibrary, Some(acme), &[]));
    assert!(!engine.allows(&acme_admin, AdminAction::CreateLibrary, None, &[]));
    assert!(!engine.allows(&nobody, AdminAction::CreateLibrary, Some(acme), &[]));
}

#[test]
fn entity_administrators_run_their_entity_only() {
    let engine = engine();
    let acme = EntityId::generate();
    let other = EntityId::generate();
    let admin = caller(&[(Role::EntityAdmin, Some(acme))]);
    for action in [
        AdminAction::CreateUser,
        AdminAction::ListKeys,
        AdminAction::SetBudget,
        AdminAction::ReadAudit,
        AdminAction::ReadChargeback,
    ] {
        assert!(engine.allows(&admin, action, Some(acme), &[]), "{action:?}");
        assert!(
            !engine.allows(&admin, action, Some(other), &[]),
            "{action:?}"
        );
        assert!(!engine.allows(&admin, action, None, &[]), "{action:?}");
    }
    for action in [
        AdminAction::CreateEntity,
        AdminAction::CreateScimToken,
        AdminAction::SetSeatPool,
        AdminAction::SetSeatReservation,
        AdminAction::SetPoolShare,
    ] {
        assert!(
            !engine.allows(&admin, action, Some(acme), &[]),
            "{action:?}"
        );
    }
}

#[test]
fn nobody_below_the_group_administrators_hands_out_more_than_one_entity() {
    let engine = engine();
    let acme = EntityId::generate();
    let other = EntityId::generate();
    let admin = caller(&[(Role::EntityAdmin, Some(acme))]);
    let grant = |role, entity_id| RoleGrant { role, entity_id };
    let within = [
        grant(Role::EntityAdmin, Some(acme)),
        grant(Role::User, None),
    ];
    assert!(engine.allows(&admin, AdminAction::CreateKey, Some(acme), &within));
    for beyond in [
        grant(Role::GroupAdmin, None),
        grant(Role::Auditor, None),
        grant(Role::EntityAdmin, Some(other)),
    ] {
        for action in [AdminAction::CreateKey, AdminAction::RevokeKey] {
            assert!(
                !engine.allows(&admin, action, Some(acme), &[beyond]),
                "{action:?} with {beyond:?}"
            );
        }
    }
    let group_admin = caller(&[(Role::GroupAdmin, None)]);
    assert!(engine.allows(
        &group_admin,
        AdminAction::CreateKey,
        Some(acme),
        &[grant(Role::GroupAdmin, None)]
    ));
}

/// What factory engineers do with their entity's use cases, besides reading their usage.
fn builds_use_cases(action: AdminAction) -> bool {
    matches!(
        action,
        AdminAction::ReadUseCases
            | AdminAction::CreateUseCase
            | AdminAction::UpdateUseCase
            | AdminAction::CreateVersion
            | AdminAction::SetSuite
            | AdminAction::RunEvaluation
            | AdminAction::SetRollout
            | AdminAction::AddUseCaseDocument
            | AdminAction::ReadUseCaseDocuments
            | AdminAction::DeleteUseCaseDocument
    ) || factory::Transition::ALL.into_iter().any(|t| {
        AdminAction::for_transition(t) == action && t.role() != factory::TransitionRole::RiskOfficer
    })
}

/// The default policies grant each lifecycle transition to exactly the role `factory` names:
/// engineers propose and deploy, risk officers approve, either returns or retires; a group-wide
/// risk officer reviews every entity, an entity's only their own.
#[test]
fn the_policies_grant_each_transition_to_the_role_the_factory_names() {
    use factory::{Transition, TransitionRole};
    let engine = engine();
    let acme = EntityId::generate();
    let other = EntityId::generate();
    let engineer = caller(&[(Role::FactoryEngineer, Some(acme))]);
    let officer = caller(&[(Role::RiskOfficer, Some(acme))]);
    let group_officer = caller(&[(Role::RiskOfficer, None)]);
    for transition in Transition::ALL {
        let action = AdminAction::for_transition(transition);
        let (engineers, officers) = match transition.role() {
            TransitionRole::FactoryEngineer => (true, false),
            TransitionRole::RiskOfficer => (false, true),
            TransitionRole::EngineerOrRiskOfficer => (true, true),
        };
        assert_eq!(
            engine.allows(&engineer, action, Some(acme), &[]),
            engineers,
            "{transition:?}"
        );
        assert_eq!(
            engine.allows(&officer, action, Some(acme), &[]),
            officers,
            "{transition:?}"
        );
        assert_eq!(
            engine.allows(&group_officer, action, Some(other), &[]),
            officers,
            "{transition:?}"
        );
        assert!(
            !engine.allows(&engineer, action, Some(other), &[]),
            "{transition:?}"
        );
        assert!(
            !engine.allows(&officer, action, Some(other), &[]),
            "{transition:?}"
        );
    }
}

/// A compliance officer has exactly a risk officer's rights, action by action, in their entity and
/// group-wide: none elsewhere, none over other entities' use cases when held in one entity.
#[test]
fn a_compliance_officer_reviews_as_a_risk_officer_does() {
    let engine = engine();
    let acme = EntityId::generate();
    let other = EntityId::generate();
    for scope in [Some(acme), None] {
        let risk = caller(&[(Role::RiskOfficer, scope)]);
        let compliance = caller(&[(Role::ComplianceOfficer, scope)]);
        for action in AdminAction::ALL.into_iter().filter(|a| !a.on_library()) {
            for target in [Some(acme), Some(other), None] {
                assert_eq!(
                    engine.allows(&compliance, action, target, &[]),
                    engine.allows(&risk, action, target, &[]),
                    "{action:?} on {target:?}, held over {scope:?}"
                );
            }
        }
    }
    let officer = caller(&[(Role::ComplianceOfficer, Some(acme))]);
    assert!(engine.allows(&officer, AdminAction::ApproveVersion, Some(acme), &[]));
    assert!(!engine.allows(&officer, AdminAction::ApproveVersion, Some(other), &[]));
    assert!(!engine.allows(&officer, AdminAction::DeployVersion, Some(acme), &[]));
}

/// A use case the group owns (no owning entity) is built by the group's factory engineers and
/// evaluated by them or by the group's risk officers, who must rerun the run they approve on; an
/// entity's engineer builds none of the group's, and a group engineer approves nothing.
#[test]
fn the_groups_engineers_and_risk_officers_evaluate_the_groups_use_cases() {
    let engine = engine();
    let acme = EntityId::generate();
    let group_engineer = caller(&[(Role::FactoryEngineer, None)]);
    let group_officer = caller(&[(Role::RiskOfficer, None)]);
    let engineer = caller(&[(Role::FactoryEngineer, Some(acme))]);
    for action in AdminAction::ALL {
        assert_eq!(
            engine.allows(&group_engineer, action, None, &[]),
            builds_use_cases(action),
            "{action:?}"
        );
        assert!(!engine.allows(&engineer, action, None, &[]), "{action:?}");
    }
    assert!(engine.allows(&group_officer, AdminAction::RunEvaluation, None, &[]));
    assert!(!engine.allows(&group_engineer, AdminAction::ApproveVersion, None, &[]));
    assert!(
        !engine.allows(&group_engineer, AdminAction::CreateVersion, Some(acme), &[]),
        "the group's engineers build the group's use cases, not an entity's"
    );
}

#[test]
fn nobody_below_the_group_administrators_grants_a_role_wider_than_their_own() {
    let engine = engine();
    let acme = EntityId::generate();
    let other = EntityId::generate();
    let admin = caller(&[(Role::EntityAdmin, Some(acme))]);
    let grant = |role, entity_id| RoleGrant { role, entity_id };
    for action in [AdminAction::GrantRole, AdminAction::RevokeRole] {
        for within in [
            grant(Role::EntityAdmin, Some(acme)),
            grant(Role::User, Some(acme)),
        ] {
            assert!(
                engine.allows(&admin, action, Some(acme), &[within]),
                "{action:?} {within:?}"
            );
        }
        // Roles the administrator does not hold over acme, roles over another entity, and
        // group-wide roles.
        for (beyond, target) in [
            (grant(Role::Auditor, Some(acme)), Some(acme)),
            (grant(Role::FactoryEngineer, Some(acme)), Some(acme)),
            (grant(Role::RiskOfficer, Some(acme)), Some(acme)),
            (grant(Role::ComplianceOfficer, Some(acme)), Some(acme)),
            (grant(Role::EntityAdmin, Some(other)), Some(other)),
            (grant(Role::EntityAdmin, Some(other)), Some(acme)),
            (grant(Role::GroupAdmin, None), None),
            (grant(Role::GroupAdmin, None), Some(acme)),
            (grant(Role::Auditor, None), None),
        ] {
            assert!(
                !engine.allows(&admin, action, target, &[beyond]),
                "{action:?} {beyond:?} on {target:?}"
            );
        }
        // A decision without the grant concerned cannot be made, and is a denial.
        assert!(!engine.allows(&admin, action, Some(acme), &[]));
    }
    // Holding a role over the entity lets its administrator hand it on there.
    let engineer_admin = caller(&[
        (Role::EntityAdmin, Some(acme)),
        (Role::FactoryEngineer, Some(acme)),
    ]);
    let engineer = grant(Role::FactoryEngineer, Some(acme));
    assert!(engine.allows(
        &engineer_admin,
        AdminAction::GrantRole,
        Some(acme),
        &[engineer]
    ));
    // An auditor holds a role but changes none.
    let auditor = caller(&[(Role::Auditor, Some(acme))]);
    let audit = grant(Role::Auditor, Some(acme));
    assert!(!engine.allows(&auditor, AdminAction::GrantRole, Some(acme), &[audit]));
    let group_admin = caller(&[(Role::GroupAdmin, None)]);
    assert!(engine.allows(
        &group_admin,
        AdminAction::GrantRole,
        None,
        &[grant(Role::GroupAdmin, None)]
    ));
}

#[test]
fn auditors_and_factory_engineers_only_read() {
    let engine = engine();
    let acme = EntityId::generate();
    let group_auditor = caller(&[(Role::Auditor, None)]);
    let auditor = caller(&[(Role::Auditor, Some(acme))]);
    let engineer = caller(&[(Role::FactoryEngineer, Some(acme))]);
    for action in AdminAction::ALL {
        let reads = matches!(
            action,
            AdminAction::ListUsers
                | AdminAction::ListKeys
                | AdminAction::ListSessions
                | AdminAction::ReadAudit
                | AdminAction::ReadSeats
                | AdminAction::ReadRateLimits
                | AdminAction::ReadBudgets
                | AdminAction::ReadUsage
                | AdminAction::ReadChargeback
                | AdminAction::ReadContent
                | AdminAction::ListLegalHolds
                | AdminAction::ListRoleGrants
                | AdminAction::ReadUseCases
                | AdminAction::ExportRegister
                | AdminAction::ReadUseCaseDocuments
                | AdminAction::ReadPolicy
                | AdminAction::DryRunPolicy
        );
        assert_eq!(
            engine.allows(&group_auditor, action, None, &[]),
            reads || action == AdminAction::ListEntities,
            "{action:?}"
        );
        assert_eq!(
            engine.allows(&auditor, action, Some(acme), &[]),
            reads,
            "{action:?}"
        );
        assert!(!engine.allows(&auditor, action, None, &[]), "{action:?}");
        assert_eq!(
            engine.allows(&engineer, action, Some(acme), &[]),
            action == AdminAction::ReadUsage || builds_use_cases(action),
            "{action:?}"
        );
    }
    let user = caller(&[(Role::User, Some(acme))]);
    for action in AdminAction::ALL {
        assert!(!engine.allows(&user, action, Some(acme), &[]), "{action:?}");
    }
}

/// A use case's owners attach, read and delete its documents whatever their roles, and nothing
/// more; those who are not its owners need a role: engineers add and delete, risk and compliance
/// officers read.
#[test]
fn owners_engineers_and_reviewers_reach_a_use_cases_documents() {
    let engine = engine();
    let acme = EntityId::generate();
    let user = caller(&[(Role::User, Some(acme))]);
    let officer = caller(&[(Role::RiskOfficer, Some(acme))]);
    let compliance = caller(&[(Role::ComplianceOfficer, None)]);
    let engineer = caller(&[(Role::FactoryEngineer, Some(acme))]);
    let documents = [
        AdminAction::AddUseCaseDocument,
        AdminAction::ReadUseCaseDocuments,
        AdminAction::DeleteUseCaseDocument,
    ];
    for action in AdminAction::ALL.into_iter().filter(|a| !a.on_library()) {
        for target in [Some(acme), None] {
            assert_eq!(
                engine.allows_on_use_case(&user, action, target, true),
                documents.contains(&action),
                "an owner: {action:?} on {target:?}"
            );
        }
    }
    for action in documents {
        let read = action == AdminAction::ReadUseCaseDocuments;
        assert!(!engine.allows_on_use_case(&user, action, Some(acme), false));
        assert_eq!(
            engine.allows_on_use_case(&officer, action, Some(acme), false),
            read
        );
        assert_eq!(
            engine.allows_on_use_case(&compliance, action, Some(acme), false),
            read
        );
        assert!(engine.allows_on_use_case(&engineer, action, Some(acme), false));
        assert!(!engine.allows_on_use_case(&engineer, action, Some(EntityId::generate()), false));
    }
}

#[test]
fn a_broken_policy_set_is_refused_with_each_error_located() {
    let errors = Engine::new("permit (principal, action, resource)\nwhen { principal.nope };")
        .err()
        .expect("an unknown attribute is refused");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("line 2, column"), "{errors:?}");
    let errors =
        Engine::new("permit (principal, action == Fabrique::Action::\"key.mint\", resource);")
            .err()
            .expect("an unknown action is refused");
    assert!(errors[0].contains("key.mint"), "{errors:?}");
    let errors = Engine::new("permit (principal, action, resource")
        .err()
        .expect("a syntax error is refused");
    assert!(errors[0].starts_with("line 1, column"), "{errors:?}");
}
