//! Sessions' contract: timeouts, the provider's roles for their time only, and every way a
//! session ends.

use std::sync::Arc;
use std::time::Duration;

use domain::{EntityId, Role, RoleGrant, Status, UserId};

use super::*;
use crate::UserRecord;

const MINUTE: i64 = 60_000;

fn limits() -> SessionLimits {
    SessionLimits {
        idle: Duration::from_secs(600),
        absolute: Duration::from_secs(3600),
        role_ttl: Duration::from_secs(300),
    }
}

fn user(name: &str, entity: EntityId) -> UserRecord {
    UserRecord {
        id: UserId::generate(),
        user_name: Arc::from(name),
        entity_id: entity,
        entity_slug: Arc::from("acme"),
        status: Status::Active,
        entity_status: Status::Active,
        roles: Vec::new(),
        subjects: Vec::new(),
    }
}

async fn open(directory: &Directory, user: UserId, roles: Vec<RoleGrant>, now: i64) -> String {
    let (_, secret) = directory
        .open_session(user, roles, SignInMethod::Provider, limits(), now)
        .await
        .unwrap();
    secret.expose().to_owned()
}

#[tokio::test]
async fn a_session_ends_when_idle_or_at_its_absolute_timeout_whatever_its_use() {
    let directory = Directory::new();
    let ada = user("ada", EntityId::generate());
    let ada_id = ada.id;
    directory.upsert_user(ada);
    let secret = open(&directory, ada_id, vec![], 0).await;
    assert!(secret.starts_with("fabw_"));
    let principal = directory
        .session_principal(&secret, 9 * MINUTE)
        .await
        .unwrap();
    assert_eq!(principal.user_id(), Some(ada_id));
    // Used every nine minutes, it outlives its ten-minute idle timeout…
    for minute in (18..60).step_by(9) {
        assert!(
            directory
                .session_principal(&secret, minute * MINUTE)
                .await
                .is_ok()
        );
    }
    // …but never its hour.
    assert_eq!(
        directory.session_principal(&secret, 60 * MINUTE).await,
        Err(SessionRefused::NoSession)
    );
    let idle = open(&directory, ada_id, vec![], 0).await;
    assert_eq!(
        directory.session_principal(&idle, 10 * MINUTE).await,
        Err(SessionRefused::NoSession)
    );
    assert_eq!(
        directory.session_principal("fabw_made-up", 0).await,
        Err(SessionRefused::NoSession)
    );
}

#[tokio::test]
async fn the_providers_roles_hold_for_their_time_to_live_only() {
    let directory = Directory::new();
    let entity = EntityId::generate();
    let ada = user("ada", entity);
    let ada_id = ada.id;
    directory.upsert_user(ada);
    let auditor = RoleGrant {
        role: Role::Auditor,
        entity_id: Some(entity),
    };
    let secret = open(&directory, ada_id, vec![auditor], 0).await;
    let early = directory.session_principal(&secret, MINUTE).await.unwrap();
    assert!(early.has_role(Role::Auditor, Some(entity)));
    let later = directory
        .session_principal(&secret, 5 * MINUTE)
        .await
        .unwrap();
    assert!(!later.has_role(Role::Auditor, Some(entity)));
}

#[tokio::test]
async fn rename_suspension_and_deletion_end_sessions_and_a_namesake_inherits_none() {
    let directory = Directory::new();
    let entity = EntityId::generate();
    let ada = user("ada", entity);
    let ada_id = ada.id;
    directory.upsert_user(ada.clone());
    let renamed_session = open(&directory, ada_id, vec![], 0).await;
    directory.upsert_user(UserRecord {
        user_name: Arc::from("ada.lovelace"),
        ..ada.clone()
    });
    assert_eq!(
        directory.session_principal(&renamed_session, 1).await,
        Err(SessionRefused::NoSession)
    );
    // The name is free again and taken by someone else: they get nothing of Ada's.
    let namesake = user("ada", entity);
    directory.upsert_user(namesake.clone());
    assert!(directory.sessions(None, 1).await.unwrap().is_empty());

    let suspended_session = open(&directory, namesake.id, vec![], 0).await;
    directory.upsert_user(UserRecord {
        status: Status::Suspended,
        ..namesake.clone()
    });
    assert_eq!(
        directory.session_principal(&suspended_session, 1).await,
        Err(SessionRefused::NoSession)
    );
    directory.upsert_user(namesake.clone());
    let deleted_session = open(&directory, namesake.id, vec![], 0).await;
    directory.remove_user(namesake.id);
    assert_eq!(
        directory.session_principal(&deleted_session, 1).await,
        Err(SessionRefused::NoSession)
    );
}

#[tokio::test]
async fn an_entity_suspension_ends_its_users_sessions_only() {
    let directory = Directory::new();
    let (acme, globex) = (EntityId::generate(), EntityId::generate());
    let (ada, bob) = (user("ada", acme), user("bob", globex));
    let (ada_id, bob_id) = (ada.id, bob.id);
    directory.upsert_user(ada);
    directory.upsert_user(bob);
    let ada_session = open(&directory, ada_id, vec![], 0).await;
    let bob_session = open(&directory, bob_id, vec![], 0).await;
    directory.suspend_entity(acme);
    assert!(directory.session_principal(&ada_session, 1).await.is_err());
    assert!(directory.session_principal(&bob_session, 1).await.is_ok());
}

#[tokio::test]
async fn administrators_list_sessions_by_entity_and_end_one_or_all_of_a_user() {
    let directory = Directory::new();
    let (acme, globex) = (EntityId::generate(), EntityId::generate());
    let (ada, bob) = (user("ada", acme), user("bob", globex));
    let (ada_id, bob_id) = (ada.id, bob.id);
    directory.upsert_user(ada);
    directory.upsert_user(bob);
    let first = open(&directory, ada_id, vec![], 0).await;
    let second = open(&directory, ada_id, vec![], 1).await;
    let bobs = open(&directory, bob_id, vec![], 2).await;
    let listed = directory.sessions(Some(acme), 3).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|s| s.user_id == ada_id));
    assert_eq!(listed[0].started_at, 0);
    assert_eq!(listed[0].expires_at, 10 * MINUTE);
    assert_eq!(directory.sessions(None, 3).await.unwrap().len(), 3);

    assert!(directory.end_session(listed[0].id, 3).await.unwrap());
    assert!(directory.session_principal(&first, 3).await.is_err());
    assert!(directory.session_principal(&second, 3).await.is_ok());
    assert!(!directory.end_session(listed[0].id, 3).await.unwrap());

    assert_eq!(directory.end_sessions_of(ada_id, 3).await.unwrap().len(), 1);
    assert!(directory.session_principal(&second, 3).await.is_err());
    assert!(directory.end_session_of_secret(&bobs, 3).await.unwrap());
    assert!(directory.sessions(None, 3).await.unwrap().is_empty());
}
