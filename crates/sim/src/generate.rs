//! `POST /api/generate`: Ollama's completion, the `ollama` flavour's FIM route (`prompt` before the
//! cursor, `suffix` after). Sampling settings come nested in `options` (`num_predict` is the
//! limit), and the answer streams as NDJSON unless `stream` is `false`: Ollama's default is to
//! stream.

use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use serde::Deserialize;

use crate::completion::{self, Shape};
use crate::error::SimError;
use crate::fim::{FimAsk, plan};
use crate::{Simulator, parse_engine_body};

#[derive(Debug, Deserialize)]
struct GenerateRequest {
    model: String,
    #[serde(default)]
    prompt: String,
    #[serde(default)]
    suffix: String,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    options: Options,
}

#[derive(Debug, Default, Deserialize)]
struct Options {
    #[serde(default)]
    num_predict: Option<i64>,
}

pub(crate) async fn handle(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let outcome = generate(&sim, &headers, body).await;
    sim.answer(outcome)
}

async fn generate(
    sim: &Simulator,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, SimError> {
    sim.admit(&sim.counters().fim_requests, headers).await?;
    let request: GenerateRequest = parse_engine_body(body)?;
    let ask = FimAsk {
        prefix: &request.prompt,
        suffix: &request.suffix,
        max_tokens: request
            .options
            .num_predict
            .and_then(|n| u64::try_from(n).ok()),
        stream: request.stream.unwrap_or(true),
        include_usage: false,
    };
    let plan = plan(sim, request.model.clone(), &ask, Shape::Ollama)?;
    completion::respond(sim, plan).await
}
