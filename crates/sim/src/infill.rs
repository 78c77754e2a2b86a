//! `POST /infill`: llama.cpp's fill-in-the-middle, the `llamacpp` flavour's. The code around the
//! cursor comes as `input_prefix` and `input_suffix`, the limit as `n_predict` (-1: none); the
//! answer is llama.cpp's own (`content`, `stop`, token counts), streamed without `[DONE]`.

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
struct InfillRequest {
    /// llama.cpp serves the one model it loaded, whatever the name.
    #[serde(default)]
    model: Option<String>,
    input_prefix: String,
    #[serde(default)]
    input_suffix: String,
    #[serde(default)]
    n_predict: Option<i64>,
    #[serde(default)]
    stream: bool,
}

pub(crate) async fn handle(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let outcome = infill(&sim, &headers, body).await;
    sim.answer(outcome)
}

async fn infill(
    sim: &Simulator,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, SimError> {
    sim.admit(&sim.counters().fim_requests, headers).await?;
    let request: InfillRequest = parse_engine_body(body)?;
    let ask = FimAsk {
        prefix: &request.input_prefix,
        suffix: &request.input_suffix,
        // Negative: until the end of sequence, which the simulator places at its default length.
        max_tokens: request.n_predict.and_then(|n| u64::try_from(n).ok()),
        stream: request.stream,
        include_usage: false,
    };
    let model = request.model.clone().unwrap_or_default();
    let plan = plan(sim, model, &ask, Shape::LlamaCpp)?;
    completion::respond(sim, plan).await
}
