//! The filter → SQL rule: indexed columns narrow, exactness decides where paging happens.

use serde_json::json;
use store::{Column, Narrowing, TextMatch};

use super::*;
use crate::filter::parse_filter;

fn narrow(filter: &str) -> (Narrowing, bool) {
    narrowing(ResourceType::User, &parse_filter(filter).unwrap())
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

/// Limits on filters and paths answer RFC 7644 errors: `invalidFilter` for filters, `invalidPath`
/// for `sortBy`, `attributes` and `excludedAttributes`, from a query string or a search body.
#[test]
fn limits_answer_invalid_filter_or_invalid_path() {
    use crate::filter::{MAX_DEPTH, MAX_LENGTH};
    let deep = format!(
        "{}userName pr{}",
        "(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    let long = "a".repeat(MAX_LENGTH + 1);
    let deep_path = format!("{}value eq \"x\"{}", "emails[".repeat(300), "]".repeat(300));
    let many = vec!["userName"; MAX_PROJECTED_PATHS + 1].join(",");
    let scim_type =
        |body: serde_json::Value| ListRequest::from_search(&body).unwrap_err().scim_type;
    for filter in [&deep, &long] {
        assert_eq!(scim_type(json!({"filter": filter})), Some("invalidFilter"));
        let query = HashMap::from([("filter".to_owned(), filter.clone())]);
        assert_eq!(
            ListRequest::from_query(&query).unwrap_err().scim_type,
            Some("invalidFilter")
        );
    }
    for path in [&deep_path, &long] {
        assert_eq!(scim_type(json!({"sortBy": path})), Some("invalidPath"));
        assert_eq!(
            scim_type(json!({"attributes": [path]})),
            Some("invalidPath")
        );
        assert_eq!(
            scim_type(json!({"excludedAttributes": path})),
            Some("invalidPath")
        );
    }
    let error = Projection::parse(Some(&many), None).unwrap_err();
    assert_eq!(error.scim_type, Some("invalidPath"), "{error}");
    assert!(
        Projection::parse(Some(&vec!["userName"; MAX_PROJECTED_PATHS].join(",")), None).is_ok()
    );
}

/// An inexact filter is evaluated on the candidates SQL selected and paged after; more candidates
/// than the limit is `tooMany`, never a read of the whole entity.
#[test]
fn inexact_filters_page_after_evaluation_and_refuse_too_many_candidates() {
    let documents: Vec<Value> = ["ada", "bob", "anna", "alan"]
        .iter()
        .map(|name| json!({"userName": name, "title": "Engineer"}))
        .collect();
    let filter = parse_filter(r#"userName sw "a""#).unwrap();
    let candidates = |total| Candidates {
        total,
        documents: documents.clone(),
        attributes: schema::USER_ATTRIBUTES,
    };
    let (total, page) = candidates(4).matching_page(&filter, 4, 1, 1).unwrap();
    assert_eq!((total, page), (3, vec![documents[2].clone()]));
    let error = candidates(5).matching_page(&filter, 4, 0, 10).unwrap_err();
    assert_eq!(
        (error.status.as_u16(), error.scim_type),
        (400, Some("tooMany"))
    );
}
