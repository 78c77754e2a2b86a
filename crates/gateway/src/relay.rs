//! Stage 13, relay: return the backend's answer to the caller.
//!
//! Non-streaming answers are read whole (within `[server] request_timeout`), their `usage` read,
//! and returned; so is a backend's own refusal (a 4xx other than 429), which the caller sees as the
//! backend gave it. Streams are relayed frame by frame as they arrive (no buffering beyond one
//! partial event); the relay reads inside the events only to take the backend's `usage` and to
//! count the completion text it relays (`relayed`), which the request is charged by when the
//! backend gave no usage. A stream that ends without `[DONE]` (backend died, connection cut) is
//! closed with an error event, never silently truncated.
//!
//! An engine without a FIM route answers FIM in its own format ([`FimAnswer`]): it is turned into
//! Mistral's before anything else looks at it. So is an engine's own rerank answer
//! ([`RerankAnswer`]) into the caller's shape. A usage that gives only `total_tokens` (a
//! reranker's) is all input.
//!
//! When the request's policy needs it, an [`AnswerFilter`] rewrites the answer's texts (output
//! policies, pseudonyms put back): then every event's data is read. So it is for a use case's
//! output schema, checked at `[DONE]` ([`StreamCheck`]).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use http::StatusCode;
use http_body::Body as _;
use hyper::body::Incoming;
use memchr::memmem;
use routing::Lease;
use serde::Deserialize;
use upstream::{FimAnswer, RerankAnswer};
use wire::{ErrorBody, ErrorType, Usage};

use crate::answer::AnswerFilter;
use crate::cache::Recording;
use crate::catalog::{ModelRename, ModelRoute};
use crate::error::GatewayError;
use crate::relayed;
use crate::route::Routed;
use crate::structured::StreamCheck;

/// What the relay stage hands to the request's exit.
pub(crate) enum Answer {
    /// A whole body, read: the backend's answer, or its own refusal of the request.
    Whole {
        status: StatusCode,
        bytes: Bytes,
        usage: Option<Usage>,
        /// The characters of completion text relayed, counted when the backend gave no usage.
        relayed_chars: u64,
        first_byte: Instant,
        /// The gateway refused the answer after the model gave it (a use case's output schema
        /// broken): the error code, the answer's tokens still charged.
        refused: Option<&'static str>,
    },
    /// A stream, to relay as it comes ([`RelayStream`]); it is metered when it ends.
    Stream(Box<Streaming>),
    /// The answer the response cache held for the same request (stage 9): a whole body, or a
    /// stream's events, replayed whole; no backend was asked.
    Cached(Bytes),
}

/// What relaying a stream needs: the backend's body and the endpoint slot held until its end.
pub(crate) struct Streaming {
    pub upstream: Incoming,
    pub lease: Lease,
    pub drop_usage_chunk: bool,
    pub rename: Option<Arc<ModelRename>>,
    pub answer: Option<AnswerFilter>,
    /// Turns an engine's own FIM stream into Mistral's, when the engine has no FIM route.
    pub fim: Option<FimAnswer>,
    /// A use case's output schema, checked when the stream ends.
    pub check: Option<StreamCheck>,
    /// The events relayed, for the response cache, when the request is cached (stage 9).
    pub recording: Option<Recording>,
}

/// Reads the backend's answer, or prepares its stream; the answer filter rewrites what the caller
/// receives.
pub(crate) async fn relay(
    routed: Routed,
    model: &ModelRoute,
    stream: bool,
    mut answer: Option<AnswerFilter>,
    timeout: Duration,
) -> Result<Answer, GatewayError> {
    let Routed {
        response,
        lease,
        injected_usage_request,
        attempts,
        dialect,
        rerank,
        ..
    } = routed;
    let rename = model.rename.clone();
    let fim = FimAnswer::new(dialect, &model.upstream_name);
    let (parts, upstream) = response.into_parts();
    let first_byte = Instant::now();
    if !parts.status.is_success() {
        // The backend refused the request itself (4xx): the caller sees its answer.
        let (bytes, usage) = read_whole(upstream, None, Translation::default()).await?;
        return Ok(Answer::Whole {
            status: parts.status,
            bytes,
            usage,
            relayed_chars: 0,
            first_byte,
            refused: None,
        });
    }
    if stream {
        return Ok(Answer::Stream(Box::new(Streaming {
            upstream,
            lease,
            drop_usage_chunk: injected_usage_request,
            rename,
            answer,
            fim,
            check: None,
            recording: None,
        })));
    }
    let read = tokio::time::timeout(
        timeout,
        read_whole(
            upstream,
            rename.as_deref(),
            Translation {
                fim: fim.as_ref(),
                rerank: rerank.as_ref(),
            },
        ),
    );
    let (bytes, usage) = read.await.map_err(|_| GatewayError::UpstreamTimeout {
        model: model.name.clone(),
        attempts,
    })??;
    drop(lease);
    let bytes = filter_whole(bytes, answer.as_mut());
    let relayed_chars = match usage {
        Some(_) => 0,
        None => relayed::completion_chars(&bytes),
    };
    Ok(Answer::Whole {
        status: StatusCode::OK,
        bytes,
        usage,
        relayed_chars,
        first_byte,
        refused: None,
    })
}

#[derive(Deserialize)]
struct UsageOnly {
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct UsageChunk {
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    choices: Option<Vec<serde::de::IgnoredAny>>,
}

/// What turns an engine's whole answer into the caller's dialect, if it has another.
#[derive(Default)]
struct Translation<'a> {
    fim: Option<&'a FimAnswer>,
    rerank: Option<&'a RerankAnswer>,
}

/// Reads a whole non-streaming answer, in the caller's dialect; returns the body to send and the
/// usage it reports.
async fn read_whole(
    body: Incoming,
    rename: Option<&ModelRename>,
    translation: Translation<'_>,
) -> Result<(Bytes, Option<Usage>), GatewayError> {
    use http_body_util::BodyExt;
    let bytes = body
        .collect()
        .await
        .map_err(|e| GatewayError::UpstreamBody(e.to_string()))?
        .to_bytes();
    let unreadable = |e: serde_json::Error| GatewayError::UpstreamBody(e.to_string());
    let bytes = match translation {
        Translation { fim: Some(fim), .. } => Bytes::from(fim.whole(&bytes).map_err(unreadable)?),
        Translation {
            rerank: Some(rerank),
            ..
        } => Bytes::from(rerank.whole(&bytes).map_err(unreadable)?),
        Translation { .. } => bytes,
    };
    let usage = serde_json::from_slice::<UsageOnly>(&bytes)
        .ok()
        .and_then(|u| u.usage)
        .map(all_input_when_only_total);
    let bytes = match rename.and_then(|r| r.apply(&bytes)) {
        Some(renamed) => Bytes::from(renamed),
        None => bytes,
    };
    Ok((bytes, usage))
}

/// A usage of `total_tokens` only (a reranker's, `{"total_tokens": 12}`) counts them all as input.
fn all_input_when_only_total(usage: Usage) -> Usage {
    if usage.prompt_tokens == 0 && usage.completion_tokens == 0 {
        Usage::new(usage.total_tokens, 0)
    } else {
        usage
    }
}

/// A whole answer through the request's answer filter, if it has one.
fn filter_whole(bytes: Bytes, filter: Option<&mut AnswerFilter>) -> Bytes {
    match filter.and_then(|filter| filter.whole(&bytes)) {
        Some(rewritten) => Bytes::from(rewritten),
        None => bytes,
    }
}

/// How a relayed stream ended, reported once to the meter.
#[derive(Debug, Clone)]
pub(crate) struct StreamOutcome {
    pub usage: Option<Usage>,
    pub first_byte: Option<Instant>,
    /// `None` when the stream completed with `[DONE]`.
    pub error_code: Option<&'static str>,
    /// The completion text relayed, when the request's content is kept.
    pub completion: Option<String>,
    /// The characters of completion text relayed.
    pub relayed_chars: u64,
}

/// The relayed stream: yields the caller's bytes and calls `on_end` exactly once when it finishes,
/// fails, or is dropped because the caller went away.
pub(crate) struct RelayStream<F: FnOnce(StreamOutcome) + Send + 'static> {
    upstream: Incoming,
    /// The endpoint's slot, freed when the stream ends, before `on_end` meters it: the next
    /// request dispatched finds the endpoint free.
    lease: Option<Lease>,
    pending: BytesMut,
    drop_usage_chunk: bool,
    rename: Option<Arc<ModelRename>>,
    answer: Option<AnswerFilter>,
    fim: Option<FimAnswer>,
    check: Option<StreamCheck>,
    /// The error the stream ends with though it completed: its answer broke the output schema.
    violation: Option<&'static str>,
    recording: Option<Recording>,
    /// The completion relayed so far, when the request's content is kept.
    completion: Option<String>,
    /// The characters of completion text relayed so far.
    relayed_chars: u64,
    usage: Option<Usage>,
    first_byte: Option<Instant>,
    saw_done: bool,
    finished: bool,
    on_end: Option<F>,
}

impl<F: FnOnce(StreamOutcome) + Send + 'static> RelayStream<F> {
    /// Relays `streaming`, calling `on_end` once when the stream ends, however it ends; keeps
    /// the completion text when `keep_completion` (for content retention).
    pub fn new(streaming: Streaming, keep_completion: bool, on_end: F) -> Self {
        let Streaming {
            upstream,
            lease,
            drop_usage_chunk,
            rename,
            answer,
            fim,
            check,
            recording,
        } = streaming;
        RelayStream {
            upstream,
            lease: Some(lease),
            pending: BytesMut::new(),
            drop_usage_chunk,
            rename,
            answer,
            fim,
            check,
            violation: None,
            recording,
            completion: keep_completion.then(String::new),
            relayed_chars: 0,
            usage: None,
            first_byte: None,
            saw_done: false,
            finished: false,
            on_end: Some(on_end),
        }
    }

    fn end(&mut self, error_code: Option<&'static str>) {
        self.finished = true;
        drop(self.lease.take());
        if let Some(recording) = self.recording.take().filter(|_| error_code.is_none()) {
            recording.complete();
        }
        if let Some(on_end) = self.on_end.take() {
            on_end(StreamOutcome {
                usage: self.usage,
                first_byte: self.first_byte,
                error_code,
                completion: self.completion.take(),
                relayed_chars: self.relayed_chars,
            });
        }
    }

    /// Takes the complete events out of `pending` and returns the bytes to forward.
    fn complete_events(&mut self) -> Option<Bytes> {
        let boundary = last_event_end(&self.pending)?;
        let chunk = self.pending.split_to(boundary).freeze();
        let needs_look = memmem::find(&chunk, b"\"usage\"").is_some()
            || memmem::find(&chunk, b"[DONE]").is_some();
        if !needs_look
            && self.rename.is_none()
            && self.answer.is_none()
            && self.completion.is_none()
            && self.check.is_none()
        {
            self.relayed_chars += relayed::stream_chars(&chunk);
            return Some(chunk);
        }
        let (events, _) = wire::sse::split_events(&chunk);
        let mut out = BytesMut::with_capacity(chunk.len());
        for event in events {
            match self.inspect(event) {
                EventAction::Forward => {
                    let before = out.len();
                    let filtered = self
                        .answer
                        .as_mut()
                        .and_then(|filter| filter_event(filter, event, &mut out));
                    let event = filtered.as_deref().unwrap_or(event);
                    if let Some(completion) = self.completion.as_mut() {
                        // What the filter released before `[DONE]`, then the event itself.
                        crate::capture::append_stream_texts(completion, &out[before..]);
                        crate::capture::append_stream_texts(completion, event);
                    }
                    if let Some(check) = self.check.as_mut() {
                        check.note(&out[before..]);
                        check.note(event);
                    }
                    if self.saw_done
                        && let Some(error) = self.check.take().and_then(|c| c.verdict())
                    {
                        // Said before `[DONE]`, so that clients reading to the end see it.
                        out.extend_from_slice(&wire::sse::event(&error.body_json()));
                        self.violation = Some(error.code());
                    }
                    match self.rename.as_ref().and_then(|r| r.apply(event)) {
                        Some(renamed) => out.extend_from_slice(&renamed),
                        None => out.extend_from_slice(event),
                    }
                }
                EventAction::Drop => {}
            }
        }
        self.relayed_chars += relayed::stream_chars(&out);
        Some(out.freeze())
    }

    fn inspect(&mut self, event: &[u8]) -> EventAction {
        let Some(data) = wire::sse::data_of(event) else {
            return EventAction::Forward;
        };
        if data.as_slice() == b"[DONE]" {
            self.saw_done = true;
            return EventAction::Forward;
        }
        if memmem::find(&data, b"\"usage\"").is_none() {
            return EventAction::Forward;
        }
        match serde_json::from_slice::<UsageChunk>(&data) {
            Ok(UsageChunk {
                usage: Some(usage),
                choices,
            }) => {
                self.usage = Some(usage);
                let usage_only = choices.is_none_or(|c| c.is_empty());
                if self.drop_usage_chunk && usage_only {
                    EventAction::Drop
                } else {
                    EventAction::Forward
                }
            }
            _ => EventAction::Forward,
        }
    }
}

/// One event through the answer filter: the rewritten event, or `None` to forward it as it is.
/// Before `[DONE]`, what the filter still holds goes out in an event of its own.
fn filter_event(filter: &mut AnswerFilter, event: &[u8], out: &mut BytesMut) -> Option<Vec<u8>> {
    let data = wire::sse::data_of(event)?;
    if data.as_slice() == b"[DONE]" {
        if let Some(rest) = filter.flush() {
            out.extend_from_slice(&wire::sse::event(&rest));
        }
        return None;
    }
    filter
        .event(&data)
        .map(|rewritten| wire::sse::event(&rewritten))
}

enum EventAction {
    Forward,
    Drop,
}

/// End of the last complete event in `buf` (just past its blank line).
fn last_event_end(buf: &[u8]) -> Option<usize> {
    let lf = memmem::rfind(buf, b"\n\n").map(|i| i + 2);
    let crlf = memmem::rfind(buf, b"\r\n\r\n").map(|i| i + 4);
    lf.max(crlf)
}

/// The error event that closes a stream the backend broke off.
fn interrupted_event() -> Bytes {
    let body = ErrorBody::new(
        ErrorType::Upstream,
        "stream_interrupted",
        "relay stage: the backend stopped before the end of the stream; the answer is incomplete",
    );
    Bytes::from(wire::sse::event(&body.to_json()))
}

impl<F: FnOnce(StreamOutcome) + Send + Unpin + 'static> Stream for RelayStream<F> {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.finished {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.upstream).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    if this.first_byte.is_none() {
                        this.first_byte = Some(Instant::now());
                    }
                    match this.fim.as_mut() {
                        Some(fim) => this.pending.extend_from_slice(&fim.stream(&data)),
                        None => this.pending.extend_from_slice(&data),
                    }
                    if let Some(out) = this.complete_events()
                        && !out.is_empty()
                    {
                        if let Some(recording) = this.recording.as_mut()
                            && !recording.add(&out)
                        {
                            this.recording = None;
                        }
                        return Poll::Ready(Some(Ok(out)));
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    tracing::warn!(%error, "backend stream broke off");
                    this.end(Some("stream_interrupted"));
                    return Poll::Ready(Some(Ok(interrupted_event())));
                }
                Poll::Ready(None) => {
                    if this.saw_done {
                        this.end(this.violation);
                        return Poll::Ready(None);
                    }
                    this.end(Some("stream_interrupted"));
                    return Poll::Ready(Some(Ok(interrupted_event())));
                }
            }
        }
    }
}

impl<F: FnOnce(StreamOutcome) + Send + 'static> Drop for RelayStream<F> {
    fn drop(&mut self) {
        if !self.finished {
            // The caller went away before the end: meter what was served.
            self.end(Some("client_disconnected"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_end_of_the_last_complete_event() {
        assert_eq!(last_event_end(b"data: a\n\ndata: b\n\ndata: c"), Some(18));
        assert_eq!(last_event_end(b"data: a"), None);
    }
}
