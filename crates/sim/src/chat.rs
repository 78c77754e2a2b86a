//! `POST /v1/chat/completions`: read the request, remember it for the tests, plan the completion.

use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use prefix::PromptBlocks;
use serde::Deserialize;
use serde_json::Value;
use wire::chat::ChatCompletionRequest;
use wire::validate::Endpoint;

use crate::completion::{self, Plan, Shape, check_context, completion_length};
use crate::config::{ECHO_PIECE_CHARS, MAX_CHOICES};
use crate::error::SimError;
use crate::text::{SeedBuilder, message_tokens};
use crate::{Simulator, check_body, invalid_json, read_body};

pub(crate) async fn handle(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let outcome = chat(&sim, &headers, body).await;
    sim.answer(outcome)
}

async fn chat(
    sim: &Simulator,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, SimError> {
    sim.admit(&sim.counters().chat_requests, headers).await?;
    let bytes = read_body(body)?;
    let value: Value = serde_json::from_slice(&bytes).map_err(invalid_json)?;
    let request = ChatCompletionRequest::deserialize(&value);
    // Mistral's clients name the seed `random_seed`; it decides the text like OpenAI's `seed`.
    let random_seed = value.get("random_seed").and_then(Value::as_i64);
    // vLLM's `cache_salt`: the prefix cache keeps prompts of different salts apart.
    let salt = value
        .get("cache_salt")
        .and_then(Value::as_str)
        .map(str::to_owned);
    // Kept even when the typed view fails, so a test can see what a rejected request carried.
    sim.counters().record_chat_request(value);
    check_body(&bytes, Endpoint::Chat)?;
    let request = request.map_err(invalid_json)?;
    let plan = plan(sim, request, random_seed, salt.as_deref())?;
    completion::respond(sim, plan).await
}

fn plan(
    sim: &Simulator,
    request: ChatCompletionRequest,
    random_seed: Option<i64>,
    salt: Option<&str>,
) -> Result<Plan, SimError> {
    if request.messages.is_empty() {
        return Err(SimError::invalid(
            "messages must not be empty",
            Some("messages"),
        ));
    }
    let choices = request.n.unwrap_or(1);
    if choices == 0 || choices > MAX_CHOICES {
        return Err(SimError::invalid(
            format!("n must be between 1 and {MAX_CHOICES}, not {choices}"),
            Some("n"),
        ));
    }
    let requested = request
        .max_completion_tokens
        .or(request.answering.max_tokens);
    let (tokens, finish_reason) = completion_length(requested, sim.config().max_tokens_default)?;
    let mut seed = SeedBuilder::default();
    seed.field(b"chat").field(request.model.as_bytes());
    let mut prompt_tokens = 0_u64;
    // Cut only when the prefix cache will look at the blocks.
    let salted = || salt.map_or_else(PromptBlocks::new, |s| PromptBlocks::salted(s.as_bytes()));
    let mut blocks = sim.caches_prefixes().then(salted);
    for message in &request.messages {
        let text = message.text();
        prompt_tokens = prompt_tokens.saturating_add(message_tokens(&text));
        seed.field(message.role.as_bytes()).field(text.as_bytes());
        if let Some(blocks) = blocks.as_mut() {
            blocks.message(&message.role, &text);
        }
    }
    check_context(prompt_tokens, requested)?;
    for chosen in [request.seed, random_seed].into_iter().flatten() {
        seed.field(&chosen.to_le_bytes());
    }
    let last_user = request.messages.iter().rev().find(|m| m.role == "user");
    let last_user = last_user.map(|m| m.text()).unwrap_or_default();
    let scripted = sim
        .config()
        .script
        .iter()
        .find(|line| last_user.contains(line.when.as_str()))
        .map(|line| std::sync::Arc::<str>::from(line.answer.as_str()));
    let echo = sim
        .config()
        .echo
        .then(|| std::sync::Arc::<str>::from(last_user.as_ref()));
    // The marker (not for a script's answer), then the text: no more tokens than that; a
    // script's answer is whole whatever `max_tokens` says, as a test expects it.
    let tokens = match (&scripted, &echo) {
        (Some(text), _) => 1 + text.chars().count().div_ceil(ECHO_PIECE_CHARS) as u64,
        (None, Some(text)) => {
            tokens.min(1 + text.chars().count().div_ceil(ECHO_PIECE_CHARS) as u64)
        }
        (None, None) => tokens,
    };
    Ok(Plan {
        model: request.model,
        seed: seed.finish(),
        choices,
        tokens,
        finish_reason,
        prompt_tokens,
        blocks: blocks.map(PromptBlocks::finish).unwrap_or_default(),
        stream: request.answering.streams(),
        include_usage: request.answering.includes_usage()
            || sim.config().flavour.always_streams_usage(),
        echo,
        shape: Shape::Chat,
        scripted,
    })
}
