//! Fill-in-the-middle in each engine's dialect (`domain::Dialect`): the caller's request, Mistral's
//! `/fim/completions` shape, rewritten for the engine, and the engine's answer turned back into
//! Mistral's (a chat completion, or a stream of chunks ended by `[DONE]`), so the caller cannot
//! tell which engine served it.
//!
//! | dialect | request | answer |
//! |---|---|---|
//! | `FimPrompt` | `prompt` built with the model's FIM tokens | OpenAI text completion (SSE) |
//! | `CompletionSuffix` | `prompt` and `suffix` as they are | OpenAI text completion (SSE) |
//! | `LlamaInfill` | `input_prefix`, `input_suffix`, `n_predict` | `content`, `stop`, token counts (SSE, no `[DONE]`) |
//! | `OllamaGenerate` | `prompt`, `suffix`, `options.num_predict`… | `response`, `done`, counts (NDJSON) |
//!
//! Mistral's `random_seed` is every engine's `seed`; `min_tokens`, which none of them shares, is
//! dropped.

use domain::{Dialect, FimTemplate};
use memchr::memchr;
use serde::Deserialize;
use serde_json::value::RawValue;
use wire::Usage;
use wire::chat::{
    AssistantMessage, ChatChoice, ChatCompletion, ChatCompletionChunk, ChunkChoice, Delta,
};
use wire::object::RawObject;

/// Rewrites the FIM request `body` (Mistral's shape) for an engine of `dialect`.
pub fn fim_request(
    dialect: Dialect,
    body: &mut RawObject<'_>,
    template: &FimTemplate,
) -> Result<(), serde_json::Error> {
    match dialect {
        // The caller's own, or not a FIM dialect.
        Dialect::Native | Dialect::HuggingFaceRerank => return Ok(()),
        Dialect::FimPrompt => {
            let prefix: String = body.get_as("prompt")?.unwrap_or_default();
            let suffix: String = body.get_as("suffix")?.unwrap_or_default();
            body.set_str("prompt", &template.render(&prefix, &suffix))?;
            body.remove("suffix");
        }
        Dialect::CompletionSuffix => {}
        Dialect::LlamaInfill => {
            body.rename("prompt", "input_prefix");
            if !body.contains("suffix") {
                body.set_str("suffix", "")?;
            }
            body.rename("suffix", "input_suffix");
            body.rename("max_tokens", "n_predict");
            body.remove("stream_options");
        }
        Dialect::OllamaGenerate => return ollama_request(body),
    }
    body.rename("random_seed", "seed");
    body.remove("min_tokens");
    Ok(())
}

/// Ollama's generate: sampling options nested under `options`, and `stream` always said, since
/// Ollama streams when it is absent.
fn ollama_request(body: &mut RawObject<'_>) -> Result<(), serde_json::Error> {
    const OPTIONS: [(&str, &str); 6] = [
        ("max_tokens", "num_predict"),
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("stop", "stop"),
        ("random_seed", "seed"),
        ("seed", "seed"),
    ];
    let mut options = serde_json::Map::new();
    for (field, option) in OPTIONS {
        if let Some(value) = body.get(field) {
            options.insert(option.to_owned(), serde_json::from_str(value.get())?);
            body.remove(field);
        }
    }
    let stream: bool = body.get_as("stream")?.unwrap_or(false);
    body.set_raw("stream", stream.to_string())?;
    body.set_raw("options", serde_json::to_string(&options)?)?;
    body.remove("stream_options");
    body.remove("min_tokens");
    Ok(())
}

/// Turns an engine's FIM answer into Mistral's. One per response.
#[derive(Debug)]
pub struct FimAnswer {
    dialect: Dialect,
    /// The name the engine knows the model by (a rename to the public name follows).
    model: String,
    id: String,
    created: u64,
    /// A partial event or line, kept for the next chunk.
    pending: Vec<u8>,
    role_sent: bool,
}

/// The fields of every engine's answer (or stream event) that make Mistral's.
#[derive(Debug, Default, Deserialize)]
struct EngineAnswer<'a> {
    /// OpenAI text completions.
    #[serde(default, borrow)]
    choices: Option<Vec<TextChoice<'a>>>,
    #[serde(default)]
    usage: Option<Usage>,
    /// llama.cpp.
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    stop: Option<bool>,
    #[serde(default)]
    stop_type: Option<String>,
    #[serde(default)]
    tokens_evaluated: Option<u64>,
    #[serde(default)]
    tokens_predicted: Option<u64>,
    /// Ollama.
    #[serde(default)]
    response: Option<String>,
    #[serde(default)]
    done: Option<bool>,
    #[serde(default)]
    done_reason: Option<String>,
    #[serde(default)]
    prompt_eval_count: Option<u64>,
    #[serde(default)]
    eval_count: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct TextChoice<'a> {
    #[serde(default)]
    text: Option<String>,
    #[serde(default, borrow)]
    finish_reason: Option<&'a RawValue>,
}

/// One step of an answer, in Mistral's terms.
#[derive(Debug, Default, PartialEq)]
struct Step {
    text: String,
    /// Set on the step that ends the completion.
    finish_reason: Option<String>,
    usage: Option<Usage>,
    /// The engine's own end of stream (`[DONE]`), where it has one.
    done: bool,
}

impl FimAnswer {
    /// The translation of answers in `dialect`, or `None` for Mistral's own.
    pub fn new(dialect: Dialect, model: &str) -> Option<FimAnswer> {
        if matches!(dialect, Dialect::Native | Dialect::HuggingFaceRerank) {
            return None;
        }
        Some(FimAnswer {
            dialect,
            model: model.to_owned(),
            id: format!("fim-{:016x}", rand_id()),
            created: unix_seconds(),
            pending: Vec::new(),
            role_sent: false,
        })
    }

    /// A whole answer in Mistral's shape, with its usage.
    pub fn whole(&self, bytes: &[u8]) -> Result<Vec<u8>, serde_json::Error> {
        let step = self.step(bytes)?;
        let completion = ChatCompletion {
            id: self.id.clone(),
            object: "chat.completion".to_owned(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChatChoice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant".to_owned(),
                    content: Some(step.text),
                },
                finish_reason: Some(step.finish_reason.unwrap_or_else(|| "stop".to_owned())),
            }],
            usage: step.usage,
        };
        serde_json::to_vec(&completion)
    }

    /// The SSE events of Mistral's stream for the next bytes of the engine's; what ends mid-event
    /// waits for the next call. The engine's end of answer becomes the finish chunk, the usage
    /// chunk and `[DONE]`.
    pub fn stream(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some((record, consumed)) = self.next_record() {
            if let Some(data) = record {
                self.translate_event(&data, &mut out);
            }
            self.pending.drain(..consumed);
        }
        out
    }

    /// The next complete record of the engine's stream (the data of an SSE event, or an NDJSON
    /// line) and how many bytes it took; `None` inside the record when it carries no data.
    fn next_record(&self) -> Option<(Option<Vec<u8>>, usize)> {
        let buf = &self.pending;
        if self.dialect == Dialect::OllamaGenerate {
            let end = memchr(b'\n', buf)?;
            let line = buf[..end].trim_ascii();
            return Some(((!line.is_empty()).then(|| line.to_vec()), end + 1));
        }
        // Events are contiguous from the buffer's start: the first ends at its length.
        let (events, _) = wire::sse::split_events(buf);
        let event = events.first()?;
        Some((wire::sse::data_of(event), event.len()))
    }

    fn translate_event(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let step = if data == b"[DONE]" {
            Step {
                done: true,
                ..Step::default()
            }
        } else {
            match self.step(data) {
                Ok(step) => step,
                // Not an answer (a comment, an engine's error event): passed on as it came.
                Err(_) => {
                    out.extend_from_slice(&wire::sse::event(data));
                    return;
                }
            }
        };
        if !self.role_sent {
            self.role_sent = true;
            self.chunk(out, Some("assistant"), Some(String::new()), None, None);
        }
        if !step.text.is_empty() {
            self.chunk(out, None, Some(step.text), None, None);
        }
        if let Some(reason) = step.finish_reason {
            self.chunk(out, None, None, Some(reason), None);
        }
        if let Some(usage) = step.usage {
            self.chunk(out, None, None, None, Some(usage));
        }
        let ends = match self.dialect {
            // Text completions say `[DONE]` themselves.
            Dialect::Native
            | Dialect::FimPrompt
            | Dialect::CompletionSuffix
            | Dialect::HuggingFaceRerank => step.done,
            Dialect::LlamaInfill | Dialect::OllamaGenerate => step.usage.is_some(),
        };
        if ends {
            out.extend_from_slice(wire::sse::DONE);
        }
    }

    fn chunk(
        &self,
        out: &mut Vec<u8>,
        role: Option<&str>,
        content: Option<String>,
        finish_reason: Option<String>,
        usage: Option<Usage>,
    ) {
        let choices = if usage.is_some() {
            Vec::new()
        } else {
            vec![ChunkChoice {
                index: 0,
                delta: Delta {
                    role: role.map(str::to_owned),
                    content,
                },
                finish_reason,
            }]
        };
        let chunk = ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".to_owned(),
            created: self.created,
            model: self.model.clone(),
            choices,
            usage,
        };
        if let Ok(json) = serde_json::to_vec(&chunk) {
            out.extend_from_slice(&wire::sse::event(&json));
        }
    }

    /// One answer, or one event of a stream, in Mistral's terms.
    fn step(&self, data: &[u8]) -> Result<Step, serde_json::Error> {
        let answer: EngineAnswer = serde_json::from_slice(data)?;
        Ok(match self.dialect {
            Dialect::Native
            | Dialect::FimPrompt
            | Dialect::CompletionSuffix
            | Dialect::HuggingFaceRerank => {
                let choice = answer.choices.and_then(|c| c.into_iter().next());
                let (text, finish_reason) = match choice {
                    Some(choice) => (
                        choice.text.unwrap_or_default(),
                        choice
                            .finish_reason
                            .and_then(|r| serde_json::from_str(r.get()).ok()),
                    ),
                    None => (String::new(), None),
                };
                Step {
                    text,
                    finish_reason,
                    usage: answer.usage,
                    done: false,
                }
            }
            Dialect::LlamaInfill => {
                let ended = answer.stop.unwrap_or(false);
                Step {
                    text: answer.content.unwrap_or_default(),
                    finish_reason: ended
                        .then(|| finish(answer.stop_type.as_deref() == Some("limit")).to_owned()),
                    usage: ended.then(|| {
                        Usage::new(
                            answer.tokens_evaluated.unwrap_or(0),
                            answer.tokens_predicted.unwrap_or(0),
                        )
                    }),
                    done: false,
                }
            }
            Dialect::OllamaGenerate => {
                let ended = answer.done.unwrap_or(false);
                Step {
                    text: answer.response.unwrap_or_default(),
                    finish_reason: ended.then(|| {
                        finish(answer.done_reason.as_deref() == Some("length")).to_owned()
                    }),
                    usage: ended.then(|| {
                        Usage::new(
                            answer.prompt_eval_count.unwrap_or(0),
                            answer.eval_count.unwrap_or(0),
                        )
                    }),
                    done: false,
                }
            }
        })
    }
}

/// Mistral's `finish_reason`: `length` when the token limit cut the completion.
fn finish(at_limit: bool) -> &'static str {
    if at_limit { "length" } else { "stop" }
}

fn rand_id() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::Instant::now())
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
