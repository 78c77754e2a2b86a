//! Per-kind request adaptation. Each endpoint kind receives a body it accepts.
//!
//! The managed Mistral API validates requests strictly and answers 422 to fields it does not know;
//! OpenAI-compatible servers (vLLM, TGI, mistral.rs, llama.cpp, Ollama) ignore unknown fields, so
//! they get the caller's body as is.

use domain::EndpointKind;
use wire::object::RawObject;

/// OpenAI fields the Mistral API refuses and that have no Mistral equivalent: dropped.
const MISTRAL_UNSUPPORTED: &[&str] = &[
    "user",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "service_tier",
    "store",
    "metadata",
    "modalities",
    "audio",
    "reasoning_effort",
    "stream_options",
    "priority",
];

/// Rewrites `body` in place for an endpoint of `kind`.
pub fn adapt_request(kind: EndpointKind, body: &mut RawObject<'_>) {
    match kind {
        EndpointKind::Mistral => {
            for field in MISTRAL_UNSUPPORTED {
                body.remove(field);
            }
            // Same meaning, Mistral's names.
            body.rename("seed", "random_seed");
            body.rename("max_completion_tokens", "max_tokens");
        }
        EndpointKind::Openai
        | EndpointKind::Vllm
        | EndpointKind::Tgi
        | EndpointKind::MistralRs
        | EndpointKind::LlamaCpp
        | EndpointKind::Ollama
        | EndpointKind::Simulator => {}
    }
}

/// Whether [`adapt_request`] may change a body for this kind.
pub fn rewrites(kind: EndpointKind) -> bool {
    matches!(kind, EndpointKind::Mistral)
}

/// Whether this kind takes vLLM's `cache_salt`: a string mixed into its prefix cache's block
/// hashes, so requests under different salts never share cached blocks (and cannot time each
/// other's prompts). The simulator emulates vLLM's.
pub fn accepts_cache_salt(kind: EndpointKind) -> bool {
    match kind {
        EndpointKind::Vllm | EndpointKind::Simulator => true,
        EndpointKind::Openai
        | EndpointKind::Tgi
        | EndpointKind::MistralRs
        | EndpointKind::LlamaCpp
        | EndpointKind::Ollama
        | EndpointKind::Mistral => false,
    }
}

/// Whether streams from this kind carry a final usage chunk only when asked with
/// `stream_options.include_usage` (the OpenAI convention). The Mistral API always sends usage.
pub fn needs_usage_request(kind: EndpointKind) -> bool {
    !matches!(kind, EndpointKind::Mistral)
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
