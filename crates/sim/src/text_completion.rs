//! `POST /v1/completions`: OpenAI's text completion, the FIM route of the `vllm`, `tgi`,
//! `mistralrs` and `openai` flavours. vLLM, TGI and mistral.rs take no `suffix` (vLLM answers 400
//! to one): the FIM prompt is the caller's to build with the model's tokens. OpenAI takes it.

use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use wire::fim::FimRequest;

use crate::completion::{self, Shape};
use crate::error::SimError;
use crate::fim::{FimAsk, plan};
use crate::{Simulator, parse_engine_body};

pub(crate) async fn handle(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let outcome = complete(&sim, &headers, body).await;
    sim.answer(outcome)
}

async fn complete(
    sim: &Simulator,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, SimError> {
    sim.admit(&sim.counters().fim_requests, headers).await?;
    // OpenAI's text completion has the fields of Mistral's FIM request that matter here.
    let request: FimRequest = parse_engine_body(body)?;
    if request.suffix.is_some() && sim.config().flavour.refuses_suffix() {
        return Err(SimError::invalid(
            "suffix is not currently supported",
            Some("suffix"),
        ));
    }
    let plan = plan(
        sim,
        request.model.clone(),
        &FimAsk::of(&request),
        Shape::Text,
    )?;
    completion::respond(sim, plan).await
}
