//! Per-kind request adaptation: each endpoint kind receives a body it accepts, by the fields
//! `domain::engine` says it refuses or names otherwise (the managed Mistral API answers 422 to
//! fields it does not know; OpenAI-compatible servers ignore them, so they get the body as is).

use domain::EndpointKind;
use wire::object::RawObject;

/// Rewrites `body` in place for an endpoint of `kind`.
pub fn adapt_request(kind: EndpointKind, body: &mut RawObject<'_>) {
    for field in kind.dropped_fields() {
        body.remove(field);
    }
    for (caller, kind) in kind.renamed_fields() {
        body.rename(caller, kind);
    }
}

/// Whether [`adapt_request`] may change a body for this kind.
pub fn rewrites(kind: EndpointKind) -> bool {
    !kind.dropped_fields().is_empty() || !kind.renamed_fields().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mistral_gets_its_own_field_names_and_no_unknown_fields() {
        let body = br#"{"model":"m","messages":[],"user":"u1","seed":3,"max_completion_tokens":9,"tools":[]}"#;
        let mut obj = RawObject::parse(body).unwrap();
        adapt_request(EndpointKind::Mistral, &mut obj);
        let out = String::from_utf8(obj.to_vec()).unwrap();
        assert_eq!(
            out,
            r#"{"model":"m","messages":[],"random_seed":3,"max_tokens":9,"tools":[]}"#
        );
    }

    #[test]
    fn openai_compatible_servers_get_the_body_unchanged() {
        let body = br#"{"model":"m","user":"u1","seed":3}"#;
        let mut obj = RawObject::parse(body).unwrap();
        adapt_request(EndpointKind::Vllm, &mut obj);
        assert_eq!(obj.to_vec(), body.to_vec());
    }
}
