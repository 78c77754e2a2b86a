//! The filter grammar, evaluation and errors, on the RFC's own examples and the forms directories send.

use serde_json::json;

use super::*;
use crate::evaluate::matches;
use crate::schema::USER_ATTRIBUTES;

fn check(filter: &str, document: &serde_json::Value) -> bool {
    let parsed = parse_filter(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
    matches(&parsed, document, USER_ATTRIBUTES)
}

fn ada() -> serde_json::Value {
    json!({
        "id": "usr_1",
        "userName": "Ada.Lovelace",
        "externalId": "AbC",
        "active": true,
        "title": "Engineer",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [
            {"value": "ada@work.example", "type": "work", "primary": true},
            {"value": "ada@home.example", "type": "home"}
        ],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D", "organization": "Banque Régionale"},
        "meta": {"created": "2026-01-02T03:04:05.000Z", "lastModified": "2026-03-01T00:00:00Z"}
    })
}

#[test]
fn comparison_operators_follow_case_exactness() {
    let ada = ada();
    assert!(
        check(r#"userName eq "ada.lovelace""#, &ada),
        "userName is caseExact=false"
    );
    assert!(
        !check(r#"externalId eq "abc""#, &ada),
        "externalId is caseExact"
    );
    assert!(check(r#"externalId eq "AbC""#, &ada));
    assert!(
        check(r#"USERNAME Eq "ADA.LOVELACE""#, &ada),
        "names and operators in any case"
    );
    assert!(check(r#"userName ne "grace""#, &ada));
    assert!(check(r#"userName co "love""#, &ada));
    assert!(check(r#"userName sw "ada""#, &ada));
    assert!(check(r#"userName ew "LACE""#, &ada));
    assert!(check(r#"title pr"#, &ada));
    assert!(!check(r#"nickName pr"#, &ada));
    assert!(check(r#"userName gt "a" and userName lt "b""#, &ada));
    assert!(check(
        r#"userName ge "ada.lovelace" and userName le "ada.lovelace""#,
        &ada
    ));
    assert!(!check(
        r#"meta.created lt "2026-01-02T04:00:00+01:00""#,
        &ada
    ));
    assert!(check(
        r#"meta.lastModified gt "2026-02-01T00:00:00Z""#,
        &ada
    ));
    assert!(check(r#"active eq true"#, &ada));
}

#[test]
fn logic_precedence_parentheses_and_not() {
    let ada = ada();
    // and binds tighter than or.
    assert!(check(
        r#"userName eq "x" and title eq "y" or active eq true"#,
        &ada
    ));
    assert!(!check(
        r#"userName eq "x" and (title eq "y" or active eq true)"#,
        &ada
    ));
    assert!(check(r#"not (userName eq "grace")"#, &ada));
    assert!(!check(r#"not(active eq true)"#, &ada));
    assert!(check(r#"((userName sw "ADA"))"#, &ada));
}

#[test]
fn complex_and_multi_valued_attributes() {
    let ada = ada();
    assert!(check(
        r#"emails[type eq "work" and value co "@work"]"#,
        &ada
    ));
    assert!(!check(r#"emails[type eq "other"]"#, &ada));
    assert!(check(
        r#"emails[type eq "work"].value eq "ADA@work.example""#,
        &ada
    ));
    assert!(
        check(r#"emails eq "ada@home.example""#, &ada),
        "a complex multi-valued attribute compares by value"
    );
    assert!(check(r#"emails.type eq "home""#, &ada));
    assert!(check(r#"name.givenName eq "ada""#, &ada));
    assert!(check(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "r&d""#,
        &ada
    ));
    assert!(check(
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "ada""#,
        &ada
    ));
}

#[test]
fn errors_say_where() {
    for (filter, position) in [
        (r#"userName eq"#, 11),
        (r#"userName zz "x""#, 9),
        (r#"userName eq "x" and"#, 19),
        (r#"(userName eq "x""#, 16),
        (r#"userName eq "unterminated"#, 12),
        (r#"emails[type eq "work""#, 21),
        (r#"userName eq "x" garbage"#, 16),
        ("", 0),
    ] {
        let error = parse_filter(filter).expect_err(filter);
        assert_eq!(error.position, position, "{filter}: {error}");
        assert!(error.to_string().contains("at character"), "{error}");
    }
}

#[test]
fn values_of_every_json_kind_parse() {
    let parsed = parse_filter(r#"a eq "q\"uote" or b eq 12.5 or c eq false or d eq null"#).unwrap();
    let text = format!("{parsed:?}");
    assert!(
        text.contains("q\\\"uote") && text.contains("12.5") && text.contains("Null"),
        "{text}"
    );
}

#[test]
fn patch_paths_parse_with_filters_sub_attributes_and_schemas() {
    let path = parse_path(r#"emails[type eq "work"].value"#).unwrap();
    assert_eq!(path.attribute, "emails");
    assert_eq!(path.sub_attribute.as_deref(), Some("value"));
    assert!(path.filter.is_some());
    let path =
        parse_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value")
            .unwrap();
    assert_eq!(
        path.schema.as_deref(),
        Some(crate::schema::ENTERPRISE_USER_SCHEMA)
    );
    assert_eq!(
        (path.attribute.as_str(), path.sub_attribute.as_deref()),
        ("manager", Some("value"))
    );
    let path = parse_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User").unwrap();
    assert!(path.attribute.is_empty());
    let path = parse_path(r#"members[value eq "usr_1"]"#).unwrap();
    assert!(path.filter.is_some() && path.sub_attribute.is_none());
    assert!(parse_path("emails[").is_err());
    assert!(parse_path("9lives").is_err());
}

/// Runs `body` in a child process: this test binary, asked to run only the test named `test`.
/// A stack overflow aborts the whole process instead of panicking one thread, so run in-process a
/// regression would kill every test of the binary at once; this way it fails just this one.
fn in_child_process(test: &str, body: impl FnOnce()) {
    const CHILD: &str = "SCIM_FILTER_TEST_CHILD";
    if std::env::var_os(CHILD).is_some() {
        body();
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{test} failed in its child process ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The review's attack: 300,000 nested parentheses, value filters or `not`s, and chains of
/// operators long enough to make a deep tree, in filters and in paths. Each is refused with an
/// error, and nothing that is accepted is too deep to evaluate or to drop.
#[test]
fn nesting_and_length_are_bounded_so_no_input_overflows_the_stack() {
    in_child_process(
        "filter::tests::nesting_and_length_are_bounded_so_no_input_overflows_the_stack",
        || {
            let n = 300_000;
            let parentheses = format!("{}userName eq \"x\"{}", "(".repeat(n), ")".repeat(n));
            let nots = format!("{}userName eq \"x\"{}", "not (".repeat(n), ")".repeat(n));
            let value_filters = format!("{}value eq \"x\"{}", "emails[".repeat(n), "]".repeat(n));
            let chain = vec![r#"userName eq "x""#; n].join(" or ");
            for text in [&parentheses, &nots, &value_filters, &chain] {
                let error = parse_filter(text).unwrap_err();
                assert!(
                    error.text.len() < 200,
                    "the error does not echo the whole input"
                );
                assert!(parse_path(text).is_err());
            }
            // Just within the limits: parses, evaluates and drops.
            let depth = MAX_DEPTH;
            let nested = format!(
                "{}userName eq \"x\"{}",
                "(".repeat(depth),
                ")".repeat(depth)
            );
            assert!(!check(&nested, &ada()));
            let too_deep = format!("({nested})");
            let error = parse_filter(&too_deep).unwrap_err();
            assert!(error.message.contains("nested"), "{error}");
            let long_chain = vec!["title pr"; MAX_LENGTH / 12].join(" or ");
            assert!(check(&long_chain, &ada()));
            let long_chain = vec!["title pr"; MAX_LENGTH / 13].join(" and ");
            assert!(check(&long_chain, &ada()));
            let error =
                parse_filter(&format!("{long_chain}{}", " ".repeat(MAX_LENGTH))).unwrap_err();
            assert!(error.message.contains("longer than"), "{error}");
        },
    );
}

/// A multi-byte character where the parser looks for `urn:` or a schema URN is an error, not a
/// slicing panic.
#[test]
fn multi_byte_characters_near_urns_are_errors_not_panics() {
    for text in [
        "abcé eq \"x\"",
        "é",
        "urné",
        "urn:ietf:params:scim:schemas:core:2.0:Useré",
        "urn:ietf:params:scim:schemas:core:2.0:Usé:userName eq \"x\"",
        "urn:ietf:params:scim:schemas:core:2.0:Us€r:userName eq \"x\"",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:Useré:department",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:Us€r:department eq \"x\"",
    ] {
        let filter = std::panic::catch_unwind(|| parse_filter(text));
        let path = std::panic::catch_unwind(|| parse_path(text));
        assert!(filter.is_ok() && path.is_ok(), "{text} panicked");
    }
}
