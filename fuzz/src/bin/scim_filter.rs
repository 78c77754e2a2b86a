//! SCIM filters and attribute paths (`scim::filter`), as the directory sends them in `filter=`,
//! `sortBy`, `attributes` and PATCH `path`: any text parses to a tree or a `SyntaxError`, and a
//! value filter that parses is evaluated on a user's e-mails through a PATCH, as the server does.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scim::schema::{PATCH_OP, USER_ATTRIBUTES};
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = scim::filter::parse_filter(text);
    let _ = scim::filter::parse_path(text);
    for path in [format!("emails[{text}]"), format!("emails[{text}].value"), text.to_owned()] {
        for op in ["remove", "replace", "add"] {
            patch(op, &path);
        }
    }
});

/// Applies one operation on `path` to a user, as `PATCH /Users/{id}` does.
fn patch(op: &str, path: &str) {
    let body = json!({
        "schemas": [PATCH_OP],
        "Operations": [{"op": op, "path": path, "value": "fuzz@example.org"}],
    });
    let Ok(operations) = scim::patch::parse_request(&body) else {
        return;
    };
    let mut document = user();
    let _ = scim::patch::apply(&mut document, &operations, USER_ATTRIBUTES);
}

fn user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "usr_1",
        "userName": "Ada.Lovelace",
        "active": true,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [
            {"value": "ada@work.example", "type": "work", "primary": true},
            {"value": "ada@home.example", "type": "home"}
        ],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
        "meta": {"created": "2026-01-02T03:04:05.000Z", "lastModified": "2026-03-01T00:00:00Z"}
    })
}
