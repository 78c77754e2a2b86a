//! Field checks: what passes and what is refused, with the field named.

use super::*;

fn param(result: Result<(), AdminError>) -> Option<&'static str> {
    match result {
        Err(AdminError::BadRequest { param, .. }) => param,
        _ => None,
    }
}

#[test]
fn slugs() {
    assert!(check_slug("slug", "acme-france-2").is_ok());
    for bad in [
        "",
        "Acme",
        "-acme",
        "acme-",
        "ac me",
        "acmé",
        &"a".repeat(64),
    ] {
        assert_eq!(param(check_slug("slug", bad)), Some("slug"), "{bad:?}");
    }
}

#[test]
fn names_texts_and_emails() {
    assert!(check_text("name", "Acme France SAS", 200).is_ok());
    assert_eq!(param(check_text("name", "  ", 200)), Some("name"));
    assert_eq!(param(check_text("name", "a\nb", 200)), Some("name"));
    assert!(check_name("user_name", "ada.lovelace", 256).is_ok());
    assert_eq!(
        param(check_name("user_name", "ada lovelace", 256)),
        Some("user_name")
    );
    assert!(check_email("email", "ada@example.com").is_ok());
    for bad in [
        "ada",
        "ada@",
        "@example.com",
        "ada@example",
        "a@b@c.com",
        "ada@.com",
    ] {
        assert_eq!(param(check_email("email", bad)), Some("email"), "{bad:?}");
    }
}
