//! SCIM's side of the store: provisioned users, teams and SCIM tokens, on both backends.

use domain::{
    ApiKey, AuditAction, EntityId, KeyOwner, KeySecret, ScimToken, ScimTokenId, Status, UserId,
    now_millis,
};
use store::{
    Column, Listing, Narrowing, NewUser, Ordering, Store, StoreError, TeamFields, TextMatch,
    UserFields,
};

use crate::audit;

async fn entity(store: &Store, slug: &str) -> EntityId {
    store
        .create_entity(slug, slug, &audit(AuditAction::EntityCreate))
        .await
        .unwrap()
        .id
}

fn new_user(entity_id: EntityId, name: &str) -> NewUser {
    NewUser {
        entity_id,
        user_name: name.into(),
        email: format!("{name}@example.com"),
        display_name: Some(format!("Dr {name}")),
        external_id: Some(format!("ext-{name}")),
    }
}

fn listing(entity: Option<EntityId>, narrowing: Narrowing) -> Listing {
    Listing {
        entity,
        narrowing,
        sort: None,
        page: None,
    }
}

pub async fn provisioned_users_are_found_by_folded_columns_changed_and_deleted(store: &Store) {
    let acme = entity(store, "acme").await;
    let beta = entity(store, "beta").await;
    let ada = store
        .create_provisioned_user(
            &new_user(acme, "Ada"),
            Status::Active,
            r#"{"title":"x"}"#,
            &audit(AuditAction::UserProvision),
        )
        .await
        .unwrap();
    store
        .create_provisioned_user(
            &new_user(beta, "bob"),
            Status::Active,
            "{}",
            &audit(AuditAction::UserProvision),
        )
        .await
        .unwrap();
    let err = store
        .create_provisioned_user(
            &new_user(beta, "ADA"),
            Status::Active,
            "{}",
            &audit(AuditAction::UserProvision),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(_)),
        "user names are unique case-insensitively: {err:?}"
    );

    let by_name = Narrowing::Text {
        column: Column::UserName,
        matching: TextMatch::Equal,
        value: "aDA".into(),
    };
    let page = store
        .list_provisioned_users(&listing(None, by_name.clone()))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].attributes, r#"{"title":"x"}"#);
    assert!(
        store
            .list_provisioned_users(&listing(Some(beta), by_name))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let like = Narrowing::Text {
        column: Column::Email,
        matching: TextMatch::Contains,
        value: "50%_".into(),
    };
    assert!(
        store
            .list_provisioned_users(&listing(None, like))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let recent = Narrowing::Time {
        column: Column::CreatedAt,
        ordering: Ordering::GreaterOrEqual,
        millis: ada.user.created_at,
    };
    let page = store
        .list_provisioned_users(&Listing {
            page: Some((1, 1)),
            sort: Some((Column::UserName, true)),
            ..listing(None, recent)
        })
        .await
        .unwrap();
    assert_eq!(
        (page.total, page.items[0].user.user_name.as_str()),
        (2, "Ada")
    );

    let fields = UserFields {
        user_name: "ada.l".into(),
        email: "ada@new.example".into(),
        display_name: None,
        external_id: None,
        status: Status::Suspended,
        attributes: "{}".into(),
    };
    let changed = store
        .replace_provisioned_user(
            ada.user.id,
            ada.version,
            &fields,
            &audit(AuditAction::UserUpdate),
        )
        .await
        .unwrap();
    assert_eq!(
        (changed.version, changed.user.status),
        (2, Status::Suspended)
    );
    let stale = store
        .replace_provisioned_user(
            ada.user.id,
            ada.version,
            &fields,
            &audit(AuditAction::UserUpdate),
        )
        .await
        .unwrap_err();
    assert!(matches!(stale, StoreError::VersionMismatch(_)), "{stale:?}");
    // The directory's search follows the change (the other "ADA" keeps her address), and
    // forgets the user once deleted.
    let searched = |q: &str| {
        let search = store::UserSearch {
            query: Some(q.into()),
            limit: 10,
            ..Default::default()
        };
        async move { store.search_users(&search).await.unwrap().len() }
    };
    assert_eq!(
        (searched("new.example").await, searched("ada@example").await),
        (1, 0)
    );

    let secret = KeySecret::generate();
    let key = ApiKey::issue(
        KeyOwner::User(ada.user.id),
        Some(acme),
        &secret,
        now_millis(),
    );
    store
        .create_key(&key, &audit(AuditAction::KeyCreate))
        .await
        .unwrap();
    assert_eq!(
        store
            .credentials_of(KeyOwner::User(ada.user.id))
            .await
            .unwrap()
            .len(),
        1
    );
    let revoked = store
        .delete_provisioned_user(ada.user.id, &audit(AuditAction::UserDeprovision))
        .await
        .unwrap();
    assert_eq!(revoked, vec![key.id]);
    assert_eq!(searched("new.example").await, 0);
    assert!(store.provisioned_user(ada.user.id).await.unwrap().is_none());
    assert!(store.user(ada.user.id).await.unwrap().is_none());
    assert!(matches!(
        store
            .delete_provisioned_user(ada.user.id, &audit(AuditAction::UserDeprovision))
            .await,
        Err(StoreError::NotFound(_))
    ));
    // The deleted user's name is free again.
    store
        .create_provisioned_user(
            &new_user(acme, "ada.l"),
            Status::Active,
            "{}",
            &audit(AuditAction::UserProvision),
        )
        .await
        .unwrap();
}

pub async fn teams_keep_their_members_and_follow_deleted_users(store: &Store) {
    let acme = entity(store, "acme").await;
    let mut ids = Vec::new();
    for name in ["ada", "bob"] {
        ids.push(
            store
                .create_provisioned_user(
                    &new_user(acme, name),
                    Status::Active,
                    "{}",
                    &audit(AuditAction::UserProvision),
                )
                .await
                .unwrap()
                .user
                .id,
        );
    }
    assert_eq!(
        store
            .users_in_entity(acme, &[ids[0], UserId::generate()])
            .await
            .unwrap(),
        vec![ids[0]]
    );
    let fields = TeamFields {
        display_name: "Quants".into(),
        external_id: Some("g-1".into()),
        attributes: "{}".into(),
        members: ids.clone(),
    };
    let team = store
        .create_team(acme, &fields, &audit(AuditAction::TeamCreate))
        .await
        .unwrap();
    let by_name = Narrowing::Text {
        column: Column::DisplayName,
        matching: TextMatch::Equal,
        value: "QUANTS".into(),
    };
    assert_eq!(
        store
            .list_teams(&listing(Some(acme), by_name))
            .await
            .unwrap()
            .items,
        vec![team.clone()]
    );
    assert_eq!(
        store.team_members(&[team.id]).await.unwrap()[&team.id].len(),
        2
    );
    store
        .delete_provisioned_user(ids[0], &audit(AuditAction::UserDeprovision))
        .await
        .unwrap();
    assert_eq!(
        store.team_members(&[team.id]).await.unwrap()[&team.id],
        vec![ids[1]]
    );
    assert_eq!(
        store.teams_of_users(&[ids[1]]).await.unwrap()[&ids[1]],
        vec![(team.id, "Quants".to_owned())]
    );
    let renamed = store
        .replace_team(
            team.id,
            team.version,
            &TeamFields {
                display_name: "Q".into(),
                members: vec![],
                ..fields
            },
            &audit(AuditAction::TeamUpdate),
        )
        .await
        .unwrap();
    assert_eq!((renamed.display_name.as_str(), renamed.version), ("Q", 2));
    assert!(store.team_members(&[team.id]).await.unwrap().is_empty());
    store
        .delete_team(team.id, &audit(AuditAction::TeamDelete))
        .await
        .unwrap();
    assert!(store.team(team.id).await.unwrap().is_none());
}

pub async fn scim_tokens_are_created_listed_and_revoked(store: &Store) {
    let acme = entity(store, "acme").await;
    let secret = KeySecret::generate_with_prefix(domain::SCIM_TOKEN_PREFIX);
    let token = ScimToken {
        id: ScimTokenId::generate(),
        name: Some("entra".into()),
        entity_id: Some(acme),
        hash: secret.hash(),
        display_prefix: secret.display_prefix(),
        created_at: now_millis(),
        revoked_at: None,
    };
    store
        .create_scim_token(&token, &audit(AuditAction::ScimTokenCreate))
        .await
        .unwrap();
    assert_eq!(
        store
            .list_scim_tokens(Some(acme), store::Window::ALL)
            .await
            .unwrap(),
        vec![token.clone()]
    );
    assert!(
        store
            .revoke_scim_token(token.id, 5, &audit(AuditAction::ScimTokenRevoke))
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_scim_token(token.id, 6, &audit(AuditAction::ScimTokenRevoke))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .scim_token(token.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(5)
    );
}
