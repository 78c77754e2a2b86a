//! The directory's contract: live keys authenticate, revoked and unknown ones never do.

use domain::{ApiKey, AuditEvent, KeySecret, Outcome, now_millis};

use super::*;

fn principal(owner: KeyOwner, roles: Vec<RoleGrant>) -> Principal {
    Principal {
        key_id: Some(KeyId::generate()),
        owner,
        entity_id: None,
        entity_slug: None,
        roles,
        classification: None,
        models: None,
        expires_at: None,
        priority: None,
    }
}

fn audit() -> AuditEvent {
    AuditEvent {
        at: now_millis(),
        actor: "system".into(),
        action: domain::AuditAction::KeyCreate,
        entity_id: None,
        target: String::new(),
        outcome: Outcome::Success,
        detail: "{}".into(),
    }
}

#[test]
fn a_live_key_authenticates_and_a_revoked_one_fails_at_once() {
    let directory = Directory::new();
    let secret = KeySecret::generate();
    let user = principal(KeyOwner::User(UserId::generate()), vec![]);
    let key_id = user.key_id.unwrap();
    directory.insert(secret.hash(), user.clone());
    assert_eq!(directory.len(), 1);
    assert_eq!(
        directory.authenticate(secret.expose()).as_deref(),
        Some(&user)
    );
    assert!(directory.authenticate("fabk_wrong").is_none());
    assert!(directory.authenticate("").is_none());

    assert!(directory.revoke(key_id));
    assert!(directory.authenticate(secret.expose()).is_none());
    assert!(
        !directory.revoke(key_id),
        "revoking twice reports the key unknown"
    );
    assert!(directory.is_empty());
}

#[test]
fn an_expired_key_is_told_apart_and_last_use_is_noted_per_minute_until_stored() {
    let directory = Directory::new();
    let secret = KeySecret::generate();
    let user = principal(KeyOwner::User(UserId::generate()), vec![]);
    let key_id = user.key_id.unwrap();
    directory.insert(secret.hash(), user);
    let minute = 1_700_000_040_000;
    assert!(directory.unstored_key_use().is_empty(), "never used");
    assert!(
        directory
            .authenticate_at(secret.expose(), minute + 5_000)
            .is_ok()
    );
    assert!(
        directory
            .authenticate_at(secret.expose(), minute + 59_000)
            .is_ok()
    );
    assert_eq!(directory.last_used(key_id), Some(minute));
    let unstored = directory.unstored_key_use();
    assert_eq!(unstored, vec![(key_id, minute)]);
    directory.mark_key_use_stored(&unstored);
    assert!(
        directory.unstored_key_use().is_empty(),
        "stored, nothing new"
    );
    assert!(
        directory
            .authenticate_at(secret.expose(), minute + 60_000)
            .is_ok()
    );
    assert_eq!(
        directory.unstored_key_use(),
        vec![(key_id, minute + 60_000)]
    );

    // Rotation's grace: the key works until the instant, then is refused as expired.
    assert!(directory.expire(key_id, minute + 120_000));
    assert!(
        directory
            .authenticate_at(secret.expose(), minute + 119_999)
            .is_ok()
    );
    assert_eq!(
        directory.authenticate_at(secret.expose(), minute + 120_000),
        Err(KeyRefused::Expired)
    );
    assert_eq!(
        directory.authenticate_at("fabk_unknown", minute),
        Err(KeyRefused::Unknown)
    );
    // A later expiry never extends an earlier one.
    assert!(directory.expire(key_id, minute + 600_000));
    assert_eq!(
        directory.authenticate_at(secret.expose(), minute + 300_000),
        Err(KeyRefused::Expired)
    );
}

#[test]
fn a_stopped_keys_last_use_is_kept_until_stored_and_a_reindexed_key_keeps_a_newer_one() {
    let directory = Directory::new();
    let minute = 1_700_000_040_000;
    let mut entity_key = principal(KeyOwner::User(UserId::generate()), vec![]);
    let entity = EntityId::generate();
    entity_key.entity_id = Some(entity);
    let revoked = principal(KeyOwner::User(UserId::generate()), vec![]);
    let (entity_secret, revoked_secret) = (KeySecret::generate(), KeySecret::generate());
    directory.insert(entity_secret.hash(), entity_key.clone());
    directory.insert(revoked_secret.hash(), revoked.clone());
    for secret in [&entity_secret, &revoked_secret] {
        assert!(directory.authenticate_at(secret.expose(), minute).is_ok());
    }

    assert!(directory.revoke(revoked.key_id.unwrap()));
    assert_eq!(directory.suspend_entity(entity), 1);
    let mut unstored = directory.unstored_key_use();
    unstored.sort();
    let mut expected = vec![
        (entity_key.key_id.unwrap(), minute),
        (revoked.key_id.unwrap(), minute),
    ];
    expected.sort();
    assert_eq!(unstored, expected, "stopped keys still owe their last use");
    directory.mark_key_use_stored(&unstored);
    assert!(directory.unstored_key_use().is_empty());

    // Indexed again with the store's older knowledge (as on reactivation): the use seen here
    // since is kept, and still owed to the store.
    directory.insert(revoked_secret.hash(), revoked.clone());
    assert!(
        directory
            .authenticate_at(revoked_secret.expose(), minute + 60_000)
            .is_ok()
    );
    directory.insert(revoked_secret.hash(), revoked.clone());
    assert_eq!(
        directory.unstored_key_use(),
        vec![(revoked.key_id.unwrap(), minute + 60_000)]
    );
}

#[test]
fn a_scoped_principal_may_use_only_its_models() {
    let mut scoped = principal(KeyOwner::User(UserId::generate()), vec![]);
    assert!(scoped.may_use_model("codestral"), "no scope: every model");
    scoped.models = Some(vec![Arc::from("mistral-small")].into());
    assert!(scoped.may_use_model("mistral-small"));
    assert!(!scoped.may_use_model("codestral"));
}

#[test]
fn reinserting_a_key_under_a_new_hash_retires_the_old_hash() {
    let directory = Directory::new();
    let (old, new) = (KeySecret::generate(), KeySecret::generate());
    let p = principal(KeyOwner::User(UserId::generate()), vec![]);
    directory.insert(old.hash(), p.clone());
    directory.insert(new.hash(), p.clone());
    assert!(directory.authenticate(old.expose()).is_none());
    assert!(directory.authenticate(new.expose()).is_some());
    assert_eq!(directory.len(), 1);
    assert!(directory.revoke(p.key_id.unwrap()));
    assert!(directory.is_empty());
}

#[test]
fn roles_answer_group_and_entity_questions() {
    let acme = EntityId::generate();
    let other = EntityId::generate();
    let admin = principal(
        KeyOwner::ServiceAccount(ServiceAccountId::generate()),
        vec![RoleGrant {
            role: Role::GroupAdmin,
            entity_id: None,
        }],
    );
    assert!(admin.is_group_admin());
    assert!(
        admin.has_role(Role::GroupAdmin, Some(acme)),
        "group-wide grants cover every entity"
    );
    assert!(admin.service_account_id().is_some() && admin.user_id().is_none());

    let entity_admin = principal(
        KeyOwner::User(UserId::generate()),
        vec![RoleGrant {
            role: Role::EntityAdmin,
            entity_id: Some(acme),
        }],
    );
    assert!(!entity_admin.is_group_admin());
    assert!(entity_admin.has_role(Role::EntityAdmin, Some(acme)));
    assert!(!entity_admin.has_role(Role::EntityAdmin, Some(other)));
    assert!(!entity_admin.has_role(Role::EntityAdmin, None));
    assert!(entity_admin.user_id().is_some());
}

#[test]
fn suspended_owners_and_entities_are_not_usable() {
    let secret = KeySecret::generate();
    let credential = Credential {
        key: ApiKey::issue(
            KeyOwner::User(UserId::generate()),
            Some(EntityId::generate()),
            &secret,
            now_millis(),
        ),
        entity_slug: Some("acme".into()),
        owner_status: Status::Active,
        entity_status: Some(Status::Active),
        roles: vec![],
    };
    assert!(is_usable(&credential));
    assert!(!is_usable(&Credential {
        owner_status: Status::Suspended,
        ..credential.clone()
    }));
    assert!(!is_usable(&Credential {
        entity_status: Some(Status::Suspended),
        ..credential.clone()
    }));
    assert!(is_usable(&Credential {
        entity_status: None,
        entity_slug: None,
        ..credential
    }));
}

#[tokio::test]
async fn load_builds_the_index_from_the_store() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let acme = store.create_entity("acme", "Acme", &audit()).await.unwrap();
    let account = store
        .service_account_get_or_create(Some(acme.id), "ci", &audit())
        .await
        .unwrap();
    let grant = RoleGrant {
        role: Role::User,
        entity_id: Some(acme.id),
    };
    store
        .grant_role(KeyOwner::ServiceAccount(account.id), grant, &audit())
        .await
        .unwrap();
    let owner = KeyOwner::ServiceAccount(account.id);
    let (live_id, live) = stored_key(&store, owner, acme.id).await;
    let (revoked_id, revoked) = stored_key(&store, owner, acme.id).await;
    store
        .revoke_key(revoked_id, now_millis(), &audit())
        .await
        .unwrap();

    let directory = Directory::load(&store).await.unwrap();
    assert_eq!(directory.len(), 1);
    let principal = directory.authenticate(live.expose()).unwrap();
    assert_eq!(principal.key_id, Some(live_id));
    assert_eq!(principal.entity_id, Some(acme.id));
    assert_eq!(principal.entity_slug.as_deref(), Some("acme"));
    assert_eq!(principal.roles, vec![grant]);
    assert!(directory.authenticate(revoked.expose()).is_none());
}

#[test]
fn the_directory_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Directory>();
    assert_send_sync::<Arc<Principal>>();
}

#[tokio::test]
async fn users_are_loaded_by_name_and_kept_current_by_upsert_and_remove() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let acme = store.create_entity("acme", "Acme", &audit()).await.unwrap();
    let ada = stored_user(&store, acme.id, "ada").await;
    let grant = RoleGrant {
        role: Role::EntityAdmin,
        entity_id: Some(acme.id),
    };
    store
        .grant_role(KeyOwner::User(ada.id), grant, &audit())
        .await
        .unwrap();

    let directory = Directory::load(&store).await.unwrap();
    let record = directory.user("ada").unwrap();
    assert_eq!(record.id, ada.id);
    assert_eq!(&*record.entity_slug, "acme");
    assert!(record.is_active());
    assert_eq!(record.roles, vec![grant]);
    assert!(directory.user("bob").is_none());

    let extra = RoleGrant {
        role: Role::Auditor,
        entity_id: Some(acme.id),
    };
    let principal = Principal::of_user(&record, &[grant, extra]);
    assert_eq!(principal.key_id, None);
    assert_eq!(principal.user_id(), Some(ada.id));
    assert_eq!(principal.roles, vec![grant, extra], "no duplicate grant");

    let suspended = UserRecord {
        status: Status::Suspended,
        ..(*record).clone()
    };
    directory.upsert_user(suspended);
    assert!(!directory.user("ada").unwrap().is_active());
    assert!(directory.remove_user(ada.id));
    assert!(!directory.remove_user(ada.id));
    assert!(directory.user("ada").is_none());
    assert!(directory.user_by_id(ada.id).is_none());
}

#[tokio::test]
async fn a_renamed_or_bound_user_is_found_by_id_new_name_and_account_only() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let acme = store.create_entity("acme", "Acme", &audit()).await.unwrap();
    let ada = stored_user(&store, acme.id, "ada").await;
    let account = SignInSubject {
        issuer: "https://login.example".into(),
        subject: "sub-ada".into(),
    };
    store
        .bind_subject(ada.id, &account, &audit())
        .await
        .unwrap();
    let directory = Directory::load(&store).await.unwrap();
    assert_eq!(directory.user_by_subject(&account).unwrap().id, ada.id);

    let record = directory.user_by_id(ada.id).unwrap();
    let renamed = UserRecord {
        user_name: "ada.lovelace".into(),
        subjects: vec![],
        ..(*record).clone()
    };
    directory.upsert_user(renamed);
    assert!(directory.user("ada").is_none(), "the old name is free");
    assert!(directory.user_by_subject(&account).is_none(), "unbound");
    assert_eq!(directory.user("ada.lovelace").unwrap().id, ada.id);
    assert_eq!(
        &*directory.user_by_id(ada.id).unwrap().user_name,
        "ada.lovelace"
    );
}

#[tokio::test]
async fn teams_are_loaded_in_id_order_and_follow_group_changes() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let acme = store.create_entity("acme", "Acme", &audit()).await.unwrap();
    let ada = stored_user(&store, acme.id, "ada").await.id;
    let bob = stored_user(&store, acme.id, "bob").await.id;
    let fields = |members: Vec<UserId>| store::TeamFields {
        display_name: "risk".into(),
        external_id: None,
        attributes: "{}".into(),
        members,
    };
    let first = store
        .create_team(acme.id, &fields(vec![ada]), &audit())
        .await
        .unwrap();
    let second = store
        .create_team(acme.id, &fields(vec![ada, bob]), &audit())
        .await
        .unwrap();
    assert!(first.id < second.id, "team ids are time-ordered");

    let directory = Directory::load(&store).await.unwrap();
    assert_eq!(
        directory.teams_of(&ada).as_deref(),
        Some(&[first.id, second.id][..])
    );
    assert_eq!(directory.teams_of(&bob).as_deref(), Some(&[second.id][..]));

    // Bob joins the first team, Ada leaves the second.
    directory.set_team_members(first.id, first.version + 1, &[bob, ada]);
    directory.set_team_members(second.id, second.version + 1, &[bob]);
    assert_eq!(directory.teams_of(&ada).as_deref(), Some(&[first.id][..]));
    assert_eq!(
        directory.teams_of(&bob).as_deref(),
        Some(&[first.id, second.id][..])
    );
    // A change answered late, older than the one indexed, changes nothing.
    directory.set_team_members(second.id, second.version, &[ada, bob]);
    assert_eq!(directory.teams_of(&ada).as_deref(), Some(&[first.id][..]));

    directory.remove_team(first.id);
    assert_eq!(directory.teams_of(&ada), None);
    assert_eq!(directory.teams_of(&bob).as_deref(), Some(&[second.id][..]));
    directory.remove_user_teams(bob);
    assert_eq!(directory.teams_of(&bob), None);
    // The team no longer lists Bob: re-adding Ada alone does not bring him back.
    directory.set_team_members(second.id, second.version + 2, &[ada]);
    assert_eq!(directory.teams_of(&bob), None);
    assert_eq!(directory.teams_of(&ada).as_deref(), Some(&[second.id][..]));
}

/// A user of `entity`, written to the store.
async fn stored_user(store: &Store, entity: EntityId, user_name: &str) -> domain::User {
    store
        .create_user(
            &store::NewUser {
                entity_id: entity,
                user_name: user_name.into(),
                email: format!("{user_name}@example.test"),
                display_name: None,
                external_id: None,
            },
            &audit(),
        )
        .await
        .unwrap()
}

/// A live key of `owner` in `entity`, written to the store: its id and secret.
async fn stored_key(store: &Store, owner: KeyOwner, entity: EntityId) -> (KeyId, KeySecret) {
    let secret = KeySecret::generate();
    let key = ApiKey::issue(owner, Some(entity), &secret, now_millis());
    store.create_key(&key, &audit()).await.unwrap();
    (key.id, secret)
}

#[tokio::test]
async fn a_suspended_entity_stops_its_keys_and_users_and_reactivation_brings_them_back() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let acme = store.create_entity("acme", "Acme", &audit()).await.unwrap();
    let globex = store
        .create_entity("globex", "Globex", &audit())
        .await
        .unwrap();
    let ada = stored_user(&store, acme.id, "ada").await;
    let ci = store
        .service_account_get_or_create(Some(globex.id), "ci", &audit())
        .await
        .unwrap();
    let (_, ada_key) = stored_key(&store, KeyOwner::User(ada.id), acme.id).await;
    let (_, ci_key) = stored_key(&store, KeyOwner::ServiceAccount(ci.id), globex.id).await;
    let directory = Directory::load(&store).await.unwrap();

    assert!(
        store
            .set_entity_status(acme.id, Status::Suspended, &audit())
            .await
            .unwrap()
    );
    assert_eq!(directory.suspend_entity(acme.id), 1);
    assert!(directory.authenticate(ada_key.expose()).is_none());
    assert!(!directory.user("ada").unwrap().is_active());
    assert!(
        directory.authenticate(ci_key.expose()).is_some(),
        "another entity's keys go on"
    );
    assert!(
        !store
            .set_entity_status(acme.id, Status::Suspended, &audit())
            .await
            .unwrap(),
        "already suspended"
    );

    store
        .set_entity_status(acme.id, Status::Active, &audit())
        .await
        .unwrap();
    assert_eq!(
        directory.reactivate_entity(&store, acme.id).await.unwrap(),
        1
    );
    assert!(directory.authenticate(ada_key.expose()).is_some());
    assert!(directory.user("ada").unwrap().is_active());
}

#[tokio::test]
async fn an_entity_suspended_here_and_reactivated_elsewhere_before_a_refresh_comes_back() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let acme = store.create_entity("acme", "Acme", &audit()).await.unwrap();
    let ada = stored_user(&store, acme.id, "ada").await;
    let (_, key) = stored_key(&store, KeyOwner::User(ada.id), acme.id).await;
    let directory = Directory::load(&store).await.unwrap();

    // Suspended through this replica (committed, then stopped here), and reactivated through
    // another before any refresh here read the suspension.
    store
        .set_entity_status(acme.id, Status::Suspended, &audit())
        .await
        .unwrap();
    directory.suspend_entity(acme.id);
    store
        .set_entity_status(acme.id, Status::Active, &audit())
        .await
        .unwrap();
    directory.refresh(&store).await.unwrap().unwrap();
    assert!(
        directory.authenticate(key.expose()).is_some(),
        "a stop committed before the refresh read the store is not kept out of it"
    );
}

#[tokio::test]
async fn a_refresh_applies_other_replicas_changes_and_never_revives_a_key_revoked_here() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let acme = store.create_entity("acme", "Acme", &audit()).await.unwrap();
    let ada = stored_user(&store, acme.id, "ada").await;
    let owner = KeyOwner::User(ada.id);
    let (old_id, old) = stored_key(&store, owner, acme.id).await;
    let directory = Directory::load(&store).await.unwrap();

    // Another replica creates a key and revokes the old one: the refresh applies both.
    let (_, new) = stored_key(&store, owner, acme.id).await;
    store
        .revoke_key(old_id, now_millis(), &audit())
        .await
        .unwrap();
    assert!(directory.authenticate(new.expose()).is_none());
    let refreshed = directory.refresh(&store).await.unwrap().unwrap();
    assert_eq!((refreshed.added, refreshed.removed), (1, 1));
    assert!(directory.authenticate(new.expose()).is_some());
    assert!(directory.authenticate(old.expose()).is_none());

    // A revocation here stops the key in memory before its store write commits: a refresh that
    // reads the store in between must not index it again.
    let (late_id, late) = stored_key(&store, owner, acme.id).await;
    directory.refresh(&store).await.unwrap().unwrap();
    assert!(directory.authenticate(late.expose()).is_some());
    assert!(directory.revoke(late_id));
    directory.refresh(&store).await.unwrap().unwrap();
    assert!(
        directory.authenticate(late.expose()).is_none(),
        "a key revoked here came back from a read older than its revocation"
    );
    store
        .revoke_key(late_id, now_millis(), &audit())
        .await
        .unwrap();
    directory.refresh(&store).await.unwrap().unwrap();
    assert!(directory.authenticate(late.expose()).is_none());

    // Suspended elsewhere: the user's keys stop and the record says so.
    store
        .set_entity_status(acme.id, Status::Suspended, &audit())
        .await
        .unwrap();
    directory.refresh(&store).await.unwrap().unwrap();
    assert!(directory.authenticate(new.expose()).is_none());
    assert!(!directory.user("ada").unwrap().is_active());
}

#[tokio::test]
async fn a_session_opened_through_another_replica_for_a_user_created_there_signs_in_here() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let acme = store.create_entity("acme", "Acme", &audit()).await.unwrap();
    // This replica loaded before the user existed and has not heard of them since.
    let here = Directory::load(&store).await.unwrap();
    let ada = stored_user(&store, acme.id, "ada").await;
    let there = Directory::load(&store).await.unwrap();
    let limits = SessionLimits {
        idle: std::time::Duration::from_secs(600),
        absolute: std::time::Duration::from_secs(3600),
        role_ttl: std::time::Duration::from_secs(300),
    };
    let now = now_millis();
    let (_, secret) = there
        .open_session(ada.id, Vec::new(), SignInMethod::Provider, limits, now)
        .await
        .unwrap();

    let principal = here.session_principal(secret.expose(), now).await.unwrap();
    assert_eq!(principal.owner, KeyOwner::User(ada.id));
    assert_eq!(principal.entity_id, Some(acme.id));
    assert!(here.user_by_id(ada.id).is_some(), "held from now on");
}
