//! The filter → SQL rule: indexed columns narrow, exactness decides where paging happens.

use store::{Column, Narrowing, TextMatch};

use super::*;
use crate::filter::parse_filter;

fn narrow(filter: &str) -> (Narrowing, bool) {
    narrowing(Resource::User, &parse_filter(filter).unwrap())
}

#[test]
fn column_comparisons_are_exact_and_the_rest_is_left_to_rust() {
    let (n, exact) = narrow(r#"userName eq "Ada""#);
    assert!(exact);
    assert_eq!(
        n,
        Narrowing::Text {
            column: Column::UserName,
            matching: TextMatch::Equal,
            value: "Ada".into()
        }
    );
    assert!(narrow(r#"externalId eq "x" and active eq false"#).1);
    assert!(narrow(r#"emails[primary eq true].value eq "a@b.c""#).1);
    assert!(
        !narrow(r#"userName co "a""#).1,
        "LIKE narrows, Rust decides"
    );
    assert!(!narrow(r#"title eq "x""#).1);
    assert_eq!(narrow(r#"title eq "x""#).0, Narrowing::All);
    assert!(!narrow(r#"not (userName eq "a")"#).1);
    assert!(!narrow(r#"userName eq "a" or title eq "b""#).1);
    assert!(narrow(r#"meta.created gt "2026-01-01T00:00:00Z""#).1);
}

#[test]
fn projection_keeps_id_and_schemas_and_drops_excluded_paths() {
    let document = serde_json::json!({
        "schemas": ["s"], "id": "usr_1", "userName": "ada", "title": "t",
        "name": {"givenName": "Ada", "familyName": "L"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "d", "division": "v"}
    });
    let only = Projection::parse(
        Some(
            "name.givenName,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        ),
        None,
    )
    .unwrap();
    assert_eq!(
        only.apply(document.clone()),
        serde_json::json!({"schemas": ["s"], "id": "usr_1", "name": {"givenName": "Ada"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "d"}})
    );
    let without = Projection::parse(None, Some("title,id,name.familyName")).unwrap();
    let projected = without.apply(document);
    assert!(projected.get("title").is_none() && projected.get("id").is_some());
    assert_eq!(projected["name"], serde_json::json!({"givenName": "Ada"}));
}
