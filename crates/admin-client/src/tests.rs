//! Command-line parsing and the request each command sends.

use clap::Parser;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::request::{Request, request_for};
use crate::{AdminCli, CliError};

#[derive(Parser)]
struct Root {
    #[command(flatten)]
    admin: AdminCli,
}

pub(super) fn parse(args: &[&str]) -> Result<AdminCli, clap::Error> {
    Root::try_parse_from(std::iter::once("admin").chain(args.iter().copied())).map(|r| r.admin)
}

#[test]
fn keys_create_takes_a_user_or_an_entity_and_service_account() {
    let cli = parse(&["--key", "k", "keys", "create", "--user-id", "usr_1"]).unwrap();
    let Request {
        method, path, body, ..
    } = request_for(&cli.command);
    assert_eq!((method, path.as_str()), (Method::POST, "/admin/v1/keys"));
    assert_eq!(body, Some(json!({"user_id": "usr_1"})));

    let cli = parse(&[
        "keys",
        "create",
        "--entity",
        "acme",
        "--service-account",
        "ci",
        "--name",
        "build",
        "--classification",
        "confidential",
    ])
    .unwrap();
    let Request { body, .. } = request_for(&cli.command);
    assert_eq!(
        body,
        Some(
            json!({"entity": "acme", "service_account": "ci", "name": "build", "classification": "confidential"})
        )
    );

    assert!(parse(&["keys", "create"]).is_err());
    assert!(parse(&["keys", "create", "--entity", "acme"]).is_err());
    assert!(
        parse(&[
            "keys",
            "create",
            "--user-id",
            "usr_1",
            "--entity",
            "acme",
            "--service-account",
            "ci"
        ])
        .is_err()
    );
}

#[test]
fn listing_and_revoking_requests() {
    let cli = parse(&["users", "list", "--entity", "acme"]).unwrap();
    let Request {
        method,
        path,
        query,
        ..
    } = request_for(&cli.command);
    assert_eq!(
        (method, path.as_str(), query),
        (
            Method::GET,
            "/admin/v1/users",
            vec![("entity", "acme".to_owned())]
        )
    );
    let cli = parse(&["keys", "revoke", "key_a/b"]).unwrap();
    assert_eq!(request_for(&cli.command).path, "/admin/v1/keys/key_a%2Fb");
    let cli = parse(&["audit"]).unwrap();
    assert_eq!(
        request_for(&cli.command).query,
        vec![("limit", "50".to_owned())]
    );
}

#[test]
fn entities_suspend_and_reactivate_set_the_status() {
    let cli = parse(&["entities", "suspend", "acme"]).unwrap();
    let Request {
        method, path, body, ..
    } = request_for(&cli.command);
    assert_eq!(
        (method, path.as_str()),
        (Method::PUT, "/admin/v1/entities/acme/status")
    );
    assert_eq!(body, Some(json!({"status": "suspended"})));
    let cli = parse(&["entities", "reactivate", "acme"]).unwrap();
    assert_eq!(
        request_for(&cli.command).body,
        Some(json!({"status": "active"}))
    );
}

#[test]
fn the_key_is_never_shown_by_debug() {
    let cli = parse(&["--key", "fabk_secret", "entities", "list"]).unwrap();
    assert!(!format!("{cli:?}").contains("fabk_secret"));
}

#[test]
fn api_errors_read_as_one_line() {
    let err = CliError::Api {
        status: StatusCode::CONFLICT,
        code: "conflict".into(),
        message: "entity slug `x` already exists".into(),
    };
    assert_eq!(
        err.to_string(),
        "409 conflict: entity slug `x` already exists"
    );
}

#[test]
fn keys_create_takes_scopes_lifetime_and_priority_and_keys_rotate_a_grace() {
    let cli = parse(&[
        "keys",
        "create",
        "--user-id",
        "usr_1",
        "--model",
        "mistral-small",
        "--model",
        "codestral",
        "--expires-in",
        "90d",
        "--priority",
        "batch",
    ])
    .unwrap();
    let Request { body, .. } = request_for(&cli.command);
    assert_eq!(
        body,
        Some(json!({
            "user_id": "usr_1", "models": ["mistral-small", "codestral"],
            "expires_in_days": 90, "priority": "batch",
        }))
    );
    assert!(parse(&["keys", "create", "--user-id", "u", "--expires-in", "soon"]).is_err());

    let cli = parse(&["keys", "rotate", "key_1", "--grace", "24h"]).unwrap();
    let Request {
        method, path, body, ..
    } = request_for(&cli.command);
    assert_eq!(
        (method, path.as_str()),
        (Method::POST, "/admin/v1/keys/key_1/rotate")
    );
    assert_eq!(body, Some(json!({"grace_seconds": 86_400})));
    let cli = parse(&["keys", "rotate", "key_1"]).unwrap();
    assert_eq!(request_for(&cli.command).body, Some(json!({})));
    for (grace, seconds) in [("0", 0), ("90s", 90), ("30m", 1_800), ("7d", 604_800)] {
        let cli = parse(&["keys", "rotate", "k", "--grace", grace]).unwrap();
        assert_eq!(
            request_for(&cli.command).body,
            Some(json!({"grace_seconds": seconds}))
        );
    }
    assert!(parse(&["keys", "rotate", "k", "--grace", "a while"]).is_err());
}

#[test]
fn audit_filters_and_pool_shares_map_to_their_queries() {
    let cli = parse(&[
        "audit",
        "--entity",
        "acme",
        "--action",
        "key",
        "--outcome",
        "denied",
        "--from",
        "2026-11-01",
        "--before",
        "42",
    ])
    .unwrap();
    let Request {
        method,
        path,
        query,
        ..
    } = request_for(&cli.command);
    assert_eq!((method, path.as_str()), (Method::GET, "/admin/v1/audit"));
    assert_eq!(
        query,
        [
            ("limit", "50".to_owned()),
            ("entity", "acme".to_owned()),
            ("action", "key".to_owned()),
            ("outcome", "denied".to_owned()),
            ("from", "2026-11-01".to_owned()),
            ("before", "42".to_owned()),
        ]
    );

    let cli = parse(&[
        "pools",
        "set-share",
        "gpu-a",
        "acme",
        "--weight",
        "3",
        "--min-share",
        "0.2",
    ])
    .unwrap();
    let Request {
        method, path, body, ..
    } = request_for(&cli.command);
    assert_eq!(
        (method, path.as_str()),
        (Method::PUT, "/admin/v1/pools/gpu-a/shares/acme")
    );
    assert_eq!(body, Some(json!({"weight": 3, "min_share": 0.2})));
    let cli = parse(&["pools", "shares", "gpu-a"]).unwrap();
    let Request { method, path, .. } = request_for(&cli.command);
    assert_eq!(
        (method, path.as_str()),
        (Method::GET, "/admin/v1/pools/gpu-a/shares")
    );
    assert!(parse(&["pools", "set-share", "gpu-a", "acme"]).is_err());
}

#[test]
fn every_client_takes_the_server_and_key_before_or_after_its_subcommand() {
    let before = parse(&["--url", "http://h:1", "--key", "k", "entities", "list"]).unwrap();
    let after = parse(&["entities", "list", "--url", "http://h:1", "--key", "k"]).unwrap();
    for cli in [before, after] {
        assert_eq!(cli.server.url, "http://h:1");
        assert_eq!(cli.server.key.as_deref(), Some("k"));
    }
}

#[test]
fn roles_grant_revoke_and_list_name_a_user_a_role_and_an_entity() {
    let cli = parse(&["roles", "grant", "ada", "entity_admin", "--entity", "acme"]).unwrap();
    let Request {
        method, path, body, ..
    } = request_for(&cli.command);
    assert_eq!(
        (method, path.as_str()),
        (Method::POST, "/admin/v1/role-grants")
    );
    assert_eq!(
        body,
        Some(json!({"user": "ada", "role": "entity_admin", "entity": "acme"}))
    );

    let cli = parse(&["roles", "revoke", "ada", "group_admin"]).unwrap();
    let Request {
        method,
        path,
        query,
        body,
        ..
    } = request_for(&cli.command);
    assert_eq!(
        (method, path.as_str()),
        (Method::DELETE, "/admin/v1/role-grants")
    );
    assert_eq!(
        query,
        vec![
            ("user", "ada".to_owned()),
            ("role", "group_admin".to_owned())
        ]
    );
    assert_eq!(body, None);

    let cli = parse(&["roles", "list", "--entity", "acme", "--user", "ada"]).unwrap();
    let Request { method, query, .. } = request_for(&cli.command);
    assert_eq!(method, Method::GET);
    assert_eq!(
        query,
        vec![("entity", "acme".to_owned()), ("user", "ada".to_owned())]
    );
    assert!(parse(&["roles", "grant", "ada"]).is_err());
}
