//! Stage 10, relay: return the backend's answer to the caller.
//!
//! Non-streaming answers are read whole, their `usage` read, and returned. Streams are relayed frame
//! by frame as they arrive (no buffering beyond one partial event): the relay only looks inside the
//! events that carry `usage` or end the stream. A stream that ends without `[DONE]` (backend died,
//! connection cut) is closed with an error event, never silently truncated.
//!
//! When the request's policy needs it, an [`AnswerFilter`] rewrites the answer's texts (output
//! policies, pseudonyms put back): then every event's data is read.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use http_body::Body as _;
use hyper::body::Incoming;
use memchr::memmem;
use serde::Deserialize;
use wire::{ErrorBody, ErrorType, Usage};

use crate::answer::AnswerFilter;
use crate::error::GatewayError;

/// Rewrites the backend's model name into the public one in response bodies. Built only for models
/// whose backends know them by another name.
#[derive(Debug, Clone)]
pub struct ModelRename {
    patterns: [Vec<u8>; 2],
    replacement: Vec<u8>,
}

impl ModelRename {
    pub fn new(upstream: &str, public: &str) -> Option<Self> {
        if upstream == public {
            return None;
        }
        let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let (from, to) = (quoted(upstream), quoted(public));
        Some(ModelRename {
            // Compact (most servers) and Python's default `json.dumps` spacing.
            patterns: [
                format!("\"model\":{from}").into_bytes(),
                format!("\"model\": {from}").into_bytes(),
            ],
            replacement: format!("\"model\":{to}").into_bytes(),
        })
    }

    /// Replaces the first `"model": "<upstream>"` of `bytes`, if any.
    pub fn apply(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        self.patterns.iter().find_map(|pattern| {
            let at = memmem::find(bytes, pattern)?;
            let mut out = Vec::with_capacity(bytes.len() + self.replacement.len());
            out.extend_from_slice(&bytes[..at]);
            out.extend_from_slice(&self.replacement);
            out.extend_from_slice(&bytes[at + pattern.len()..]);
            Some(out)
        })
    }
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

/// Reads a whole non-streaming answer; returns the body to send and the usage it reports.
pub async fn read_whole(
    body: Incoming,
    rename: Option<&ModelRename>,
) -> Result<(Bytes, Option<Usage>), GatewayError> {
    use http_body_util::BodyExt;
    let bytes = body
        .collect()
        .await
        .map_err(|e| GatewayError::UpstreamBody(e.to_string()))?
        .to_bytes();
    let usage = serde_json::from_slice::<UsageOnly>(&bytes)
        .ok()
        .and_then(|u| u.usage);
    let bytes = match rename.and_then(|r| r.apply(&bytes)) {
        Some(renamed) => Bytes::from(renamed),
        None => bytes,
    };
    Ok((bytes, usage))
}

/// A whole answer through the request's answer filter, if it has one.
pub fn filter_whole(bytes: Bytes, filter: Option<&mut AnswerFilter>) -> Bytes {
    match filter.and_then(|filter| filter.whole(&bytes)) {
        Some(rewritten) => Bytes::from(rewritten),
        None => bytes,
    }
}

/// How a relayed stream ended, reported once to the meter.
#[derive(Debug, Clone)]
pub struct StreamOutcome {
    pub usage: Option<Usage>,
    pub first_byte: Option<Instant>,
    /// `None` when the stream completed with `[DONE]`.
    pub error_code: Option<&'static str>,
    /// The completion text relayed, when asked for with [`RelayStream::keeping_completion`].
    pub completion: Option<String>,
}

/// The relayed stream: yields the caller's bytes and calls `on_end` exactly once when it finishes,
/// fails, or is dropped because the caller went away.
pub struct RelayStream<F: FnOnce(StreamOutcome) + Send + 'static> {
    upstream: Incoming,
    pending: BytesMut,
    drop_usage_chunk: bool,
    rename: Option<Arc<ModelRename>>,
    answer: Option<AnswerFilter>,
    /// The completion relayed so far, when the request's content is kept.
    completion: Option<String>,
    usage: Option<Usage>,
    first_byte: Option<Instant>,
    saw_done: bool,
    finished: bool,
    on_end: Option<F>,
}

impl<F: FnOnce(StreamOutcome) + Send + 'static> RelayStream<F> {
    pub fn new(
        upstream: Incoming,
        drop_usage_chunk: bool,
        rename: Option<Arc<ModelRename>>,
        on_end: F,
    ) -> Self {
        RelayStream {
            upstream,
            pending: BytesMut::new(),
            drop_usage_chunk,
            rename,
            answer: None,
            completion: None,
            usage: None,
            first_byte: None,
            saw_done: false,
            finished: false,
            on_end: Some(on_end),
        }
    }

    /// Sends every event's texts through `filter` (when the request has one).
    pub fn with_answer_filter(mut self, filter: Option<AnswerFilter>) -> Self {
        self.answer = filter;
        self
    }

    /// Gathers the completion text the caller receives, for content retention.
    pub fn keeping_completion(mut self, keep: bool) -> Self {
        self.completion = keep.then(String::new);
        self
    }

    fn end(&mut self, error_code: Option<&'static str>) {
        self.finished = true;
        if let Some(on_end) = self.on_end.take() {
            on_end(StreamOutcome {
                usage: self.usage,
                first_byte: self.first_byte,
                error_code,
                completion: self.completion.take(),
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
        {
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
                        note_completion(completion, &out[before..]);
                        note_completion(completion, event);
                    }
                    match self.rename.as_ref().and_then(|r| r.apply(event)) {
                        Some(renamed) => out.extend_from_slice(&renamed),
                        None => out.extend_from_slice(event),
                    }
                }
                EventAction::Drop => {}
            }
        }
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

/// The texts of one relayed event (as the caller receives it), appended to `completion`.
fn note_completion(completion: &mut String, event: &[u8]) {
    if let Some(data) = wire::sse::data_of(event) {
        crate::capture::append_texts(completion, &data);
    }
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
                    this.pending.extend_from_slice(&data);
                    if let Some(out) = this.complete_events()
                        && !out.is_empty()
                    {
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
                        this.end(None);
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
    fn rename_rewrites_compact_and_spaced_forms() {
        let r = ModelRename::new("org/Model-7B", "mistral-small").unwrap();
        assert_eq!(
            r.apply(br#"{"id":"x","model":"org/Model-7B"}"#).unwrap(),
            br#"{"id":"x","model":"mistral-small"}"#
        );
        assert_eq!(
            r.apply(br#"{"model": "org/Model-7B"}"#).unwrap(),
            br#"{"model":"mistral-small"}"#
        );
        assert!(r.apply(br#"{"model":"other"}"#).is_none());
        assert!(ModelRename::new("same", "same").is_none());
    }

    #[test]
    fn finds_the_end_of_the_last_complete_event() {
        assert_eq!(last_event_end(b"data: a\n\ndata: b\n\ndata: c"), Some(18));
        assert_eq!(last_event_end(b"data: a"), None);
    }
}
