//! Claim mapping, on claims written by hand.

use domain::Role;
use serde_json::json;

use super::*;

fn settings(extra: &str) -> OidcConfig {
    let text = format!(
        r#"
        [oidc]
        issuer = "https://login.example.com"
        client_id = "fabrique"
        redirect_url = "https://fabrique.example.com/auth/callback"
        {extra}
        "#
    );
    configuration::Config::from_toml(&text, "test.toml", &|_| None)
        .unwrap()
        .oidc
        .unwrap()
}

fn claims(value: serde_json::Value) -> Claims {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("claims are an object"),
    }
}

#[test]
fn the_configured_claim_names_the_user() {
    let token =
        claims(json!({"sub": "s-1", "preferred_username": "ada", "email": "ada@example.test"}));
    assert_eq!(identity(&settings(""), &token).unwrap().user_name, "ada");
    let by_email = settings(r#"user_name_claim = "email""#);
    assert_eq!(
        identity(&by_email, &token).unwrap().user_name,
        "ada@example.test"
    );
    let by_sub = settings(r#"user_name_claim = "sub""#);
    assert_eq!(identity(&by_sub, &token).unwrap().user_name, "s-1");
    let without = claims(json!({"sub": "s-1"}));
    assert_eq!(
        identity(&settings(""), &without),
        Err(Rejection::MissingClaim("preferred_username".into()))
    );
}

#[test]
fn the_entity_comes_from_the_claim_through_the_map_or_the_default() {
    let direct = settings(r#"entity_claim = "entity""#);
    let token = claims(json!({"sub": "s", "preferred_username": "ada", "entity": "acme"}));
    assert_eq!(
        identity(&direct, &token).unwrap().entity_slug.as_deref(),
        Some("acme")
    );
    let mapped = settings(
        r#"entity_claim = "department"
        entity_map = { "RB" = "retail-bank" }
        default_entity = "holding""#,
    );
    let rb = claims(json!({"sub": "s", "preferred_username": "ada", "department": "RB"}));
    let other = claims(json!({"sub": "s", "preferred_username": "ada", "department": "XX"}));
    assert_eq!(
        identity(&mapped, &rb).unwrap().entity_slug.as_deref(),
        Some("retail-bank")
    );
    assert_eq!(
        identity(&mapped, &other).unwrap().entity_slug.as_deref(),
        Some("holding"),
        "an unmapped value falls back to the default"
    );
    // Only what the claims say binds an existing user to an entity, never the default.
    assert_eq!(
        identity(&mapped, &rb).unwrap().claimed_entity.as_deref(),
        Some("retail-bank")
    );
    assert_eq!(identity(&mapped, &other).unwrap().claimed_entity, None);
}

#[test]
fn groups_map_to_roles_scoped_to_the_entity_unless_mapped_group_wide() {
    let mapped = settings(
        r#"roles_claim = "groups"
        role_map = { "admins" = "group_admin", "audit" = "auditor", "audit-2" = "auditor", "audit-all" = { role = "auditor", scope = "group" } }"#,
    );
    let token = claims(
        json!({"sub": "s", "preferred_username": "ada", "groups": ["audit", "admins", "audit-2", "other", 7, "audit-all"]}),
    );
    let roles = identity(&mapped, &token).unwrap().roles;
    let entity_auditor = MappedRole {
        role: Role::Auditor,
        scope: RoleScope::Entity,
    };
    let group_admin = MappedRole {
        role: Role::GroupAdmin,
        scope: RoleScope::Group,
    };
    let group_auditor = MappedRole {
        role: Role::Auditor,
        scope: RoleScope::Group,
    };
    assert_eq!(roles, vec![entity_auditor, group_admin, group_auditor]);
    let entity = EntityId::generate();
    assert_eq!(
        grants(&roles, entity),
        vec![
            RoleGrant {
                role: Role::Auditor,
                entity_id: Some(entity)
            },
            RoleGrant {
                role: Role::GroupAdmin,
                entity_id: None
            },
            RoleGrant {
                role: Role::Auditor,
                entity_id: None
            },
        ]
    );
    let single = claims(json!({"sub": "s", "preferred_username": "ada", "groups": "admins"}));
    assert_eq!(identity(&mapped, &single).unwrap().roles, vec![group_admin]);
}
