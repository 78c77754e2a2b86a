//! PATCH semantics on documents: the RFC's operations and the forms Entra ID and Okta send.

use serde_json::{Value, json};

use super::*;
use crate::schema::{GROUP_ATTRIBUTES, USER_ATTRIBUTES};

fn run(document: Value, operations: Value) -> Result<Value, ScimError> {
    let body = json!({"schemas": [schema::PATCH_OP], "Operations": operations});
    let operations = parse_request(&body)?;
    let mut document = document;
    apply(&mut document, &operations, USER_ATTRIBUTES)?;
    Ok(document)
}

fn user() -> Value {
    json!({
        "userName": "ada",
        "active": true,
        "emails": [{"value": "ada@work.example", "type": "work", "primary": true}]
    })
}

#[test]
fn replace_without_path_and_entra_capitalization() {
    let out = run(
        user(),
        json!([{"op": "Replace", "value": {"active": false, "displayName": "Ada L"}}]),
    )
    .unwrap();
    assert_eq!(out["active"], json!(false));
    assert_eq!(out["displayName"], json!("Ada L"));
}

#[test]
fn replace_with_a_value_filter_path_changes_only_the_matching_value() {
    let out = run(
        user(),
        json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@work.example"}]),
    )
    .unwrap();
    assert_eq!(
        out["emails"],
        json!([{"value": "new@work.example", "type": "work", "primary": true}])
    );
}

#[test]
fn add_through_an_unmatched_equality_filter_creates_the_value() {
    let out = run(
        user(),
        json!([{"op": "add", "path": "emails[type eq \"home\"].value", "value": "ada@home.example"}]),
    )
    .unwrap();
    assert_eq!(
        out["emails"][1],
        json!({"type": "home", "value": "ada@home.example"})
    );
}

#[test]
fn add_appends_to_multi_valued_attributes_and_merges_complex_ones() {
    let out = run(
        user(),
        json!([
            {"op": "add", "path": "emails", "value": [{"value": "b@x.example", "type": "other"}]},
            {"op": "add", "path": "name", "value": {"givenName": "Ada"}},
            {"op": "add", "path": "name.familyName", "value": "Lovelace"},
            {"op": "add", "value": {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"}}}
        ]),
    )
    .unwrap();
    assert_eq!(out["emails"].as_array().unwrap().len(), 2);
    assert_eq!(
        out["name"],
        json!({"givenName": "Ada", "familyName": "Lovelace"})
    );
    assert_eq!(
        out["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        "R&D"
    );
}

#[test]
fn extension_attributes_by_urn_path() {
    let out = run(
        user(),
        json!([
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "42"},
            {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "value": {"costCenter": "CC1"}}
        ]),
    )
    .unwrap();
    let extension = &out["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
    assert_eq!(
        extension,
        &json!({"employeeNumber": "42", "costCenter": "CC1"})
    );
    let out = run(out, json!([{"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"}])).unwrap();
    assert_eq!(
        out["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        json!({"costCenter": "CC1"})
    );
}

#[test]
fn remove_by_filter_by_value_and_whole_attribute() {
    let mut document = user();
    document["emails"]
        .as_array_mut()
        .unwrap()
        .push(json!({"value": "h@x.example", "type": "home"}));
    let out = run(
        document.clone(),
        json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
    )
    .unwrap();
    assert_eq!(out["emails"].as_array().unwrap().len(), 1);
    let out = run(
        document.clone(),
        json!([{"op": "remove", "path": "emails", "value": [{"value": "h@x.example"}]}]),
    )
    .unwrap();
    assert_eq!(out["emails"].as_array().unwrap().len(), 1);
    let out = run(document, json!([{"op": "remove", "path": "emails"}])).unwrap();
    assert!(out.get("emails").is_none());
}

#[test]
fn group_members_are_added_and_removed() {
    let body = json!({"schemas": [schema::PATCH_OP], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": "usr_1"}, {"value": "usr_2"}]},
        {"op": "remove", "path": "members[value eq \"usr_1\"]"}
    ]});
    let mut group = json!({"displayName": "team"});
    apply(&mut group, &parse_request(&body).unwrap(), GROUP_ATTRIBUTES).unwrap();
    assert_eq!(group["members"], json!([{"value": "usr_2"}]));
}

#[test]
fn bad_requests_get_the_rfc_error_types() {
    let error = run(
        user(),
        json!([{"op": "replace", "path": "id", "value": "x"}]),
    )
    .unwrap_err();
    assert_eq!(error.scim_type, Some("mutability"));
    let error = run(user(), json!([{"op": "remove"}])).unwrap_err();
    assert_eq!(error.scim_type, Some("noTarget"));
    let error = run(
        user(),
        json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]),
    )
    .unwrap_err();
    assert_eq!(error.scim_type, Some("invalidPath"));
    let error = run(user(), json!([{"op": "move", "path": "title"}])).unwrap_err();
    assert_eq!(error.scim_type, Some("invalidSyntax"));
    let error = run(user(), json!([{"op": "replace", "path": "emails[type eq \"x\" or value eq \"y\"].value", "value": "z"}])).unwrap_err();
    assert_eq!(error.scim_type, Some("noTarget"));
    let error = parse_request(&json!({"Operations": []})).unwrap_err();
    assert_eq!(error.scim_type, Some("invalidSyntax"));
}

/// A PATCH path nested past the limit is `invalidPath`, and a request of too many operations is
/// refused before any is applied.
#[test]
fn deep_paths_and_too_many_operations_are_refused() {
    // The review's 200,000 nested value filters are `filter::tests`' to try, in a child process.
    let long = "emails[".repeat(crate::filter::MAX_LENGTH);
    let nested = format!(
        "{}value eq \"x\"{}",
        "emails[".repeat(crate::filter::MAX_DEPTH + 1),
        "]".repeat(crate::filter::MAX_DEPTH + 1)
    );
    for path in [long, nested] {
        let body = json!({
            "schemas": [schema::PATCH_OP],
            "Operations": [{"op": "remove", "path": path}]
        });
        let error = parse_request(&body).unwrap_err();
        assert_eq!(error.scim_type, Some("invalidPath"), "{error}");
    }
    let operations = vec![json!({"op": "remove", "path": "title"}); MAX_OPERATIONS + 1];
    let body = json!({"schemas": [schema::PATCH_OP], "Operations": operations});
    assert_eq!(
        parse_request(&body).unwrap_err().scim_type,
        Some("invalidValue")
    );
}
