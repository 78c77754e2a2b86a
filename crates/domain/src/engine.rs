//! The server software behind an endpoint, and everything that differs from one to the next: the
//! route and wire format of each operation, the request fields to drop or rename, whether the
//! scheduler's priority is forwarded, whether it takes a prefix-cache salt, the health path, the
//! tracing name.
//!
//! Each fact is one exhaustive match on [`EndpointKind`], so a new kind cannot be half-handled: the
//! compiler lists every decision to make. The translations between wire formats that a
//! [`Dialect`] names are `upstream::fim`'s; the simulator serves each kind's routes as its
//! flavour (`fabrique sim --flavour`), so tests catch a wrong route here.
//!
//! Fill-in-the-middle is where the engines part: only the Mistral API (and the simulator) serve
//! Mistral's `/fim/completions`. llama.cpp has `/infill`, Ollama `/api/generate` with a `suffix`,
//! OpenAI its completions' `suffix`; vLLM, TGI and mistral.rs get a plain completion whose prompt
//! is built with the model's FIM tokens.
//!
//! Reranking is served by few: vLLM answers the caller's own shape (Cohere's and Jina's, at
//! `/v1/rerank`), TGI's family Hugging Face's (`/rerank` at the server's root, `{query, texts}`
//! answered with `[{index, score}]`), the simulator both. The others have no rerank route
//! ([`EndpointKind::route`] is `None`), so a reranker served by them is refused before anything is
//! sent.

use serde::{Deserialize, Serialize};

use crate::Operation;

/// The server software behind an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointKind {
    /// Any OpenAI-compatible server not listed below.
    Openai,
    Vllm,
    Tgi,
    MistralRs,
    LlamaCpp,
    Ollama,
    /// The managed Mistral API (`api.mistral.ai` or a private deployment of it).
    Mistral,
    /// Fabrique's own GPU-backend simulator (`fabrique sim`).
    Simulator,
}

/// Where an operation is sent, relative to the endpoint's base URL or to its server's root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamPath {
    /// Under the base URL's API prefix (`http://host:8000/v1` + `/chat/completions`).
    Api(&'static str),
    /// At the server's root, whatever the base URL's prefix (llama.cpp's `/infill`).
    Origin(&'static str),
}

/// The wire format an operation is sent in and answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The caller's own: OpenAI's chat and embeddings, Mistral's FIM. Sent and answered as is.
    Native,
    /// FIM as an OpenAI text completion whose prompt is built with the model's FIM tokens.
    FimPrompt,
    /// FIM as an OpenAI text completion with a `suffix`.
    CompletionSuffix,
    /// FIM as llama.cpp's infill: `input_prefix`, `input_suffix`; answered with `content`.
    LlamaInfill,
    /// FIM as Ollama's generate with a `suffix`: options nested, answered in NDJSON.
    OllamaGenerate,
    /// Rerank as Hugging Face's: `query` and `texts`, answered with a bare `[{index, score}]`.
    HuggingFaceRerank,
}

/// Where and how one operation is sent to one kind of endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamRoute {
    pub path: UpstreamPath,
    pub dialect: Dialect,
}

/// OpenAI fields the Mistral API refuses (it answers 422 to fields it does not know) and that
/// have no Mistral equivalent.
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

/// OpenAI's names and the Mistral API's for the same fields.
const MISTRAL_NAMES: &[(&str, &str)] = &[
    ("seed", "random_seed"),
    ("max_completion_tokens", "max_tokens"),
];

impl EndpointKind {
    pub const ALL: [EndpointKind; 8] = [
        EndpointKind::Openai,
        EndpointKind::Vllm,
        EndpointKind::Tgi,
        EndpointKind::MistralRs,
        EndpointKind::LlamaCpp,
        EndpointKind::Ollama,
        EndpointKind::Mistral,
        EndpointKind::Simulator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EndpointKind::Openai => "openai",
            EndpointKind::Vllm => "vllm",
            EndpointKind::Tgi => "tgi",
            EndpointKind::MistralRs => "mistral_rs",
            EndpointKind::LlamaCpp => "llama_cpp",
            EndpointKind::Ollama => "ollama",
            EndpointKind::Mistral => "mistral",
            EndpointKind::Simulator => "simulator",
        }
    }

    /// Where and in which wire format this kind serves `operation`, or `None` when it has no
    /// route for it. Chat and embeddings are OpenAI's everywhere; fill-in-the-middle and reranking
    /// differ (see the module's docs).
    pub fn route(self, operation: Operation) -> Option<UpstreamRoute> {
        let native = UpstreamRoute {
            path: UpstreamPath::Api(operation.upstream_path()),
            dialect: Dialect::Native,
        };
        let (path, dialect) = match operation {
            Operation::Chat | Operation::Embeddings => return Some(native),
            Operation::Fim => match self {
                EndpointKind::Mistral | EndpointKind::Simulator => return Some(native),
                EndpointKind::Vllm | EndpointKind::Tgi | EndpointKind::MistralRs => {
                    (UpstreamPath::Api("/completions"), Dialect::FimPrompt)
                }
                EndpointKind::Openai => {
                    (UpstreamPath::Api("/completions"), Dialect::CompletionSuffix)
                }
                EndpointKind::LlamaCpp => (UpstreamPath::Origin("/infill"), Dialect::LlamaInfill),
                EndpointKind::Ollama => (
                    UpstreamPath::Origin("/api/generate"),
                    Dialect::OllamaGenerate,
                ),
            },
            Operation::Rerank => match self {
                EndpointKind::Vllm | EndpointKind::Simulator => return Some(native),
                EndpointKind::Tgi => (UpstreamPath::Origin("/rerank"), Dialect::HuggingFaceRerank),
                EndpointKind::Openai
                | EndpointKind::MistralRs
                | EndpointKind::LlamaCpp
                | EndpointKind::Ollama
                | EndpointKind::Mistral => return None,
            },
        };
        Some(UpstreamRoute { path, dialect })
    }

    /// The health path used when an endpoint sets none: the servers' own probe, at the server's
    /// root; `None` for those without one (health is then `GET {url}/models`).
    pub fn health_path(self) -> Option<&'static str> {
        match self {
            EndpointKind::Vllm
            | EndpointKind::Tgi
            | EndpointKind::MistralRs
            | EndpointKind::LlamaCpp
            | EndpointKind::Simulator => Some("/health"),
            EndpointKind::Openai | EndpointKind::Ollama | EndpointKind::Mistral => None,
        }
    }

    /// Whether the scheduler's priority is sent as the request's `priority` field (vLLM's
    /// priority scheduling; `[scheduling] forward_priority`). Others would refuse or ignore it.
    pub fn forwards_priority(self) -> bool {
        match self {
            EndpointKind::Vllm => true,
            EndpointKind::Openai
            | EndpointKind::Tgi
            | EndpointKind::MistralRs
            | EndpointKind::LlamaCpp
            | EndpointKind::Ollama
            | EndpointKind::Mistral
            | EndpointKind::Simulator => false,
        }
    }

    /// Whether this kind takes vLLM's `cache_salt`: a string mixed into its prefix cache's block
    /// hashes, so requests under different salts never share cached blocks (and cannot time each
    /// other's prompts). The simulator emulates vLLM's.
    pub fn accepts_cache_salt(self) -> bool {
        match self {
            EndpointKind::Vllm | EndpointKind::Simulator => true,
            EndpointKind::Openai
            | EndpointKind::Tgi
            | EndpointKind::MistralRs
            | EndpointKind::LlamaCpp
            | EndpointKind::Ollama
            | EndpointKind::Mistral => false,
        }
    }

    /// `gen_ai.provider.name` in traces: OpenTelemetry's well-known value where one applies,
    /// else the kind's own name.
    pub fn provider_name(self) -> &'static str {
        match self {
            EndpointKind::Mistral => "mistral_ai",
            EndpointKind::Openai
            | EndpointKind::Vllm
            | EndpointKind::Tgi
            | EndpointKind::MistralRs
            | EndpointKind::LlamaCpp
            | EndpointKind::Ollama
            | EndpointKind::Simulator => self.as_str(),
        }
    }

    /// Request fields this kind refuses and that have no equivalent: dropped before sending.
    /// OpenAI-compatible servers ignore unknown fields, so they get the caller's fields as is.
    pub fn dropped_fields(self) -> &'static [&'static str] {
        match self {
            EndpointKind::Mistral => MISTRAL_UNSUPPORTED,
            EndpointKind::Openai
            | EndpointKind::Vllm
            | EndpointKind::Tgi
            | EndpointKind::MistralRs
            | EndpointKind::LlamaCpp
            | EndpointKind::Ollama
            | EndpointKind::Simulator => &[],
        }
    }

    /// Request fields this kind knows under another name, as `(caller's, kind's)`.
    pub fn renamed_fields(self) -> &'static [(&'static str, &'static str)] {
        match self {
            EndpointKind::Mistral => MISTRAL_NAMES,
            EndpointKind::Openai
            | EndpointKind::Vllm
            | EndpointKind::Tgi
            | EndpointKind::MistralRs
            | EndpointKind::LlamaCpp
            | EndpointKind::Ollama
            | EndpointKind::Simulator => &[],
        }
    }

    /// Whether this kind's streams carry a final usage chunk only when asked with
    /// `stream_options.include_usage` (the OpenAI convention). The Mistral API always sends it.
    pub fn usage_on_request(self) -> bool {
        match self {
            EndpointKind::Mistral => false,
            EndpointKind::Openai
            | EndpointKind::Vllm
            | EndpointKind::Tgi
            | EndpointKind::MistralRs
            | EndpointKind::LlamaCpp
            | EndpointKind::Ollama
            | EndpointKind::Simulator => true,
        }
    }
}

/// How a model's FIM prompt is written when an engine has no FIM route of its own: the text
/// around the code before the cursor (`{prefix}`) and after it (`{suffix}`), with the model's FIM
/// tokens. Codestral's, Mistral's `[SUFFIX]{suffix}[PREFIX]{prefix}`, is the default; a StarCoder-
/// or Qwen-style model would say `<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>`.
#[derive(Clone, PartialEq, Eq)]
pub struct FimTemplate {
    /// The template as written.
    text: String,
    /// The template's text with the placeholders cut out: before the first, between, after.
    pieces: [String; 3],
    suffix_first: bool,
}

impl std::fmt::Debug for FimTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("FimTemplate").field(&self.text).finish()
    }
}

impl FimTemplate {
    /// Codestral's template.
    pub const MISTRAL: &str = "[SUFFIX]{suffix}[PREFIX]{prefix}";

    /// Reads a template: `{prefix}` and `{suffix}` each exactly once.
    pub fn parse(text: &str) -> Result<FimTemplate, String> {
        let once = |placeholder: &str| match text.matches(placeholder).count() {
            1 => Ok(text.find(placeholder).unwrap_or(0)),
            count => Err(format!(
                "must hold `{placeholder}` exactly once, found it {count} times"
            )),
        };
        let prefix_at = once("{prefix}")?;
        let suffix_at = once("{suffix}")?;
        let (first, second) = if prefix_at < suffix_at {
            ((prefix_at, "{prefix}"), (suffix_at, "{suffix}"))
        } else {
            ((suffix_at, "{suffix}"), (prefix_at, "{prefix}"))
        };
        Ok(FimTemplate {
            text: text.to_owned(),
            pieces: [
                text[..first.0].to_owned(),
                text[first.0 + first.1.len()..second.0].to_owned(),
                text[second.0 + second.1.len()..].to_owned(),
            ],
            suffix_first: suffix_at < prefix_at,
        })
    }

    /// The prompt for the code around the cursor.
    pub fn render(&self, prefix: &str, suffix: &str) -> String {
        let (first, second) = if self.suffix_first {
            (suffix, prefix)
        } else {
            (prefix, suffix)
        };
        let [before, between, after] = &self.pieces;
        [before.as_str(), first, between, second, after].concat()
    }
}

impl Default for FimTemplate {
    fn default() -> Self {
        FimTemplate {
            text: FimTemplate::MISTRAL.to_owned(),
            pieces: ["[SUFFIX]".to_owned(), "[PREFIX]".to_owned(), String::new()],
            suffix_first: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fim_templates_put_prefix_and_suffix_where_they_say() {
        let mistral = FimTemplate::parse(FimTemplate::MISTRAL).unwrap();
        assert_eq!(mistral, FimTemplate::default());
        assert_eq!(mistral.render("def f(", "):"), "[SUFFIX]):[PREFIX]def f(");
        let starcoder =
            FimTemplate::parse("<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>").unwrap();
        assert_eq!(
            starcoder.render("a", "b"),
            "<fim_prefix>a<fim_suffix>b<fim_middle>"
        );
        assert!(FimTemplate::parse("{prefix} only").is_err());
        assert!(FimTemplate::parse("{prefix}{suffix}{prefix}").is_err());
    }

    #[test]
    fn only_the_mistral_api_and_the_simulator_serve_mistral_fim() {
        for kind in EndpointKind::ALL {
            let route = kind.route(Operation::Fim).unwrap();
            let native = route.dialect == Dialect::Native;
            assert_eq!(
                native,
                matches!(kind, EndpointKind::Mistral | EndpointKind::Simulator),
                "{kind:?}"
            );
            assert_eq!(
                native,
                route.path == UpstreamPath::Api("/fim/completions"),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn chat_and_embeddings_take_openai_routes_on_every_kind() {
        for kind in EndpointKind::ALL {
            for operation in [Operation::Chat, Operation::Embeddings] {
                assert_eq!(
                    kind.route(operation),
                    Some(UpstreamRoute {
                        path: UpstreamPath::Api(operation.upstream_path()),
                        dialect: Dialect::Native,
                    })
                );
            }
        }
    }

    #[test]
    fn only_vllm_tgi_and_the_simulator_rerank() {
        let native = Some(UpstreamRoute {
            path: UpstreamPath::Api("/rerank"),
            dialect: Dialect::Native,
        });
        let hugging_face = Some(UpstreamRoute {
            path: UpstreamPath::Origin("/rerank"),
            dialect: Dialect::HuggingFaceRerank,
        });
        for kind in EndpointKind::ALL {
            let expected = match kind {
                EndpointKind::Vllm | EndpointKind::Simulator => native,
                EndpointKind::Tgi => hugging_face,
                _ => None,
            };
            assert_eq!(kind.route(Operation::Rerank), expected, "{kind:?}");
        }
    }
}
