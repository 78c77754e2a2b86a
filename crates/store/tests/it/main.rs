//! The store's behaviour, each written once and run against SQLite (always) and PostgreSQL (when
//! `FABRIQUE_TEST_POSTGRES_URL` is set; CI sets it, so there it is never skipped).

#![expect(
    clippy::unwrap_used,
    reason = "the behaviours below are test bodies, called from generated #[tokio::test]s; they fail by panicking"
)]

mod audit_chain;
mod audit_tampering;
mod content;
mod conversations;
mod files;
mod harness;
#[cfg(unix)]
mod local_files;
mod login_links;
mod provisioning;
mod reporting;
mod rollups;
mod seats;
mod use_case_documents;
mod user_search;
mod web_sessions;

use domain::SignInSubject;
use domain::{
    ApiKey, AuditAction, AuditEvent, EntityId, Hosting, KeyHash, KeyId, KeyOwner, KeySecret,
    Operation, Outcome, Role, RoleGrant, ServiceAccountId, Status, TeamId, UsageRecord, UserId,
    now_millis,
};
use store::UserIdentity;
use store::{Backend, NewUser, Rotation, Store, StoreError, StoredBudget, StoredLimit, Window};

use harness::both_backends;

both_backends! {
    entities_are_created_once_per_slug_and_audited,
    users_belong_to_an_existing_entity_and_have_unique_names,
    service_accounts_are_created_once,
    role_grants_are_a_set,
    users_are_searched_without_case_or_accents_and_paged_by_cursor,
    keys_are_created_listed_and_revoked,
    keys_carry_scopes_rotate_once_and_record_their_last_use,
    credentials_join_keys_with_owners_entities_and_roles,
    usage_round_trips_exactly_in_large_batches,
    journaled_batches_commit_with_their_mark_which_never_goes_back,
    audit_round_trips_exactly_in_sequence,
    limits_and_budgets_are_upserted_listed_and_deleted,
    provisioned_users_are_found_by_folded_columns_changed_and_deleted,
    teams_keep_their_members_and_follow_deleted_users,
    scim_tokens_are_created_listed_and_revoked,
    user_identities_join_users_with_entities_and_roles,
    seat_changes_pool_reservations_and_activity_round_trip,
    suspension_and_deletion_release_the_seat_with_the_change,
    an_entitys_suspension_releases_its_seats_and_keeps_them_free,
    a_claimed_seat_is_given_held_refused_or_withheld_from_the_suspended,
    usage_sums_group_by_dimension_exactly,
    usage_sums_per_time_bucket,
    latency_percentiles_are_exact,
    rolled_up_hours_give_the_same_sums_once_however_often_rolled,
    raw_records_deleted_after_roll_up_leave_the_sums,
    a_record_stored_late_reopens_its_hour_and_counts_once,
    a_month_of_raw_records_goes_whole_and_the_sums_stay,
    group_wide_percentiles_per_model_are_their_records_buckets,
    content_keys_records_purge_and_erasure_round_trip,
    conversations_keep_one_row_a_message_and_go_with_their_owner,
    use_case_documents_round_trip_narrowed_to_their_use_case,
}

use content::content_keys_records_purge_and_erasure_round_trip;
use conversations::conversations_keep_one_row_a_message_and_go_with_their_owner;
use use_case_documents::use_case_documents_round_trip_narrowed_to_their_use_case;

use seats::{
    a_claimed_seat_is_given_held_refused_or_withheld_from_the_suspended,
    an_entitys_suspension_releases_its_seats_and_keeps_them_free,
    seat_changes_pool_reservations_and_activity_round_trip,
    suspension_and_deletion_release_the_seat_with_the_change,
};

use rollups::{
    a_month_of_raw_records_goes_whole_and_the_sums_stay,
    a_record_stored_late_reopens_its_hour_and_counts_once,
    group_wide_percentiles_per_model_are_their_records_buckets,
    raw_records_deleted_after_roll_up_leave_the_sums,
    rolled_up_hours_give_the_same_sums_once_however_often_rolled,
};

use reporting::{
    latency_percentiles_are_exact, usage_sums_group_by_dimension_exactly,
    usage_sums_per_time_bucket,
};

use provisioning::{
    provisioned_users_are_found_by_folded_columns_changed_and_deleted,
    scim_tokens_are_created_listed_and_revoked, teams_keep_their_members_and_follow_deleted_users,
};

fn audit(action: AuditAction) -> AuditEvent {
    AuditEvent {
        at: now_millis(),
        actor: "key_test".into(),
        action,
        entity_id: None,
        target: String::new(),
        outcome: Outcome::Success,
        detail: r#"{"why":"test"}"#.into(),
    }
}

async fn entities_are_created_once_per_slug_and_audited(store: &Store) {
    let acme = store
        .create_entity("acme", "Acme Corp", &audit(AuditAction::EntityCreate))
        .await
        .unwrap();
    assert_eq!(
        (acme.slug.as_str(), acme.name.as_str(), acme.status),
        ("acme", "Acme Corp", Status::Active)
    );
    let err = store
        .create_entity("acme", "Other", &audit(AuditAction::EntityCreate))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("acme")),
        "{err:?}"
    );
    store
        .create_entity("beta", "Beta", &audit(AuditAction::EntityCreate))
        .await
        .unwrap();

    let slugs: Vec<_> = store
        .list_entities()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.slug)
        .collect();
    assert_eq!(slugs, ["acme", "beta"]);
    assert_eq!(
        store.entity_by_slug("acme").await.unwrap(),
        Some(acme.clone())
    );
    assert_eq!(store.entity(acme.id).await.unwrap(), Some(acme.clone()));
    assert_eq!(store.entity_by_slug("nope").await.unwrap(), None);

    // The failed duplicate left no audit event: change and event share one transaction.
    let events = store.list_audit(10).await.unwrap();
    assert_eq!(events.len(), 2);
    let (_, first) = &events[1];
    assert_eq!(first.target, acme.id.to_string());
    assert_eq!(first.entity_id, Some(acme.id));
    assert_eq!(first.action, AuditAction::EntityCreate);
}

async fn users_belong_to_an_existing_entity_and_have_unique_names(store: &Store) {
    let acme = store
        .create_entity("acme", "Acme", &audit(AuditAction::EntityCreate))
        .await
        .unwrap();
    let beta = store
        .create_entity("beta", "Beta", &audit(AuditAction::EntityCreate))
        .await
        .unwrap();
    let new = |entity_id, user_name: &str| NewUser {
        entity_id,
        user_name: user_name.into(),
        email: format!("{user_name}@example.com"),
        display_name: Some("Ada L.".into()),
        external_id: None,
    };
    let ada = store
        .create_user(&new(acme.id, "ada"), &audit(AuditAction::UserCreate))
        .await
        .unwrap();
    let bob = store
        .create_user(&new(beta.id, "bob"), &audit(AuditAction::UserCreate))
        .await
        .unwrap();
    assert_eq!(store.user(ada.id).await.unwrap(), Some(ada.clone()));
    assert_eq!(store.user(UserId::generate()).await.unwrap(), None);
    assert_eq!(
        store.list_users(Some(acme.id), Window::ALL).await.unwrap(),
        vec![ada.clone()]
    );
    assert_eq!(
        store.list_users(None, Window::ALL).await.unwrap(),
        vec![ada.clone(), bob.clone()]
    );
    let second = Window {
        offset: 1,
        limit: 1,
    };
    assert_eq!(
        store.list_users(None, second).await.unwrap(),
        vec![bob],
        "a window of the listing, in its order"
    );

    let err = store
        .create_user(&new(beta.id, "ada"), &audit(AuditAction::UserCreate))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("ada")),
        "{err:?}"
    );
    let err = store
        .create_user(
            &new(EntityId::generate(), "eve"),
            &audit(AuditAction::UserCreate),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");

    let (_, event) = &store.list_audit(10).await.unwrap()[1];
    assert_eq!(
        (event.action.as_str(), event.target.clone()),
        ("user.create", ada.id.to_string())
    );
    assert_eq!(event.entity_id, Some(acme.id));
}

async fn service_accounts_are_created_once(store: &Store) {
    let acme = store
        .create_entity("acme", "Acme", &audit(AuditAction::EntityCreate))
        .await
        .unwrap();
    let first = store
        .service_account_get_or_create(
            Some(acme.id),
            "ci",
            &audit(AuditAction::ServiceAccountCreate),
        )
        .await
        .unwrap();
    let again = store
        .service_account_get_or_create(
            Some(acme.id),
            "ci",
            &audit(AuditAction::ServiceAccountCreate),
        )
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(first.entity_id, Some(acme.id));

    // Group-level accounts (no entity) are unique by name too, despite NULL entity ids.
    let group = store
        .service_account_get_or_create(None, "ci", &audit(AuditAction::ServiceAccountCreate))
        .await
        .unwrap();
    assert_ne!(group.id, first.id);
    assert_eq!(
        store
            .service_account_get_or_create(None, "ci", &audit(AuditAction::ServiceAccountCreate))
            .await
            .unwrap(),
        group
    );
    assert_eq!(store.service_account(group.id).await.unwrap(), Some(group));
    assert_eq!(
        store
            .service_account(ServiceAccountId::generate())
            .await
            .unwrap(),
        None
    );

    let created = store
        .list_audit(10)
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, e)| e.action == AuditAction::ServiceAccountCreate)
        .count();
    assert_eq!(created, 2, "only creations are audited");
}

async fn users_are_searched_without_case_or_accents_and_paged_by_cursor(store: &Store) {
    let acme = store
        .create_entity("acme", "Acme", &audit(AuditAction::EntityCreate))
        .await
        .unwrap();
    let beta = store
        .create_entity("beta", "Beta", &audit(AuditAction::EntityCreate))
        .await
        .unwrap();
    for (entity, user_name, display_name) in [
        (acme.id, "hdupont", "Héloïse Dupont"),
        (acme.id, "Zoe", "Zoé"),
        (beta.id, "heloise", "Héloïse B."),
        (acme.id, "ÉMILE", "Émile"),
    ] {
        let new = NewUser {
            entity_id: entity,
            user_name: user_name.into(),
            email: format!("{}@example.com", user_name.to_lowercase()),
            display_name: Some(display_name.into()),
            external_id: None,
        };
        store
            .create_user(&new, &audit(AuditAction::UserCreate))
            .await
            .unwrap();
    }
    let found = |search: store::UserSearch| async move {
        let users = store.search_users(&search).await.unwrap();
        users.into_iter().map(|u| u.user_name).collect::<Vec<_>>()
    };
    let all = || store::UserSearch {
        limit: 100,
        ..Default::default()
    };
    let q = |q: &str| store::UserSearch {
        query: Some(q.into()),
        ..all()
    };
    assert_eq!(found(q("HELOISE")).await, ["hdupont", "heloise"]);
    assert_eq!(found(q("émi")).await, ["ÉMILE"]);
    assert_eq!(found(q("zoe@")).await, ["Zoe"]);
    assert_eq!(found(q("x")).await, Vec::<String>::new());
    // From the start of any word, not from inside one.
    assert_eq!(found(q("DUPONT")).await, ["hdupont"]);
    assert_eq!(found(q("upont")).await, Vec::<String>::new());
    assert_eq!(found(q("example.com")).await.len(), 4);
    let in_acme = store::UserSearch {
        entity: Some(acme.id),
        ..q("héloïse")
    };
    assert_eq!(found(in_acme).await, ["hdupont"]);
    // Pages by cursor: the order of the whole listing (the database's collation decides where
    // accented names fall), each user once.
    let whole = found(all()).await;
    assert_eq!(whole.len(), 4);
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .search_users(&store::UserSearch {
                limit: 3,
                after: after.take(),
                ..all()
            })
            .await
            .unwrap();
        paged.extend(page.iter().map(|u| u.user_name.clone()));
        match page.get(2) {
            Some(last) => after = Some(store::cursor_of(last)),
            None => break,
        }
    }
    assert_eq!(paged, whole);
}

async fn role_grants_are_a_set(store: &Store) {
    let acme = store
        .create_entity("acme", "Acme", &audit(AuditAction::EntityCreate))
        .await
        .unwrap();
    let account = store
        .service_account_get_or_create(None, "root", &audit(AuditAction::ServiceAccountCreate))
        .await
        .unwrap();
    let owner = KeyOwner::ServiceAccount(account.id);
    assert!(!store.has_group_admin().await.unwrap());

    let scoped = RoleGrant {
        role: Role::EntityAdmin,
        entity_id: Some(acme.id),
    };
    store
        .grant_role(owner, scoped, &audit(AuditAction::RoleGrant))
        .await
        .unwrap();
    assert!(
        !store.has_group_admin().await.unwrap(),
        "an entity-scoped role is not group admin"
    );
    let group_admin = RoleGrant {
        role: Role::GroupAdmin,
        entity_id: None,
    };
    store
        .grant_role(owner, group_admin, &audit(AuditAction::RoleGrant))
        .await
        .unwrap();
    store
        .grant_role(owner, group_admin, &audit(AuditAction::RoleGrant))
        .await
        .unwrap();
    assert!(store.has_group_admin().await.unwrap());

    let mut roles = store.roles(owner).await.unwrap();
    roles.sort_by_key(|g| g.role.as_str());
    assert_eq!(
        roles,
        vec![scoped, group_admin],
        "sorted: entity_admin, group_admin"
    );
    assert!(
        store
            .roles(KeyOwner::User(UserId::generate()))
            .await
            .unwrap()
            .is_empty()
    );

    // Listed with their holder, narrowed by entity and holder.
    let listed = store
        .list_role_grants(store::RoleSelection::default(), Window::ALL)
        .await
        .unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        listed
            .iter()
            .all(|held| held.holder == owner && held.holder_name == "root")
    );
    let of_acme = store::RoleSelection {
        entity: Some(acme.id),
        holder: None,
    };
    let listed = store.list_role_grants(of_acme, Window::ALL).await.unwrap();
    assert_eq!(
        listed.iter().map(|h| h.grant).collect::<Vec<_>>(),
        vec![scoped]
    );

    // Taken back once; the last group administrator is never taken back.
    let revoke = audit(AuditAction::RoleRevoke);
    assert!(store.revoke_role(owner, scoped, &revoke).await.unwrap());
    assert!(!store.revoke_role(owner, scoped, &revoke).await.unwrap());
    let last = store.revoke_role(owner, group_admin, &revoke).await;
    assert!(matches!(last, Err(StoreError::Conflict(_))), "{last:?}");
    assert!(store.has_group_admin().await.unwrap());
    let other = store
        .service_account_get_or_create(None, "second", &audit(AuditAction::ServiceAccountCreate))
        .await
        .unwrap();
    let other = KeyOwner::ServiceAccount(other.id);
    store
        .grant_role(other, group_admin, &audit(AuditAction::RoleGrant))
        .await
        .unwrap();
    assert!(
        store
            .revoke_role(owner, group_admin, &revoke)
            .await
            .unwrap()
    );
    assert_eq!(store.roles(owner).await.unwrap(), vec![]);
}

async fn user_identities_join_users_with_entities_and_roles(store: &Store) {
    let acme = store
        .create_entity("acme", "Acme", &audit(AuditAction::EntityCreate))
        .await
        .unwrap();
    let new_user = |name: &str| NewUser {
        entity_id: acme.id,
        user_name: name.into(),
        email: format!("{name}@example.test"),
        display_name: None,
        external_id: Some(format!("sub-{name}")),
    };
    let ada = store
        .create_user(&new_user("ada"), &audit(AuditAction::UserCreate))
        .await
        .unwrap();
    let bob = store
        .create_user(&new_user("bob"), &audit(AuditAction::UserCreate))
        .await
        .unwrap();
    let grant = RoleGrant {
        role: Role::Auditor,
        entity_id: Some(acme.id),
    };
    store
        .grant_role(
            KeyOwner::User(ada.id),
            grant,
            &audit(AuditAction::RoleGrant),
        )
        .await
        .unwrap();

    // Ada is bound to her account at the provider; the account is hers alone, and she has one.
    let subject = |sub: &str| SignInSubject {
        issuer: "https://login.example".into(),
        subject: sub.into(),
    };
    store
        .bind_subject(ada.id, &subject("sub-ada"), &audit(AuditAction::UserBind))
        .await
        .unwrap();
    for (user, sub) in [(bob.id, "sub-ada"), (ada.id, "sub-other")] {
        let refused = store
            .bind_subject(user, &subject(sub), &audit(AuditAction::UserBind))
            .await;
        assert!(
            matches!(refused, Err(StoreError::Conflict(_))),
            "{refused:?}"
        );
    }
    assert_eq!(
        store.subject_user(&subject("sub-ada")).await.unwrap(),
        Some(ada.id)
    );
    assert_eq!(store.subject_user(&subject("sub-bob")).await.unwrap(), None);

    assert_eq!(store.user_by_name("bob").await.unwrap(), Some(bob.clone()));
    assert_eq!(store.user_by_name("nobody").await.unwrap(), None);
    let identities = store.user_identities().await.unwrap();
    let ada_identity = UserIdentity {
        user: ada.clone(),
        entity_slug: "acme".into(),
        entity_status: Status::Active,
        roles: vec![grant],
        subjects: vec![subject("sub-ada")],
    };
    assert_eq!(
        identities,
        vec![
            ada_identity.clone(),
            UserIdentity {
                user: bob,
                entity_slug: "acme".into(),
                entity_status: Status::Active,
                roles: vec![],
                subjects: vec![],
            },
        ]
    );
    assert_eq!(
        store.user_identity_by_name("ADA").await.unwrap(),
        Some(ada_identity),
        "names compare case-insensitively"
    );
    assert_eq!(store.user_identity_by_name("nobody").await.unwrap(), None);

    // A user created by sign-in is bound in the same transaction; deletion frees the account.
    let cleo = store
        .create_user_bound_to(
            &new_user("cleo"),
            Some(&subject("sub-cleo")),
            &audit(AuditAction::UserCreate),
        )
        .await
        .unwrap();
    assert_eq!(
        store.subject_user(&subject("sub-cleo")).await.unwrap(),
        Some(cleo.id)
    );
    store
        .delete_provisioned_user(cleo.id, &audit(AuditAction::UserDeprovision))
        .await
        .unwrap();
    assert_eq!(
        store.subject_user(&subject("sub-cleo")).await.unwrap(),
        None
    );
}

fn new_key(owner: KeyOwner, entity_id: Option<EntityId>) -> (KeySecret, ApiKey) {
    let secret = KeySecret::generate();
    let key = ApiKey::issue(owner, entity_id, &secret, now_millis());
    (secret, key)
}

async fn keys_are_created_listed_and_revoked(store: &Store) {
    let acme = store
        .create_entity("acme", "Acme", &audit(AuditAction::EntityCreate))
        .await
        .unwrap();
    let ada = store
        .create_user(
            &NewUser {
                entity_id: acme.id,
                user_name: "ada".into(),
                email: "ada@example.com".into(),
                display_name: None,
                external_id: Some("ext-1".into()),
            },
            &audit(AuditAction::UserCreate),
        )
        .await
        .unwrap();
    let root = store
        .service_account_get_or_create(None, "root", &audit(AuditAction::ServiceAccountCreate))
        .await
        .unwrap();
    let (_, mut user_key) = new_key(KeyOwner::User(ada.id), Some(acme.id));
    // Stored and read back with the key, so authentication carries it after a restart.
    user_key.classification = Some("confidential".into());
    let (_, root_key) = new_key(KeyOwner::ServiceAccount(root.id), None);
    store
        .create_named_key(&user_key, Some("laptop"), &audit(AuditAction::KeyCreate))
        .await
        .unwrap();
    store
        .create_key(&root_key, &audit(AuditAction::KeyCreate))
        .await
        .unwrap();

    let duplicate = ApiKey {
        id: KeyId::generate(),
        ..user_key.clone()
    };
    let err = store
        .create_key(&duplicate, &audit(AuditAction::KeyCreate))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(_)),
        "same hash twice: {err:?}"
    );

    assert_eq!(
        store.key(user_key.id).await.unwrap(),
        Some(user_key.clone())
    );
    assert_eq!(
        store.key_by_hash(root_key.hash).await.unwrap(),
        Some(root_key.clone())
    );
    assert_eq!(store.key_by_hash(KeyHash::of("nope")).await.unwrap(), None);
    assert_eq!(
        store.list_keys(Some(acme.id)).await.unwrap(),
        vec![user_key.clone()]
    );
    assert_eq!(store.list_keys(None).await.unwrap().len(), 2);
    let named = store
        .list_named_keys(Some(acme.id), Window::ALL)
        .await
        .unwrap();
    assert_eq!(named[0].name.as_deref(), Some("laptop"));

    let at = now_millis();
    assert!(
        store
            .revoke_key(user_key.id, at, &audit(AuditAction::KeyRevoke))
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_key(user_key.id, at + 5, &audit(AuditAction::KeyRevoke))
            .await
            .unwrap(),
        "already revoked"
    );
    assert!(
        !store
            .revoke_key(KeyId::generate(), at, &audit(AuditAction::KeyRevoke))
            .await
            .unwrap(),
        "unknown"
    );
    assert_eq!(
        store
            .key(user_key.id)
            .await
            .unwrap()
            .and_then(|k| k.revoked_at),
        Some(at)
    );

    let revocations: Vec<_> = store
        .list_audit(20)
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, e)| e.action == AuditAction::KeyRevoke)
        .collect();
    assert_eq!(revocations.len(), 1);
    assert_eq!(revocations[0].1.target, user_key.id.to_string());
    let creations: Vec<_> = store
        .list_audit(20)
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, e)| e.action == AuditAction::KeyCreate)
        .collect();
    assert_eq!(creations.len(), 2, "the refused duplicate is not audited");
}

async fn credentials_join_keys_with_owners_entities_and_roles(store: &Store) {
    let acme = store
        .create_entity("acme", "Acme", &audit(AuditAction::EntityCreate))
        .await
        .unwrap();
    let ada = store
        .create_user(
            &NewUser {
                entity_id: acme.id,
                user_name: "ada".into(),
                email: "ada@example.com".into(),
                display_name: None,
                external_id: None,
            },
            &audit(AuditAction::UserCreate),
        )
        .await
        .unwrap();
    let ci = store
        .service_account_get_or_create(
            Some(acme.id),
            "ci",
            &audit(AuditAction::ServiceAccountCreate),
        )
        .await
        .unwrap();
    let root = store
        .service_account_get_or_create(None, "root", &audit(AuditAction::ServiceAccountCreate))
        .await
        .unwrap();
    let admin = RoleGrant {
        role: Role::GroupAdmin,
        entity_id: None,
    };
    store
        .grant_role(
            KeyOwner::ServiceAccount(root.id),
            admin,
            &audit(AuditAction::RoleGrant),
        )
        .await
        .unwrap();
    let user_role = RoleGrant {
        role: Role::User,
        entity_id: Some(acme.id),
    };
    store
        .grant_role(
            KeyOwner::User(ada.id),
            user_role,
            &audit(AuditAction::RoleGrant),
        )
        .await
        .unwrap();

    let (_, ada_key) = new_key(KeyOwner::User(ada.id), Some(acme.id));
    let (_, ci_key) = new_key(KeyOwner::ServiceAccount(ci.id), Some(acme.id));
    let (_, root_key) = new_key(KeyOwner::ServiceAccount(root.id), None);
    let (_, revoked) = new_key(KeyOwner::User(ada.id), Some(acme.id));
    for key in [&ada_key, &ci_key, &root_key, &revoked] {
        store
            .create_key(key, &audit(AuditAction::KeyCreate))
            .await
            .unwrap();
    }
    store
        .revoke_key(revoked.id, now_millis(), &audit(AuditAction::KeyRevoke))
        .await
        .unwrap();

    let mut credentials = store.load_credentials().await.unwrap();
    credentials.sort_by_key(|c| c.key.id);
    assert_eq!(credentials.len(), 3, "revoked keys are not loaded");
    let ada_credential = &credentials[0];
    assert_eq!(ada_credential.key, ada_key);
    assert_eq!(ada_credential.entity_slug.as_deref(), Some("acme"));
    assert_eq!(ada_credential.entity_status, Some(Status::Active));
    assert_eq!(ada_credential.owner_status, Status::Active);
    assert_eq!(ada_credential.roles, vec![user_role]);
    assert_eq!(credentials[1].key, ci_key);
    assert!(credentials[1].roles.is_empty());
    let root_credential = &credentials[2];
    assert_eq!(root_credential.key, root_key);
    assert_eq!(
        (
            root_credential.entity_slug.clone(),
            root_credential.entity_status
        ),
        (None, None)
    );
    assert_eq!(root_credential.roles, vec![admin]);
}

fn usage(index: u64, started_at: i64) -> UsageRecord {
    UsageRecord {
        request_id: format!("req-{index}"),
        client_request_id: index.is_multiple_of(2).then(|| format!("mine-{index}")),
        started_at,
        entity_id: index.is_multiple_of(2).then(EntityId::generate),
        user_id: index.is_multiple_of(3).then(UserId::generate),
        service_account_id: (index % 3 == 1).then(ServiceAccountId::generate),
        key_id: Some(KeyId::generate()),
        team_id: index.is_multiple_of(4).then(TeamId::generate),
        use_case: (index % 4 == 1).then(|| "credit-scoring".to_owned()),
        use_case_version: None,
        operation: [Operation::Chat, Operation::Embeddings, Operation::Fim][(index % 3) as usize],
        model: "mistral-small".into(),
        endpoint: (!index.is_multiple_of(5)).then(|| "gpu-a".to_owned()),
        stream: index % 2 == 1,
        prompt_tokens: index * 7,
        completion_tokens: index * 3,
        cost_micros: index * 1_000,
        ttft_ms: (!index.is_multiple_of(4)).then_some(index as u32),
        duration_ms: u32::MAX - index as u32,
        status: if index.is_multiple_of(7) { 502 } else { 200 },
        error_code: index
            .is_multiple_of(7)
            .then(|| "upstream_unavailable".to_owned()),
        attempts: (index % 3) as u32 + 1,
        classification: (!index.is_multiple_of(5)).then(|| "confidential".to_owned()),
        hosting: (!index.is_multiple_of(5)).then_some(Hosting::SovereignCloud),
        usage_estimated: index % 6 == 5,
        cache_hit: index % 7 == 6,
    }
}

async fn journaled_batches_commit_with_their_mark_which_never_goes_back(store: &Store) {
    let base = now_millis();
    assert_eq!(store.journal_mark("usage").await.unwrap(), 0);
    let records: Vec<_> = (0..3).map(|i| usage(i, base + i as i64)).collect();
    store
        .insert_usage_through(&records, "usage", 7)
        .await
        .unwrap();
    assert_eq!(store.journal_mark("usage").await.unwrap(), 7);
    let event = AuditEvent::system(AuditAction::RetentionPurge, "{}".to_owned());
    store
        .append_audit_through(std::slice::from_ref(&event), "audit", 3)
        .await
        .unwrap();
    // A batch numbered lower (a replay of what the mark covers) does not move it back.
    store
        .insert_usage_through(&records[..1], "usage", 5)
        .await
        .unwrap();
    assert_eq!(store.journal_mark("usage").await.unwrap(), 7);
    assert_eq!(store.journal_mark("audit").await.unwrap(), 3);
    assert_eq!(store.list_usage(100).await.unwrap().len(), 4);
    assert_eq!(store.list_audit(100).await.unwrap().len(), 1);
}

async fn usage_round_trips_exactly_in_large_batches(store: &Store) {
    let base = now_millis();
    // 1,200 records cross the per-statement row limit, so the batch is several INSERTs.
    let records: Vec<_> = (0..1_200).map(|i| usage(i, base + i as i64)).collect();
    store.insert_usage(&records).await.unwrap();
    store.insert_usage(&[]).await.unwrap();
    let extreme = UsageRecord {
        prompt_tokens: i64::MAX as u64,
        completion_tokens: 0,
        cost_micros: i64::MAX as u64,
        ttft_ms: Some(u32::MAX),
        status: u16::MAX,
        attempts: u32::MAX,
        ..usage(99_999, base + 10_000)
    };
    store
        .insert_usage(std::slice::from_ref(&extreme))
        .await
        .unwrap();

    let newest = store.list_usage(3).await.unwrap();
    assert_eq!(
        newest,
        vec![extreme, records[1_199].clone(), records[1_198].clone()]
    );
    let all = store.list_usage(5_000).await.unwrap();
    assert_eq!(all.len(), 1_201);
    let mut expected = records.clone();
    expected.reverse();
    assert_eq!(&all[1..], &expected[..]);

    let too_big = UsageRecord {
        cost_micros: u64::MAX,
        ..usage(1, base)
    };
    let err = store
        .insert_usage(&[usage(2, base), too_big])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::OutOfRange(_)), "{err:?}");
    assert_eq!(
        store.list_usage(5_000).await.unwrap().len(),
        1_201,
        "a refused batch writes nothing"
    );
}

async fn audit_round_trips_exactly_in_sequence(store: &Store) {
    let events: Vec<_> = (0..5)
        .map(|i| AuditEvent {
            at: 1_700_000_000_000 + i,
            actor: if i % 2 == 0 {
                "system".into()
            } else {
                format!("key_{i}")
            },
            action: AuditAction::KeyRevoke,
            entity_id: (i % 2 == 1).then(EntityId::generate),
            target: format!("target-{i}"),
            outcome: [Outcome::Success, Outcome::Denied, Outcome::Failure][i as usize % 3],
            detail: format!(r#"{{"n":{i},"text":"é ✓ \"quoted\""}}"#),
        })
        .collect();
    let mut seqs = Vec::new();
    for event in &events {
        seqs.push(store.append_audit(event).await.unwrap());
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let listed = store.list_audit(3).await.unwrap();
    let expected: Vec<_> = seqs
        .iter()
        .copied()
        .zip(events.iter().cloned())
        .rev()
        .take(3)
        .collect();
    assert_eq!(listed, expected);
}

// SQLite-only behaviour: files, directories, memory.

#[tokio::test]
async fn sqlite_file_is_created_with_its_directory_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("nested").join("data");
    let store = Store::open_in_dir(&data_dir).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    store
        .create_entity("acme", "Acme", &audit(AuditAction::EntityCreate))
        .await
        .unwrap();
    store.close().await;
    assert!(data_dir.join("fabrique.db").exists());
    // WAL mode is recorded in the file itself, so a plain connection sees it.
    let url = format!("sqlite://{}", data_dir.join("fabrique.db").display());
    let mut plain = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut plain)
        .await
        .unwrap();
    assert_eq!(mode, "wal");

    let reopened = Store::open_in_dir(&data_dir).await.unwrap();
    assert_eq!(reopened.list_entities().await.unwrap().len(), 1);
    assert_eq!(reopened.list_audit(10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn sqlite_in_memory_keeps_its_data_across_operations() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    store
        .create_entity("acme", "Acme", &audit(AuditAction::EntityCreate))
        .await
        .unwrap();
    assert!(store.entity_by_slug("acme").await.unwrap().is_some());
    let other = Store::connect("sqlite::memory:").await.unwrap();
    assert!(
        other.list_entities().await.unwrap().is_empty(),
        "each in-memory store is private"
    );
}

#[tokio::test]
async fn unknown_urls_are_refused() {
    let err = Store::connect("mysql://localhost/x").await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidUrl(_)), "{err:?}");
}

/// Measures the start-up load of 100,000 keys (run with `--ignored --nocapture`); performance is
/// reported, not asserted.
#[tokio::test]
#[ignore = "slow: a measurement, not a check"]
async fn load_100k_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in_dir(dir.path()).await.unwrap();
    let acme = store
        .create_entity("acme", "Acme", &audit(AuditAction::EntityCreate))
        .await
        .unwrap();
    let account = store
        .service_account_get_or_create(
            Some(acme.id),
            "bulk",
            &audit(AuditAction::ServiceAccountCreate),
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    for _ in 0..100_000 {
        let (_, key) = new_key(KeyOwner::ServiceAccount(account.id), Some(acme.id));
        store
            .create_key(&key, &audit(AuditAction::KeyCreate))
            .await
            .unwrap();
    }
    println!("created 100,000 keys one by one in {:?}", started.elapsed());
    let started = std::time::Instant::now();
    let credentials = store.load_credentials().await.unwrap();
    println!(
        "loaded {} credentials in {:?}",
        credentials.len(),
        started.elapsed()
    );
    assert_eq!(credentials.len(), 100_000);
}

async fn limits_and_budgets_are_upserted_listed_and_deleted(store: &Store) {
    let limit = |rpm: Option<u64>| StoredLimit {
        scope_kind: "entity".into(),
        scope_id: "ent_x".into(),
        requests_per_minute: rpm,
        tokens_per_minute: Some(u64::from(u32::MAX) * 4),
    };
    store
        .set_rate_limit(&limit(Some(60)), &audit(AuditAction::RateLimitSet))
        .await
        .unwrap();
    store
        .set_rate_limit(&limit(None), &audit(AuditAction::RateLimitSet))
        .await
        .unwrap();
    assert_eq!(store.list_rate_limits().await.unwrap(), vec![limit(None)]);
    assert!(
        store
            .delete_rate_limit("entity", "ent_x", &audit(AuditAction::RateLimitDelete))
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_rate_limit("entity", "ent_x", &audit(AuditAction::RateLimitDelete))
            .await
            .unwrap()
    );
    assert!(store.list_rate_limits().await.unwrap().is_empty());

    let budget = |limit: u64| StoredBudget {
        scope_kind: "user".into(),
        scope_id: "usr_y".into(),
        period: "month".into(),
        unit: "money_micros".into(),
        hard_limit: limit,
        soft_threshold_percent: Some(80),
        reset_at: None,
    };
    store
        .set_budget(&budget(5), &audit(AuditAction::BudgetSet))
        .await
        .unwrap();
    store
        .set_budget(&budget(7), &audit(AuditAction::BudgetSet))
        .await
        .unwrap();
    assert_eq!(store.list_budgets().await.unwrap(), vec![budget(7)]);
    let reset = audit(AuditAction::BudgetReset);
    assert!(store.reset_budgets("user", "usr_y", &reset).await.unwrap());
    assert!(
        !store
            .reset_budgets("user", "usr_none", &reset)
            .await
            .unwrap()
    );
    assert_eq!(
        store.list_budgets().await.unwrap()[0].reset_at,
        Some(reset.at)
    );
    assert!(
        store
            .delete_budget(
                "user",
                "usr_y",
                "month",
                "money_micros",
                &audit(AuditAction::BudgetDelete)
            )
            .await
            .unwrap()
    );
    assert!(store.list_budgets().await.unwrap().is_empty());
    let actions: Vec<_> = store
        .list_audit(10)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, e)| e.action.to_string())
        .collect();
    assert_eq!(
        actions,
        [
            "budget.delete",
            "budget.reset",
            "budget.set",
            "budget.set",
            "rate_limit.delete",
            "rate_limit.set",
            "rate_limit.set"
        ]
    );

    // Spending is summed from usage records since an instant, per scope column.
    let base = 1_800_000_000_000;
    let mut records: Vec<_> = (0..4).map(|i| usage(i, base + i as i64)).collect();
    let user = UserId::generate();
    for record in &mut records {
        record.user_id = Some(user);
    }
    store.insert_usage(&records).await.unwrap();
    let spent = store
        .spent_since("user", &user.to_string(), base + 1)
        .await
        .unwrap();
    assert_eq!(spent.tokens, (1 + 2 + 3) * 10);
    assert_eq!(spent.cost_micros, (1 + 2 + 3) * 1_000);
    assert_eq!(
        store.spent_since("team", "t", 0).await.unwrap(),
        store::Spent::default()
    );
}

/// The two dialects have the same migrations, number for number; a migration written without
/// dialect-specific syntax (the audit chain's, the seats') is the same SQL in both, comments aside.
#[test]
fn both_dialects_have_the_same_migrations() {
    let folder = |dialect: &str| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dialect)
    };
    let names = |dialect: &str| {
        let mut names: Vec<String> = std::fs::read_dir(folder(dialect))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names("sqlite"), names("postgres"));
    let statements = |dialect: &str, migration: &str| {
        std::fs::read_to_string(folder(dialect).join(migration))
            .unwrap()
            .lines()
            .filter(|line| !line.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for migration in [
        "0003_audit_chain.sql",
        "0006_usage_attribution.sql",
        "0007_seats.sql",
        "0014_sign_in_subjects.sql",
        "0018_factory.sql",
    ] {
        assert_eq!(
            statements("sqlite", migration),
            statements("postgres", migration),
            "{migration}"
        );
    }
}

async fn keys_carry_scopes_rotate_once_and_record_their_last_use(store: &Store) {
    let acme = store
        .create_entity("acme", "Acme", &audit(AuditAction::EntityCreate))
        .await
        .unwrap();
    let app = store
        .service_account_get_or_create(
            Some(acme.id),
            "app",
            &audit(AuditAction::ServiceAccountCreate),
        )
        .await
        .unwrap();
    let (_, mut old) = new_key(KeyOwner::ServiceAccount(app.id), Some(acme.id));
    old.models = Some(vec!["mistral-small".into(), "codestral".into()]);
    old.priority = Some(domain::Priority::Batch);
    old.expires_at = Some(old.created_at + 90 * 86_400_000);
    store
        .create_named_key(&old, Some("pipeline"), &audit(AuditAction::KeyCreate))
        .await
        .unwrap();
    assert_eq!(store.key(old.id).await.unwrap(), Some(old.clone()));

    let now = now_millis();
    let (_, new) = new_key(KeyOwner::ServiceAccount(app.id), Some(acme.id));
    let new = ApiKey {
        models: old.models.clone(),
        priority: old.priority,
        rotated_from: Some(old.id),
        ..new
    };
    let grace_end = now + 3_600_000;
    let rotated = store
        .rotate_key(
            old.id,
            grace_end,
            &new,
            Some("pipeline"),
            now,
            &audit(AuditAction::KeyRotate),
        )
        .await
        .unwrap();
    assert_eq!(rotated, Rotation::Rotated);
    let listed = store.key_listing(old.id).await.unwrap().unwrap();
    assert_eq!(
        listed.key.expires_at,
        Some(grace_end),
        "the old key expires after the grace"
    );
    assert_eq!(listed.replaced_by, Some(new.id));
    let successor = store.key_listing(new.id).await.unwrap().unwrap();
    assert_eq!(successor.key, new);
    assert_eq!(successor.name.as_deref(), Some("pipeline"));
    assert_eq!(successor.replaced_by, None);

    let (_, other) = new_key(KeyOwner::ServiceAccount(app.id), Some(acme.id));
    assert_eq!(
        store
            .rotate_key(
                old.id,
                grace_end,
                &other,
                None,
                now,
                &audit(AuditAction::KeyRotate)
            )
            .await
            .unwrap(),
        Rotation::AlreadyRotated,
        "a key has one successor"
    );
    assert_eq!(
        store
            .rotate_key(
                old.id,
                grace_end,
                &other,
                None,
                grace_end,
                &audit(AuditAction::KeyRotate)
            )
            .await
            .unwrap(),
        Rotation::NotLive,
        "an expired key is not rotated"
    );
    assert_eq!(store.key(other.id).await.unwrap(), None);

    store
        .record_key_use(&[(new.id, now), (old.id, now - 60_000)])
        .await
        .unwrap();
    // An older time never replaces a newer one (replicas flush in any order).
    store
        .record_key_use(&[(new.id, now - 120_000)])
        .await
        .unwrap();
    assert_eq!(
        store.key(new.id).await.unwrap().unwrap().last_used_at,
        Some(now)
    );
    assert_eq!(
        store.key(old.id).await.unwrap().unwrap().last_used_at,
        Some(now - 60_000)
    );
    let credentials = store.load_credentials().await.unwrap();
    let loaded = credentials.iter().find(|c| c.key.id == new.id).unwrap();
    assert_eq!(loaded.key.last_used_at, Some(now));
    assert_eq!(loaded.key.models, new.models);
}
