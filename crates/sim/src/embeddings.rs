//! `POST /v1/embeddings`: deterministic unit vectors, one per input, derived from a hash of the input
//! alone (the same text always embeds the same way, whatever the model or batch), as JSON floats or,
//! with `encoding_format: "base64"` (what the `openai` Python SDK asks for by default), as base64 of
//! little-endian f32.

use std::borrow::Cow;

use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::Serialize;
use serde_json::Value;
use wire::embeddings::{EmbeddingsRequest, EmbeddingsUsage};

use crate::config::MAX_EMBEDDING_DIMENSIONS;
use crate::error::{SimError, json_response};
use crate::text::{SplitMix64, approximate_tokens, seed_of};
use crate::{Simulator, parse_body};
use wire::validate::Endpoint;

pub(crate) async fn handle(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let outcome = embeddings(&sim, &headers, body).await;
    sim.answer(outcome)
}

/// The response, serialized straight from f32 so floats print short (`wire::embeddings::Embedding`
/// holds a `Value`, which would widen them to f64 digits). It deserializes as
/// `wire::embeddings::EmbeddingsResponse`.
#[derive(Debug, Serialize)]
struct EmbeddingsOut<'a> {
    /// vLLM and the Mistral API send an id, and the `mistralai` SDK requires one.
    id: String,
    object: &'static str,
    data: Vec<EmbeddingOut>,
    model: &'a str,
    usage: EmbeddingsUsage,
}

#[derive(Debug, Serialize)]
struct EmbeddingOut {
    object: &'static str,
    index: u32,
    embedding: Vector,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Vector {
    Float(Vec<f32>),
    Base64(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Float,
    Base64,
}

/// One input to embed: the bytes that seed its vector, and its token count.
#[derive(Debug)]
struct Input<'a> {
    seed_bytes: Cow<'a, [u8]>,
    tokens: u64,
}

async fn embeddings(
    sim: &Simulator,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, SimError> {
    sim.admit(&sim.counters().embeddings_requests, headers)
        .await?;
    let request: EmbeddingsRequest = parse_body(body, Endpoint::Embeddings)?;
    let encoding = match request.encoding_format.as_deref() {
        None | Some("float") => Encoding::Float,
        Some("base64") => Encoding::Base64,
        Some(other) => {
            return Err(SimError::invalid(
                format!("encoding_format must be \"float\" or \"base64\", not {other:?}"),
                Some("encoding_format"),
            ));
        }
    };
    let dimensions = match request.dimensions {
        None => sim.config().embedding_dimensions,
        Some(asked) => usize::try_from(asked).unwrap_or(usize::MAX),
    };
    if dimensions == 0 || dimensions > MAX_EMBEDDING_DIMENSIONS {
        return Err(SimError::invalid(
            format!(
                "dimensions must be between 1 and {MAX_EMBEDDING_DIMENSIONS}, not {dimensions}"
            ),
            Some("dimensions"),
        ));
    }
    let inputs = inputs(&request.input)?;

    let input_tokens = inputs
        .iter()
        .fold(0_u64, |sum, input| sum.saturating_add(input.tokens));
    forward_pass(sim, input_tokens).await?;

    let mut prompt_tokens = 0_u64;
    let mut data = Vec::with_capacity(inputs.len());
    for (index, input) in (0_u32..).zip(&inputs) {
        prompt_tokens = prompt_tokens.saturating_add(input.tokens);
        let vector = unit_vector(seed_of(&input.seed_bytes), dimensions);
        let embedding = match encoding {
            Encoding::Float => Vector::Float(vector),
            Encoding::Base64 => Vector::Base64(base64_f32(&vector)),
        };
        data.push(EmbeddingOut {
            object: "embedding",
            index,
            embedding,
        });
    }
    let usage = EmbeddingsUsage {
        prompt_tokens,
        total_tokens: prompt_tokens,
    };
    let out = EmbeddingsOut {
        id: format!("embd-sim-{:016x}", rand::random::<u64>()),
        object: "list",
        data,
        model: &request.model,
        usage,
    };
    let body = serde_json::to_vec(&out).map_err(SimError::Serialize)?;
    sim.counters().complete(prompt_tokens, 0);
    Ok(json_response(StatusCode::OK, body))
}

/// One short forward pass over `tokens` (embedding, or scoring documents): it holds a slot
/// through the prefill, like a sequence, and its activations take KV-cache room for the tokens
/// while it runs.
pub(crate) async fn forward_pass(sim: &Simulator, tokens: u64) -> Result<(), SimError> {
    let slot = sim.slots().acquire(1, tokens).await?;
    let ttft = sim.config().ttft;
    if !ttft.is_zero() {
        tokio::time::sleep(ttft).await;
    }
    drop(slot);
    Ok(())
}

/// The inputs as OpenAI defines them: a string, an array of strings, one token array (an array of
/// integers), or an array of token arrays. A token array counts one token per integer.
fn inputs(input: &Value) -> Result<Vec<Input<'_>>, SimError> {
    let invalid = || {
        SimError::invalid(
            "input must be a string, an array of strings, or an array of token arrays",
            Some("input"),
        )
    };
    match input {
        Value::String(text) => Ok(vec![text_input(text)]),
        Value::Array(items) if items.is_empty() => {
            Err(SimError::invalid("input must not be empty", Some("input")))
        }
        Value::Array(items) if items.iter().all(Value::is_number) => {
            Ok(vec![token_input(input, items)])
        }
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => Ok(text_input(text)),
                Value::Array(tokens) if tokens.iter().all(Value::is_number) => {
                    Ok(token_input(item, tokens))
                }
                _ => Err(invalid()),
            })
            .collect(),
        _ => Err(invalid()),
    }
}

fn text_input(text: &str) -> Input<'_> {
    Input {
        seed_bytes: Cow::Borrowed(text.as_bytes()),
        tokens: approximate_tokens(text),
    }
}

fn token_input<'a>(array: &Value, tokens: &[Value]) -> Input<'a> {
    Input {
        seed_bytes: Cow::Owned(array.to_string().into_bytes()),
        tokens: u64::try_from(tokens.len()).unwrap_or(u64::MAX),
    }
}

/// A deterministic vector of length one: uniform components from the seed, then normalized.
pub(crate) fn unit_vector(seed: u64, dimensions: usize) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    let raw: Vec<f64> = (0..dimensions).map(|_| rng.next_signed_unit()).collect();
    let norm = raw.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        raw.iter().map(|x| (x / norm) as f32).collect()
    } else {
        // All components zero is practically impossible; a basis vector keeps the length one anyway.
        let mut basis = vec![0.0; dimensions];
        if let Some(first) = basis.first_mut() {
            *first = 1.0;
        }
        basis
    }
}

/// The vector as the OpenAI API encodes it in base64: consecutive little-endian f32.
fn base64_f32(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    STANDARD.encode(bytes)
}
