//! The completion engine shared by chat and FIM: wait for a decoding slot, pace the tokens, and
//! answer either one JSON body or an SSE stream, with `usage` that matches what was emitted.

use std::io;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde_json::json;
use tokio::time::Instant;
use wire::Usage;
use wire::chat::{
    AssistantMessage, ChatChoice, ChatCompletion, ChatCompletionChunk, ChunkChoice, Delta,
};

use crate::capacity::Slot;
use crate::config::{CONTEXT_TOKENS, MAX_COMPLETION_TOKENS};
use crate::error::{SimError, json_response};
use crate::faults::{EVENTS_BEFORE_DISCONNECT, happens};
use crate::stats::bump;
use crate::text::Words;
use crate::{Simulator, unix_seconds};

/// The wire format a completion is answered in: its route's engine's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// OpenAI's chat completion, and Mistral's FIM, shaped like it.
    Chat,
    /// OpenAI's text completion (`/v1/completions`).
    Text,
    /// llama.cpp's own (`/infill`): `content` and `stop`, token counts at the end, no `[DONE]`.
    LlamaCpp,
    /// Ollama's generate: NDJSON lines of `response`, the last one `done` with token counts.
    Ollama,
}

/// What one completion request will produce, decided before any waiting.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The model name as requested, echoed back.
    pub(crate) model: String,
    /// Decides the text; see `text`.
    pub(crate) seed: u64,
    pub(crate) choices: u32,
    /// Tokens per choice.
    pub(crate) tokens: u64,
    pub(crate) finish_reason: &'static str,
    pub(crate) prompt_tokens: u64,
    /// The prompt's prefix blocks, for the prefix cache; empty when it is off.
    pub(crate) blocks: Vec<prefix::BlockHash>,
    pub(crate) stream: bool,
    pub(crate) include_usage: bool,
    /// Echo mode: the text the completion repeats instead of generated words.
    pub(crate) echo: Option<std::sync::Arc<str>>,
    pub(crate) shape: Shape,
    /// Scripted: the exact answer (no marker) a script gave for the request.
    pub(crate) scripted: Option<std::sync::Arc<str>>,
}

impl Plan {
    /// KV-cache tokens the request holds while it decodes: the prompt once, every completion.
    fn kv_tokens(&self) -> u64 {
        self.prompt_tokens
            .saturating_add(self.tokens.saturating_mul(u64::from(self.choices)))
    }

    fn usage(&self) -> Usage {
        Usage::new(
            self.prompt_tokens,
            self.tokens.saturating_mul(u64::from(self.choices)),
        )
    }
}

/// The completion length: the request's limit (then `finish_reason` is `length`, since the simulator
/// always writes up to it), or the configured default (then it is `stop`, a natural end).
pub(crate) fn completion_length(
    requested: Option<u64>,
    default: u64,
) -> Result<(u64, &'static str), SimError> {
    match requested {
        Some(0) => Err(SimError::invalid(
            "max_tokens must be at least 1",
            Some("max_tokens"),
        )),
        Some(tokens) if tokens > MAX_COMPLETION_TOKENS => Err(SimError::invalid(
            format!(
                "max_tokens is {tokens}, more than this backend's limit of {MAX_COMPLETION_TOKENS}"
            ),
            Some("max_tokens"),
        )),
        Some(tokens) => Ok((tokens, "length")),
        None => Ok((default.clamp(1, MAX_COMPLETION_TOKENS), "stop")),
    }
}

/// Refuses, as vLLM does, a prompt that with the completion asked for overflows the context
/// window ([`CONTEXT_TOKENS`]).
pub(crate) fn check_context(prompt_tokens: u64, requested: Option<u64>) -> Result<(), SimError> {
    let needed = prompt_tokens.saturating_add(requested.unwrap_or(0));
    if prompt_tokens >= CONTEXT_TOKENS || needed > CONTEXT_TOKENS {
        return Err(SimError::invalid(
            format!(
                "This model's maximum context length is {CONTEXT_TOKENS} tokens. However, you requested {needed} tokens ({prompt_tokens} in the messages, {} in the completion).",
                requested.unwrap_or(0)
            ),
            Some("messages"),
        ));
    }
    Ok(())
}

/// Produces the completion: a stream if asked, else the whole body once the last token is due.
pub(crate) async fn respond(sim: &Simulator, plan: Plan) -> Result<Response, SimError> {
    if plan.stream {
        let disconnect = happens(sim.faults().disconnect_rate);
        return Ok(stream(sim.clone(), plan, disconnect));
    }
    let slot = sim
        .slots()
        .acquire(sequences(&plan), plan.kv_tokens())
        .await?;
    let prefill = sim.prefill(&plan);
    decode_whole(sim, prefill, plan.tokens).await;
    drop(slot);
    let usage = plan.usage();
    let body = whole_body(plan, usage)?;
    sim.counters()
        .complete(usage.prompt_tokens, usage.completion_tokens);
    Ok(json_response(StatusCode::OK, body))
}

/// A whole answer, in the plan's shape.
fn whole_body(plan: Plan, usage: Usage) -> Result<Vec<u8>, SimError> {
    let text = |index| words(&plan, index).text(plan.tokens);
    let body = match plan.shape {
        Shape::Chat => {
            let choices = (0..plan.choices)
                .map(|index| ChatChoice {
                    index,
                    message: AssistantMessage {
                        role: "assistant".to_owned(),
                        content: Some(text(index)),
                    },
                    finish_reason: Some(plan.finish_reason.to_owned()),
                })
                .collect();
            let completion = ChatCompletion {
                id: completion_id(),
                object: "chat.completion".to_owned(),
                created: unix_seconds(),
                model: plan.model,
                choices,
                usage: Some(usage),
            };
            return serde_json::to_vec(&completion).map_err(SimError::Serialize);
        }
        Shape::Text => {
            let choices: Vec<_> = (0..plan.choices)
                .map(|index| {
                    json!({"index": index, "text": text(index), "logprobs": null,
                        "finish_reason": plan.finish_reason})
                })
                .collect();
            json!({"id": completion_id(), "object": "text_completion", "created": unix_seconds(),
                "model": plan.model, "choices": choices, "usage": usage})
        }
        Shape::LlamaCpp => json!({"content": text(0), "stop": true,
            "stop_type": llama_stop_type(&plan), "tokens_evaluated": usage.prompt_tokens,
            "tokens_predicted": usage.completion_tokens, "model": plan.model}),
        Shape::Ollama => json!({"model": plan.model, "created_at": rfc3339(unix_seconds()),
            "response": text(0), "done": true, "done_reason": plan.finish_reason,
            "prompt_eval_count": usage.prompt_tokens, "eval_count": usage.completion_tokens}),
    };
    serde_json::to_vec(&body).map_err(SimError::Serialize)
}

/// llama.cpp's name for why the completion ended: its limit, or the end of sequence.
fn llama_stop_type(plan: &Plan) -> &'static str {
    if plan.finish_reason == "length" {
        "limit"
    } else {
        "eos"
    }
}

/// Unix seconds as an RFC 3339 UTC time, as Ollama writes `created_at`.
fn rfc3339(seconds: u64) -> String {
    let days = i64::try_from(seconds / 86_400).unwrap_or(0);
    let rest = seconds % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Waits as long as decoding `tokens` tokens after a prefill of `prefill` takes. With a constant
/// pace that is one sleep; when the batch size slows decoding, the pace is re-read every frame's
/// worth of tokens, so a batch that fills or drains mid-way changes the rest of the wait.
async fn decode_whole(sim: &Simulator, prefill: std::time::Duration, tokens: u64) {
    let config = sim.config();
    if !config.batch_slows_decoding() {
        let last_token_due = config.token_due_after(prefill, tokens.saturating_sub(1));
        if !last_token_due.is_zero() {
            tokio::time::sleep(last_token_due).await;
        }
        return;
    }
    if !prefill.is_zero() {
        tokio::time::sleep(prefill).await;
    }
    let mut remaining = tokens.saturating_sub(1);
    while remaining > 0 {
        let chunk = remaining.min(TOKENS_PER_FRAME);
        if let Some(interval) = config.token_interval_in_batch(sim.batch()) {
            tokio::time::sleep(interval.saturating_mul(u32::try_from(chunk).unwrap_or(u32::MAX)))
                .await;
        }
        remaining -= chunk;
    }
}

/// The tokens of choice `index`: generated words, the echoed text in echo mode, or the script's
/// answer.
fn words(plan: &Plan, index: u32) -> Words {
    match (&plan.scripted, &plan.echo) {
        (Some(text), _) => Words::scripted(std::sync::Arc::clone(text)),
        (None, Some(text)) => Words::echoing(std::sync::Arc::clone(text)),
        (None, None) => Words::new(plan.seed, index),
    }
}

fn sequences(plan: &Plan) -> usize {
    usize::try_from(plan.choices).unwrap_or(usize::MAX)
}

fn completion_id() -> String {
    format!("chatcmpl-sim-{:016x}", rand::random::<u64>())
}

/// The most tokens (per choice) written into one body frame. Tokens still go out one SSE event
/// each; batching them into one frame only saves syscalls when decoding outruns the reader.
const TOKENS_PER_FRAME: u64 = 64;

/// A streamed completion: the slot is taken when the body is first polled, so headers go out at once
/// and queueing shows up, as on vLLM, as time to the first chunk.
fn stream(sim: Simulator, plan: Plan, disconnect: bool) -> Response {
    let content_type = match plan.shape {
        Shape::Chat | Shape::Text | Shape::LlamaCpp => "text/event-stream",
        Shape::Ollama => "application/x-ndjson",
    };
    let state = StreamState::new(sim, plan, disconnect);
    let body = Body::from_stream(futures_util::stream::unfold(state, StreamState::step));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Queued,
    Decoding,
    Done,
}

#[derive(Debug)]
struct StreamState {
    sim: Simulator,
    plan: Plan,
    id: String,
    created: u64,
    /// Per choice, the bytes every content event starts with, up to the content string's opening
    /// quote: built once so each token costs only a copy.
    content_prefixes: Vec<Vec<u8>>,
    words: Vec<Words>,
    phase: Phase,
    slot: Option<Slot>,
    /// When token `next_token` is due; `None` when nothing is paced (no delay configured).
    next_due: Option<Instant>,
    next_token: u64,
    events_sent: u32,
    disconnect: bool,
    /// What closes a content event after the token text.
    content_suffix: &'static [u8],
}

/// Per shape, the bytes of a content event before the choice's index (`{index}` below) and
/// between it and the token text; `{id}`, `{created}`, `{model}` and `{time}` filled once.
fn content_prefix(shape: Shape) -> &'static str {
    match shape {
        Shape::Chat => {
            "data: {\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"created\":{created},\
             \"model\":{model},\"choices\":[{\"index\":{index},\"delta\":{\"content\":\""
        }
        Shape::Text => {
            "data: {\"id\":\"{id}\",\"object\":\"text_completion\",\"created\":{created},\
             \"model\":{model},\"choices\":[{\"index\":{index},\"text\":\""
        }
        Shape::LlamaCpp => "data: {\"index\":{index},\"content\":\"",
        Shape::Ollama => "{\"model\":{model},\"created_at\":\"{time}\",\"response\":\"",
    }
}

/// Per shape, what closes a content event after the token text.
fn content_suffix(shape: Shape) -> &'static [u8] {
    match shape {
        Shape::Chat => b"\"},\"finish_reason\":null}]}\n\n",
        Shape::Text => b"\",\"finish_reason\":null}]}\n\n",
        Shape::LlamaCpp => b"\",\"stop\":false}\n\n",
        Shape::Ollama => b"\",\"done\":false}\n",
    }
}

impl StreamState {
    fn new(sim: Simulator, plan: Plan, disconnect: bool) -> Self {
        let id = completion_id();
        let created = unix_seconds();
        // Escaping the model name through serde keeps the hand-built events valid JSON.
        let model = serde_json::to_string(&plan.model).unwrap_or_else(|_| "\"\"".to_owned());
        let time = rfc3339(created);
        // The model name last: it is the caller's text, and may hold anything.
        let content_prefixes = (0..plan.choices)
            .map(|index| {
                content_prefix(plan.shape)
                    .replace("{index}", &index.to_string())
                    .replace("{id}", &id)
                    .replace("{created}", &created.to_string())
                    .replace("{time}", &time)
                    .replace("{model}", &model)
                    .into_bytes()
            })
            .collect();
        let words = (0..plan.choices).map(|index| words(&plan, index)).collect();
        StreamState {
            sim,
            id,
            created,
            content_prefixes,
            words,
            phase: Phase::Queued,
            slot: None,
            next_due: None,
            next_token: 0,
            events_sent: 0,
            disconnect,
            content_suffix: content_suffix(plan.shape),
            plan,
        }
    }

    /// Produces the next body frame, waiting as long as the simulated GPU would.
    async fn step(mut self) -> Option<(Result<Bytes, io::Error>, Self)> {
        match self.phase {
            Phase::Done => None,
            Phase::Queued => {
                let frame = match self.start().await {
                    // Only chat streams announce the role: the others begin with the first token.
                    Ok(frame) if frame.is_empty() => self.decode().await,
                    other => other,
                };
                Some((frame, self))
            }
            Phase::Decoding => {
                let frame = self.decode().await;
                Some((frame, self))
            }
        }
    }

    /// Waits for a slot and the prefill, then announces the assistant's role.
    async fn start(&mut self) -> Result<Bytes, io::Error> {
        let acquired = self
            .sim
            .slots()
            .acquire(sequences(&self.plan), self.plan.kv_tokens())
            .await;
        let slot = match acquired {
            Ok(slot) => slot,
            Err(closed) => {
                self.phase = Phase::Done;
                return Err(io::Error::other(closed));
            }
        };
        self.slot = Some(slot);
        // Without any delay configured the clock is never read: benchmarks run this path.
        let prefill = self.sim.prefill(&self.plan);
        if !prefill.is_zero() || self.sim.config().token_interval().is_some() {
            let first_due = deadline(Instant::now(), prefill);
            self.next_due = Some(first_due);
            if !prefill.is_zero() {
                tokio::time::sleep_until(first_due).await;
            }
        }
        self.phase = Phase::Decoding;
        let mut frame = Vec::new();
        if self.plan.shape != Shape::Chat {
            return Ok(Bytes::new());
        }
        for index in 0..self.plan.choices {
            let delta = Delta {
                role: Some("assistant".to_owned()),
                content: Some(String::new()),
            };
            self.write_chunk(
                &mut frame,
                vec![ChunkChoice {
                    index,
                    delta,
                    finish_reason: None,
                }],
                None,
            );
        }
        Ok(Bytes::from(frame))
    }

    /// Emits the tokens that are due, or the end of the stream, or the injected disconnect.
    async fn decode(&mut self) -> Result<Bytes, io::Error> {
        if self.disconnect
            && (self.events_sent >= EVENTS_BEFORE_DISCONNECT || self.next_token >= self.plan.tokens)
        {
            bump(&self.sim.counters().disconnects_injected);
            self.finish();
            // Pending once, so hyper flushes the chunks already written before the connection dies;
            // otherwise, with no delay configured, the client would never see a byte of them.
            tokio::task::yield_now().await;
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "simulated disconnect",
            ));
        }
        if self.next_token >= self.plan.tokens {
            return Ok(self.end());
        }
        let batch = self.wait_for_tokens().await;
        let choices = self.words.len();
        let mut frame = Vec::with_capacity(
            usize::try_from(batch)
                .unwrap_or(1)
                .saturating_mul(choices)
                .saturating_mul(
                    self.content_prefixes.first().map_or(0, Vec::len)
                        + self.content_suffix.len()
                        + 16,
                ),
        );
        for _ in 0..batch {
            for (prefix, words) in self.content_prefixes.iter().zip(self.words.iter_mut()) {
                frame.extend_from_slice(prefix);
                words.next_piece(&mut frame);
                frame.extend_from_slice(self.content_suffix);
                self.events_sent = self.events_sent.saturating_add(1);
            }
        }
        self.next_token += batch;
        Ok(Bytes::from(frame))
    }

    /// Sleeps until the next token is due and says how many are due by then (at least one).
    async fn wait_for_tokens(&mut self) -> u64 {
        let remaining = self.plan.tokens - self.next_token;
        // A stream chosen for a disconnect goes one token at a time, so it is cut mid-way.
        let most = if self.disconnect {
            1
        } else {
            remaining.min(TOKENS_PER_FRAME)
        };
        let Some(due) = self.next_due else {
            return most;
        };
        if due > Instant::now() {
            tokio::time::sleep_until(due).await;
        }
        // The pace of the tokens after this one, at the batch size of now.
        let interval = self
            .sim
            .config()
            .token_interval_in_batch(self.sim.batch())
            .unwrap_or_default();
        let after = |tokens: u64| {
            deadline(
                due,
                interval.saturating_mul(u32::try_from(tokens).unwrap_or(u32::MAX)),
            )
        };
        let now = Instant::now();
        let mut batch = 1;
        while batch < most && after(batch) <= now {
            batch += 1;
        }
        self.next_due = Some(after(batch));
        batch
    }

    /// The final chunks, the usage chunk if asked for, and `[DONE]`; in llama.cpp's and Ollama's
    /// shapes, the last event, which carries the token counts.
    fn end(&mut self) -> Bytes {
        let usage = self.plan.usage();
        let frame = match self.plan.shape {
            Shape::Chat => self.chat_end(usage),
            Shape::Text => self.text_end(usage),
            Shape::LlamaCpp => wire::sse::event(
                json!({"content": "", "stop": true, "stop_type": llama_stop_type(&self.plan),
                    "tokens_evaluated": usage.prompt_tokens,
                    "tokens_predicted": usage.completion_tokens})
                .to_string()
                .as_bytes(),
            ),
            Shape::Ollama => {
                let mut line = json!({"model": self.plan.model,
                    "created_at": rfc3339(unix_seconds()), "response": "", "done": true,
                    "done_reason": self.plan.finish_reason,
                    "prompt_eval_count": usage.prompt_tokens,
                    "eval_count": usage.completion_tokens})
                .to_string()
                .into_bytes();
                line.push(b'\n');
                line
            }
        };
        self.sim
            .counters()
            .complete(usage.prompt_tokens, usage.completion_tokens);
        self.finish();
        Bytes::from(frame)
    }

    /// OpenAI's text completion's end: a finish event per choice, usage if asked, `[DONE]`.
    fn text_end(&self, usage: Usage) -> Vec<u8> {
        let event = |choices: serde_json::Value, usage: Option<Usage>| {
            let mut chunk = json!({"id": self.id, "object": "text_completion",
                "created": self.created, "model": self.plan.model, "choices": choices});
            if let Some(usage) = usage {
                chunk["usage"] = json!(usage);
            }
            wire::sse::event(chunk.to_string().as_bytes())
        };
        let mut frame = Vec::new();
        for index in 0..self.plan.choices {
            frame.extend(event(
                json!([{"index": index, "text": "", "finish_reason": self.plan.finish_reason}]),
                None,
            ));
        }
        if self.plan.include_usage {
            frame.extend(event(json!([]), Some(usage)));
        }
        frame.extend_from_slice(wire::sse::DONE);
        frame
    }

    /// The chat completion's end: the final chunks, the usage chunk if asked, `[DONE]`.
    fn chat_end(&mut self, usage: Usage) -> Vec<u8> {
        let mut frame = Vec::new();
        for index in 0..self.plan.choices {
            let finish_reason = Some(self.plan.finish_reason.to_owned());
            let choice = ChunkChoice {
                index,
                delta: Delta::default(),
                finish_reason,
            };
            self.write_chunk(&mut frame, vec![choice], None);
        }
        if self.plan.include_usage {
            self.write_chunk(&mut frame, Vec::new(), Some(usage));
        }
        frame.extend_from_slice(wire::sse::DONE);
        frame
    }

    /// Frees the slot at once (not when the body is dropped) and ends the stream.
    fn finish(&mut self) {
        self.slot = None;
        self.phase = Phase::Done;
    }

    fn write_chunk(
        &mut self,
        frame: &mut Vec<u8>,
        choices: Vec<ChunkChoice>,
        usage: Option<Usage>,
    ) {
        let chunk = ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".to_owned(),
            created: self.created,
            model: self.plan.model.clone(),
            choices,
            usage,
        };
        // A chunk of plain strings and numbers always serializes; were it ever not to, the event is
        // skipped rather than sent broken.
        if let Ok(json) = serde_json::to_vec(&chunk) {
            frame.extend_from_slice(&wire::sse::event(&json));
            self.events_sent = self.events_sent.saturating_add(1);
        }
    }
}

/// `start + offset`, saturating far in the future instead of overflowing.
fn deadline(start: Instant, offset: std::time::Duration) -> Instant {
    const FAR: std::time::Duration = std::time::Duration::from_secs(86_400 * 365 * 30);
    start
        .checked_add(offset)
        .or_else(|| start.checked_add(FAR))
        .unwrap_or(start)
}
