//! One-time sign-in links on both backends: used once, never after their expiry, never unknown.

use domain::{AuditAction, KeyHash};
use store::{LoginLinkUse, NewUser, Store};

use crate::audit;
use crate::harness::both_backends;

both_backends! {
    a_link_signs_in_once_before_it_expires,
}

async fn a_link_signs_in_once_before_it_expires(store: &Store) {
    let entity = store
        .create_entity("acme", "Acme", &audit(AuditAction::EntityCreate))
        .await
        .unwrap();
    let new = NewUser {
        entity_id: entity.id,
        user_name: "ada".into(),
        email: "ada@example.test".into(),
        display_name: None,
        external_id: None,
    };
    let user = store
        .create_user(&new, &audit(AuditAction::UserCreate))
        .await
        .unwrap();
    let created = audit(AuditAction::AuthLoginLinkCreate);
    let (live, stale) = (KeyHash::of("fabl_live"), KeyHash::of("fabl_stale"));
    for hash in [&live, &stale] {
        store
            .create_login_link(hash, user.id, entity.id, 1_000, &created)
            .await
            .unwrap();
    }
    let consume = |hash, at| store.consume_login_link(hash, at);
    assert_eq!(
        consume(&live, 999).await.unwrap(),
        LoginLinkUse::SignIn(user.id)
    );
    assert_eq!(consume(&live, 999).await.unwrap(), LoginLinkUse::Used);
    assert_eq!(consume(&stale, 1_000).await.unwrap(), LoginLinkUse::Expired);
    let unknown = KeyHash::of("fabl_none");
    assert_eq!(consume(&unknown, 0).await.unwrap(), LoginLinkUse::Unknown);
    let audited = store
        .list_audit(100)
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, e)| {
            e.action == AuditAction::AuthLoginLinkCreate && e.target == user.id.to_string()
        })
        .count();
    assert_eq!(audited, 2);
}
