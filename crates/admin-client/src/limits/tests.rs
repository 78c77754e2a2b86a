//! The requests `limits` and `budgets` commands send.

use reqwest::Method;
use serde_json::json;

use crate::request::{Request, request_for};
use crate::tests::parse;

#[test]
fn a_scope_is_named_by_exactly_one_flag() {
    let cli = parse(&["limits", "get", "--key-id", "key_1"]).unwrap();
    let Request { method, path, .. } = request_for(&cli.command);
    assert_eq!(
        (method, path.as_str()),
        (Method::GET, "/admin/v1/limits/key/key_1")
    );

    let cli = parse(&["budgets", "reset", "--entity", "acme"]).unwrap();
    let Request {
        method, path, body, ..
    } = request_for(&cli.command);
    assert_eq!(
        (method, path.as_str(), body),
        (Method::POST, "/admin/v1/budgets/entity/acme/reset", None)
    );

    assert!(parse(&["limits", "get"]).is_err());
    assert!(parse(&["limits", "get", "--key-id", "key_1", "--user-id", "usr_1"]).is_err());
}

#[test]
fn set_sends_the_rule_and_delete_says_which_budget() {
    let cli = parse(&[
        "limits",
        "set",
        "--team-id",
        "team_1",
        "--requests-per-minute",
        "60",
    ])
    .unwrap();
    let Request {
        method, path, body, ..
    } = request_for(&cli.command);
    assert_eq!(
        (method, path.as_str()),
        (Method::PUT, "/admin/v1/limits/team/team_1")
    );
    assert_eq!(
        body,
        Some(json!({"requests_per_minute": 60, "tokens_per_minute": null}))
    );
    assert!(
        parse(&["limits", "set", "--team-id", "team_1"]).is_err(),
        "a limit is required"
    );

    let cli = parse(&[
        "budgets",
        "set",
        "--user-id",
        "usr_1",
        "--period",
        "month",
        "--unit",
        "money_micros",
        "--hard-limit",
        "5000000",
        "--soft-threshold-percent",
        "80",
    ])
    .unwrap();
    let Request { path, body, .. } = request_for(&cli.command);
    assert_eq!(path, "/admin/v1/budgets/user/usr_1");
    assert_eq!(
        body,
        Some(
            json!({"period": "month", "unit": "money_micros", "hard_limit": 5_000_000, "soft_threshold_percent": 80})
        )
    );
    assert!(
        parse(&[
            "budgets",
            "set",
            "--user-id",
            "u",
            "--period",
            "week",
            "--unit",
            "tokens",
            "--hard-limit",
            "1"
        ])
        .is_err()
    );

    let cli = parse(&[
        "budgets", "delete", "--key-id", "key_1", "--period", "day", "--unit", "tokens",
    ])
    .unwrap();
    let Request {
        method,
        path,
        query,
        ..
    } = request_for(&cli.command);
    assert_eq!(
        (method, path.as_str()),
        (Method::DELETE, "/admin/v1/budgets/key/key_1")
    );
    assert_eq!(
        query,
        vec![("period", "day".to_owned()), ("unit", "tokens".to_owned())]
    );

    let cli = parse(&["budgets", "list", "--entity", "acme"]).unwrap();
    let Request { path, query, .. } = request_for(&cli.command);
    assert_eq!(path, "/admin/v1/budgets");
    assert_eq!(query, vec![("entity", "acme".to_owned())]);
}
