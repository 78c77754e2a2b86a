//! Reranking, in the two shapes engines serve it: Cohere's and Jina's (`POST /v1/rerank`, as vLLM
//! serves it, also at `/rerank` and `/v2/rerank`) and Hugging Face's (`POST /rerank` with `query`
//! and `texts`, answered with a bare `[{index, score, text?}]`, as TGI's family serves it).
//!
//! A document's score is the share of the query's distinct words it holds (ASCII case ignored),
//! so a test knows the order before it asks: the same query and documents always rank the same
//! way, ties by position. Scoring is one forward pass over every query-document pair, each pair
//! counted as the query's tokens plus the document's (`text::approximate_tokens`); only Cohere's
//! shape reports them, as `usage.total_tokens`.

use std::collections::HashSet;

use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use wire::rerank::{RerankDocument, RerankRequest, RerankResponse, RerankResult, RerankUsage};
use wire::validate::Endpoint;

use crate::embeddings::forward_pass;
use crate::error::{SimError, json_response};
use crate::text::approximate_tokens;
use crate::{Simulator, parse_body, parse_engine_body};

/// Cohere's and Jina's shape (`wire::rerank`).
pub(crate) async fn handle(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let outcome = async {
        sim.admit(&sim.counters().rerank_requests, &headers).await?;
        let request: RerankRequest = parse_body(body, Endpoint::Rerank)?;
        let ranked = rank(&sim, &request.query, &request.documents).await?;
        let top_n = request.top_n.map_or(usize::MAX, |n| n as usize);
        let with_text = request.return_documents.unwrap_or(true);
        let results = ranked
            .iter()
            .take(top_n)
            .map(|r| RerankResult {
                index: r.index,
                relevance_score: r.score,
                document: with_text.then(|| RerankDocument {
                    text: request.documents[r.index as usize].clone(),
                }),
            })
            .collect();
        let tokens = pair_tokens(&request.query, &request.documents);
        let out = RerankResponse {
            id: Some(format!("rerank-sim-{:016x}", rand::random::<u64>())),
            model: request.model.clone(),
            results,
            usage: Some(RerankUsage {
                total_tokens: tokens,
            }),
        };
        let body = serde_json::to_vec(&out).map_err(SimError::Serialize)?;
        sim.counters().complete(tokens, 0);
        Ok(json_response(StatusCode::OK, body))
    }
    .await;
    sim.answer(outcome)
}

/// Hugging Face's request: no model (the server serves one), `texts` for the documents.
#[derive(Debug, Deserialize)]
struct HuggingFaceRequest {
    query: String,
    texts: Vec<String>,
    #[serde(default)]
    return_text: bool,
}

#[derive(Debug, Serialize)]
struct HuggingFaceRanked<'a> {
    index: u32,
    score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
}

/// Hugging Face's shape.
pub(crate) async fn handle_hugging_face(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let outcome = async {
        sim.admit(&sim.counters().rerank_requests, &headers).await?;
        let request: HuggingFaceRequest = parse_engine_body(body)?;
        if request.texts.is_empty() {
            return Err(SimError::invalid("`texts` cannot be empty", Some("texts")));
        }
        let ranked = rank(&sim, &request.query, &request.texts).await?;
        let out: Vec<HuggingFaceRanked<'_>> = ranked
            .iter()
            .map(|r| HuggingFaceRanked {
                index: r.index,
                score: r.score,
                text: request
                    .return_text
                    .then(|| request.texts[r.index as usize].as_str()),
            })
            .collect();
        let body = serde_json::to_vec(&out).map_err(SimError::Serialize)?;
        let tokens = pair_tokens(&request.query, &request.texts);
        sim.counters().complete(tokens, 0);
        Ok(json_response(StatusCode::OK, body))
    }
    .await;
    sim.answer(outcome)
}

/// A document's position and score.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ranked {
    index: u32,
    score: f64,
}

/// Every document, most relevant first, after the forward pass's time.
async fn rank(sim: &Simulator, query: &str, documents: &[String]) -> Result<Vec<Ranked>, SimError> {
    forward_pass(sim, pair_tokens(query, documents)).await?;
    Ok(ranked(query, documents))
}

/// The documents by their share of the query's words, highest first, ties by position.
fn ranked(query: &str, documents: &[String]) -> Vec<Ranked> {
    let wanted = words(query);
    let mut ranked: Vec<Ranked> = (0_u32..)
        .zip(documents)
        .map(|(index, document)| {
            let held = words(document);
            let shared = wanted.intersection(&held).count();
            let score = match wanted.len() {
                0 => 0.0,
                all => shared as f64 / all as f64,
            };
            Ranked { index, score }
        })
        .collect();
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
    ranked
}

/// The distinct words of a text: runs of letters and digits, lowercased.
fn words(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The tokens a cross-encoder reads: the query with each document.
fn pair_tokens(query: &str, documents: &[String]) -> u64 {
    let query = approximate_tokens(query);
    documents.iter().fold(0_u64, |sum, document| {
        sum.saturating_add(query.saturating_add(approximate_tokens(document)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_rank_by_the_share_of_the_query_they_hold() {
        let documents = [
            "The canteen opens at noon.".to_owned(),
            "Notice period: three months.".to_owned(),
            "The notice PERIOD is three months for managers.".to_owned(),
        ];
        let order: Vec<(u32, f64)> = ranked("notice period managers", &documents)
            .into_iter()
            .map(|r| (r.index, r.score))
            .collect();
        assert_eq!(order, [(2, 1.0), (1, 2.0 / 3.0), (0, 0.0)]);
        assert_eq!(
            ranked("", &documents)[0],
            Ranked {
                index: 0,
                score: 0.0
            }
        );
    }
}
