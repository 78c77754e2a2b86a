//! `POST /v1/fim/completions`: Mistral's fill-in-the-middle, answered like a chat completion; and
//! the plan every engine's FIM route shares (`text_completion`, `infill`, `generate`).

use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use wire::fim::FimRequest;

use crate::completion::{self, Plan, Shape, check_context, completion_length};
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
    let mut ask = FimAsk::of(&request);
    ask.include_usage |= sim.config().flavour.always_streams_usage();
    let plan = plan(sim, request.model.clone(), &ask, Shape::Chat)?;
    completion::respond(sim, plan).await
}

/// What any engine's FIM (or plain completion) request comes down to.
pub(crate) struct FimAsk<'a> {
    /// The code before the cursor, or the whole prompt of a plain completion.
    pub prefix: &'a str,
    pub suffix: &'a str,
    pub max_tokens: Option<u64>,
    pub stream: bool,
    pub include_usage: bool,
}

impl<'a> FimAsk<'a> {
    /// The ask of a request in Mistral's or OpenAI's fields (`prompt`, `suffix`, `max_tokens`…).
    pub(crate) fn of(request: &'a FimRequest) -> FimAsk<'a> {
        FimAsk {
            prefix: &request.prompt,
            suffix: request.suffix.as_deref().unwrap_or(""),
            max_tokens: request.answering.max_tokens,
            stream: request.answering.streams(),
            include_usage: request.answering.includes_usage(),
        }
    }
}

/// The completion for `ask`, answered in `shape`.
pub(crate) fn plan(
    sim: &Simulator,
    model: String,
    ask: &FimAsk<'_>,
    shape: Shape,
) -> Result<Plan, SimError> {
    let (tokens, finish_reason) =
        completion_length(ask.max_tokens, sim.config().max_tokens_default)?;
    let seed = SeedBuilder::default()
        .field(b"fim")
        .field(model.as_bytes())
        .field(ask.prefix.as_bytes())
        .field(ask.suffix.as_bytes())
        .finish();
    let blocks = if sim.caches_prefixes() {
        let mut blocks = prefix::PromptBlocks::new();
        blocks.text(ask.prefix);
        blocks.finish()
    } else {
        Vec::new()
    };
    let prompt_tokens =
        approximate_tokens(ask.prefix).saturating_add(approximate_tokens(ask.suffix));
    check_context(prompt_tokens, ask.max_tokens)?;
    Ok(Plan {
        blocks,
        prompt_tokens,
        model,
        seed,
        choices: 1,
        tokens,
        finish_reason,
        stream: ask.stream,
        include_usage: ask.include_usage,
        echo: None,
        scripted: None,
        shape,
    })
}
