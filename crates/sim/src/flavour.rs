//! Which engine the simulator plays (`fabrique sim --flavour`): the routes it serves and their wire
//! formats, each engine's own. A route the engine does not have answers 404, as the engine would,
//! so a gateway that sends an operation to the wrong place fails its tests.
//!
//! | flavour | chat | FIM | embeddings | rerank | health |
//! |---|---|---|---|---|---|
//! | `all` (default) | yes | all of the below | yes | `/v1/rerank`; `/rerank` Hugging Face's | `/health` |
//! | `vllm` | yes | `/v1/completions` | yes | `/v1/rerank`, `/rerank`, `/v2/rerank` | `/health` |
//! | `mistralrs` | yes | `/v1/completions` | yes | no | `/health` |
//! | `tgi` | yes | `/v1/completions` | no | `/rerank` Hugging Face's | `/health` |
//! | `llamacpp` | yes | `/infill` | yes | no | `/health` |
//! | `ollama` | yes | `/api/generate` | yes | no | `/` |
//! | `openai` | yes | `/v1/completions` | yes | no | none |
//! | `mistral` | yes | `/v1/fim/completions` | yes | no | none |
//!
//! Every flavour lists its models at `/v1/models`. Written from each engine's documented API, not
//! from the gateway's routing table, so the two check each other.

use axum::Router;
use axum::routing::{MethodRouter, get, post};

use crate::{Simulator, chat, embeddings, fim, generate, infill, models, rerank, text_completion};

/// An engine the simulator can play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavour {
    /// Every route below, in its engine's format: the default, so an endpoint of any kind can
    /// point at it.
    #[default]
    All,
    Vllm,
    Tgi,
    MistralRs,
    LlamaCpp,
    Ollama,
    Openai,
    Mistral,
}

impl Flavour {
    pub const ALL: [Flavour; 8] = [
        Flavour::All,
        Flavour::Vllm,
        Flavour::Tgi,
        Flavour::MistralRs,
        Flavour::LlamaCpp,
        Flavour::Ollama,
        Flavour::Openai,
        Flavour::Mistral,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Flavour::All => "all",
            Flavour::Vllm => "vllm",
            Flavour::Tgi => "tgi",
            Flavour::MistralRs => "mistralrs",
            Flavour::LlamaCpp => "llamacpp",
            Flavour::Ollama => "ollama",
            Flavour::Openai => "openai",
            Flavour::Mistral => "mistral",
        }
    }

    /// The flavour named `name`, or a line saying which names there are.
    pub fn parse(name: &str) -> Result<Flavour, String> {
        Flavour::ALL
            .into_iter()
            .find(|f| f.as_str() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Flavour::ALL.iter().map(|f| f.as_str()).collect();
                format!("unknown flavour `{name}`; one of {}", names.join(", "))
            })
    }

    /// Where this engine serves fill-in-the-middle, and the handlers that speak its format.
    fn fim_routes(self) -> Vec<(&'static str, MethodRouter<Simulator>)> {
        let mistral = ("/v1/fim/completions", post(fim::handle));
        let completions = ("/v1/completions", post(text_completion::handle));
        let infill = ("/infill", post(infill::handle));
        let generate = ("/api/generate", post(generate::handle));
        match self {
            Flavour::All => vec![mistral, completions, infill, generate],
            Flavour::Mistral => vec![mistral],
            Flavour::Vllm | Flavour::Tgi | Flavour::MistralRs | Flavour::Openai => {
                vec![completions]
            }
            Flavour::LlamaCpp => vec![infill],
            Flavour::Ollama => vec![generate],
        }
    }

    /// Whether `/v1/completions` refuses a `suffix`, as vLLM does: the engines that have no FIM
    /// of their own take the prompt built with the model's FIM tokens.
    pub(crate) fn refuses_suffix(self) -> bool {
        match self {
            Flavour::Vllm | Flavour::Tgi | Flavour::MistralRs => true,
            Flavour::All
            | Flavour::LlamaCpp
            | Flavour::Ollama
            | Flavour::Openai
            | Flavour::Mistral => false,
        }
    }

    /// Where this engine serves reranking, and the handlers that speak its format (`rerank`).
    fn rerank_routes(self) -> Vec<(&'static str, MethodRouter<Simulator>)> {
        let cohere = |path| (path, post(rerank::handle));
        let hugging_face = ("/rerank", post(rerank::handle_hugging_face));
        match self {
            Flavour::All => vec![cohere("/v1/rerank"), hugging_face],
            Flavour::Vllm => vec![
                cohere("/v1/rerank"),
                cohere("/rerank"),
                cohere("/v2/rerank"),
            ],
            Flavour::Tgi => vec![hugging_face],
            Flavour::MistralRs
            | Flavour::LlamaCpp
            | Flavour::Ollama
            | Flavour::Openai
            | Flavour::Mistral => Vec::new(),
        }
    }

    /// The engine's own health probe, at the server's root.
    fn health_path(self) -> Option<&'static str> {
        match self {
            Flavour::All
            | Flavour::Vllm
            | Flavour::Tgi
            | Flavour::MistralRs
            | Flavour::LlamaCpp => Some("/health"),
            Flavour::Ollama => Some("/"),
            Flavour::Openai | Flavour::Mistral => None,
        }
    }

    /// Whether streams end with a usage chunk even unasked, as the Mistral API's do.
    pub(crate) fn always_streams_usage(self) -> bool {
        match self {
            Flavour::Mistral => true,
            Flavour::All
            | Flavour::Vllm
            | Flavour::Tgi
            | Flavour::MistralRs
            | Flavour::LlamaCpp
            | Flavour::Ollama
            | Flavour::Openai => false,
        }
    }

    /// Whether the engine serves `/v1/embeddings` (TGI leaves them to its sibling, TEI).
    fn serves_embeddings(self) -> bool {
        match self {
            Flavour::Tgi => false,
            Flavour::All
            | Flavour::Vllm
            | Flavour::MistralRs
            | Flavour::LlamaCpp
            | Flavour::Ollama
            | Flavour::Openai
            | Flavour::Mistral => true,
        }
    }

    /// The routes of this engine.
    pub(crate) fn routes(self) -> Router<Simulator> {
        let mut router = Router::new()
            .route("/v1/chat/completions", post(chat::handle))
            .route("/v1/models", get(models::list))
            .route("/v1/models/{*id}", get(models::one));
        for (path, handler) in self.fim_routes().into_iter().chain(self.rerank_routes()) {
            router = router.route(path, handler);
        }
        if self.serves_embeddings() {
            router = router.route("/v1/embeddings", post(embeddings::handle));
        }
        if let Some(path) = self.health_path() {
            router = router.route(path, get(models::health));
        }
        router
    }
}
