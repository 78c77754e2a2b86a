//! Section `[libraries]`: how the knowledge libraries' search ranks its passages.

use domain::ModelKind;
use serde::Deserialize;

use crate::error::Collector;
use crate::names::{Names, Resolved};
use crate::rules::at_least_one;
use crate::section::models::ModelConfig;

/// Section `[libraries]`: the reranker of library searches.
///
/// ```toml
/// [libraries]
/// reranker = "bge-reranker"   # a model of kind `rerank`; absent: no reranking
/// candidates = 32             # passages found by the hybrid search, then reranked
/// ```
///
/// With a reranker, a search (an answer from libraries, the admin API's search) takes the
/// `candidates` best passages of the hybrid search (words and meaning), has the reranker score
/// them against the question, and keeps the best it was asked for in the reranker's order. The
/// reranker is called through the gateway as the person who asks, like the question's
/// embedding: metered and budgeted to them, labelled with the libraries' classification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibrariesConfig {
    /// Key `reranker`: the name of a `[[models]]` of kind `rerank`. Default: none, the hybrid
    /// search's order stands.
    pub reranker: Option<String>,
    /// Key `candidates`: the passages the reranker scores per search, at least 1; a search
    /// asking for more gets that many candidates instead. Default 32.
    pub candidates: usize,
}

impl Default for LibrariesConfig {
    fn default() -> Self {
        LibrariesConfig {
            reranker: None,
            candidates: CANDIDATES,
        }
    }
}

/// As written; the keys are documented on [`LibrariesConfig`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLibraries {
    pub reranker: Option<String>,
    pub candidates: Option<u64>,
}

const CANDIDATES: usize = 32;

pub(crate) fn validate(
    raw: RawLibraries,
    models: &[ModelConfig],
    model_names: &Names,
    errors: &mut Collector,
) -> LibrariesConfig {
    if let Some(reranker) = &raw.reranker {
        let key = "libraries.reranker";
        match model_names.resolve(reranker) {
            Resolved::Unknown => errors.push(key, format!("unknown model `{reranker}`")),
            Resolved::Unverifiable => {}
            Resolved::Found(position) => {
                let kind = models.get(position).map(|m| m.kind);
                if let Some(kind) = kind.filter(|kind| *kind != ModelKind::Rerank) {
                    let message = format!(
                        "model `{reranker}` has kind `{}`; a reranker has kind `rerank`",
                        kind.as_str()
                    );
                    errors.push(key, message);
                }
            }
        }
    }
    let candidates = at_least_one(
        raw.candidates,
        CANDIDATES as u64,
        "libraries.candidates",
        errors,
    );
    LibrariesConfig {
        reranker: raw.reranker,
        candidates: usize::try_from(candidates).unwrap_or(CANDIDATES),
    }
}
