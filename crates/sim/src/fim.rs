//! `POST /v1/fim/completions`: Mistral's fill-in-the-middle, answered like a chat completion.

use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use wire::fim::FimRequest;

use crate::completion::{self, Plan, check_context, completion_length};
use crate::error::SimError;
use crate::text::{SeedBuilder, approximate_tokens};
use crate::{Simulator, parse_body};
use wire::validate::Endpoint;

pub(crate) async fn handle(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let outcome = fim(&sim, &headers, body).await;
    sim.answer(outcome)
}

async fn fim(
    sim: &Simulator,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, SimError> {
    sim.admit(&sim.counters().fim_requests, headers).await?;
    let request: FimRequest = parse_body(body, Endpoint::Fim)?;
    let (tokens, finish_reason) =
        completion_length(request.max_tokens, sim.config().max_tokens_default)?;
    let suffix = request.suffix.as_deref().unwrap_or("");
    let seed = SeedBuilder::default()
        .field(b"fim")
        .field(request.model.as_bytes())
        .field(request.prompt.as_bytes())
        .field(suffix.as_bytes())
        .finish();
    let blocks = if sim.caches_prefixes() {
        let mut blocks = prefix::PromptBlocks::new();
        blocks.text(&request.prompt);
        blocks.finish()
    } else {
        Vec::new()
    };
    let prompt_tokens =
        approximate_tokens(&request.prompt).saturating_add(approximate_tokens(suffix));
    check_context(prompt_tokens, request.max_tokens)?;
    let plan = Plan {
        blocks,
        prompt_tokens,
        model: request.model,
        seed,
        choices: 1,
        tokens,
        finish_reason,
        stream: request.stream.unwrap_or(false),
        include_usage: request
            .stream_options
            .is_some_and(|options| options.include_usage),
        echo: None,
    };
    completion::respond(sim, plan).await
}
