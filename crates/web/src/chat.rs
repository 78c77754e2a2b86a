//! `POST /chat/send`: a question and its conversation become a chat completion request sent
//! through the inference API's own routes, in process, as the person signed in: the same
//! pipeline as any API client (authentication, seats, authorization, classification, data
//! policy, admission, fair scheduling, metering, audit), and the same single exit. The streamed
//! answer comes back to the browser as server-sent events:
//!
//! - `conversation` — `{"id"}` first, when the person's conversations are kept: the one the
//!   question and its answer are kept in (told at once: the question is written while the
//!   gateway answers, the answer after it, before `done`);
//! - `notice` — `{"text"}` when the data policy pseudonymized or redacted personal data
//!   before sending: the kinds and counts the gateway told (`x-fabrique-personal-data`), never
//!   the values;
//! - `citations` — `{"html"}` when a library was asked: the documents and pages of the passages
//!   the answer was given, numbered as it cites them;
//! - `answer` — `{"settled", "open", "delta"}`, rendered and sanitized (`markdown::Streamed`):
//!   the HTML of the blocks this chunk closed, which the page appends to the answer's and which
//!   are never sent again, the HTML of the block still open, which replaces the previous one (so
//!   a long answer costs its length, not its square), and the raw text added, which the page keeps
//!   to copy the answer and, when nothing is kept, to send the conversation back with the next
//!   question;
//! - `rendered` — `{"html"}` at the answer's end when it defines link references or footnotes,
//!   which the blocks rendered apart could not see: the whole answer rendered and sanitized
//!   again, to replace what the page shows (`markdown::Streamed::finish`), so the page ends
//!   showing what the conversation reopened shows;
//! - `done` — `{"request_id", "prompt_tokens", "completion_tokens"}` once the answer is complete;
//! - `refused` — `{"html"}` when the request was refused, saying why in the person's language;
//!   also, just before `done`, when the gateway's stream ended with an error event (an
//!   assistant's structured answer that broke its output schema).
//!
//! The page sends the question alone when it continues a kept conversation: its history is read
//! from the store, through the one ownership check, before the question's position (an answer
//! regenerated or a question edited replaces the end), so a long conversation's page need not
//! hold its text twice. When nothing is kept, the page sends the conversation it holds. Either
//! way the gateway is given the question and as much of the conversation before it as the
//! model's context takes (`prompt`: the newest messages; a question alone longer than the
//! context is refused, 413, with both sizes), and its data policy reads all of what is sent.
//!
//! Stopping is closing the connection: the gateway sees its stream cut and charges what was
//! generated, like any client's.

use std::sync::Arc;

use axum::body::{Body, BodyDataStream};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt as _;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use maud::html;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use wire::models::{ModelCard, ModelList};

use crate::conversations::{Action, Keeper, Message, Opened};
use crate::csrf::TOKEN_HEADER;
use crate::lang::Lang;
use crate::prompt::{self, MAX_ASK_BYTES, Window};
use crate::text::Text;
use crate::visitor::{Person, Visitor};
use crate::{Web, markdown};

/// The gateway's header telling what the data policy hid from the model
/// (`gateway::PERSONAL_DATA_HEADER`; the web depends on no other surface, so it is named here).
const PERSONAL_DATA_HEADER: &str = "x-fabrique-personal-data";
/// The request header labelling a request's classification (the gateway's, named here likewise).
const CLASSIFICATION_HEADER: &str = "x-fabrique-classification";

/// What the page sends: the model and the question. Continuing a kept conversation, only the
/// question: its history is read from the store. Otherwise the whole conversation the page holds,
/// the question last.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Ask {
    model: String,
    messages: Vec<Turn>,
    /// The conversation's classification, a level name; the gateway only ever raises with it.
    #[serde(default)]
    level: Option<String>,
    /// The kept conversation this question continues, when the person's conversations are kept.
    #[serde(default)]
    conversation: Option<String>,
    /// How many of the kept conversation's messages come before the question: fewer than it
    /// holds when an answer is regenerated or a question edited; all of them when absent.
    #[serde(default)]
    position: Option<usize>,
    /// The variables of the assistant asked (`usecase/<slug>`), passed to its template.
    #[serde(default)]
    variables: Option<serde_json::Map<String, Value>>,
    /// The knowledge library asked ("ask this library"): its id.
    #[serde(default)]
    library: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Turn {
    role: Speaker,
    content: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Speaker {
    User,
    Assistant,
}

/// `POST /chat/send`.
pub(crate) async fn send(State(web): State<Arc<Web>>, headers: HeaderMap, body: Bytes) -> Response {
    let visitor = Visitor::of(&web, &headers).await;
    if let Some(refused) = refusal_unless_signed_in_and_unforged(&web, &visitor, &headers) {
        return refused;
    }
    let ask: Ask = match (body.len() <= MAX_ASK_BYTES)
        .then(|| serde_json::from_slice(&body).ok())
        .flatten()
    {
        Some(ask) => ask,
        None => return plain(StatusCode::BAD_REQUEST, Text::BadQuestion.in_(visitor.lang)),
    };
    let context = web.inference.context_of(&headers, &ask.model).await;
    let question = ask.messages.last().map_or("", |turn| turn.content.as_str());
    let window = match Window::before(question, context) {
        Ok(window) => window,
        Err(too_long) => {
            let refused = too_long.refusal(Text::QuestionTooLong, visitor.lang);
            return visitor.respond(&web, refused);
        }
    };
    let place = ask.answer_place();
    let (ask, keep) = match keep_question(&web, &visitor, ask, window).await {
        Ok(asked) => asked,
        Err(refused) => return refused,
    };
    let answer = web.inference.ask(&headers, &ask).await;
    visitor.respond(&web, relay(answer, visitor.lang, keep, place))
}

impl Ask {
    /// The answer's place in the conversation the page shows, which names its footnotes: right
    /// after the question, at `position` when a kept conversation is continued, else the last of
    /// the messages sent.
    fn answer_place(&self) -> usize {
        match (&self.conversation, self.position) {
            (Some(_), Some(position)) => position + 1,
            _ => self.messages.len(),
        }
    }
}

/// The question with as much of its conversation as fits `window` as the prompt (`prompt`),
/// and where it is kept when the person's conversations are kept. The question is written while
/// the gateway answers, off the path to the first token; the answer after it.
async fn keep_question(
    web: &Web,
    visitor: &Visitor,
    mut ask: Ask,
    window: Window,
) -> Result<(Ask, Option<Keep>), Response> {
    let kept = match (&web.keeper, &visitor.person) {
        (Some(keeper), Some(person)) if keeper.keeps(person) => Some((keeper, person)),
        _ => None,
    };
    match (kept, ask.conversation.clone()) {
        (None, None) => {
            cut(&mut ask.messages, window);
            Ok((ask, None))
        }
        (Some((keeper, person)), None) => Ok(start(keeper, person, ask, window).await),
        (Some((keeper, person)), Some(id)) => {
            resume(keeper, person, &id, ask, window, visitor.lang).await
        }
        (None, Some(_)) => Err(not_found(visitor.lang)),
    }
}

/// The conversation the page sent, cut to the question and the newest messages before it that
/// fit `window`, from a question on.
fn cut(messages: &mut Vec<Turn>, mut window: Window) {
    let Some(question) = messages.pop() else {
        return;
    };
    let fit = messages
        .iter()
        .rev()
        .take_while(|turn| window.takes(&turn.content))
        .count();
    messages.drain(..messages.len() - fit);
    prompt::from_a_question(messages, |turn| matches!(turn.role, Speaker::User));
    messages.push(question);
}

/// The question continuing the kept conversation `id`, found through the one ownership check
/// (another person's is not found): its history before the question's position, as much as fits
/// `window`, read from the store.
async fn resume(
    keeper: &Keeper,
    person: &Person,
    id: &str,
    mut ask: Ask,
    window: Window,
    lang: Lang,
) -> Result<(Ask, Option<Keep>), Response> {
    let Some(opened) = keeper.owned(person, id, Action::Continue).await else {
        return Err(not_found(lang));
    };
    let (Some(question), true) = (ask.messages.pop(), ask.messages.is_empty()) else {
        return Err(plain(StatusCode::BAD_REQUEST, Text::BadQuestion.in_(lang)));
    };
    let before = ask.position.unwrap_or(usize::MAX);
    let Some((history, position)) = keeper.history(&opened, before, window).await else {
        let unreadable = Text::ConversationUnreadable.in_(lang);
        return Err(plain(StatusCode::SERVICE_UNAVAILABLE, unreadable));
    };
    let asked = [message(&question)];
    ask.messages = history.into_iter().filter_map(turn).collect();
    ask.messages.push(question);
    let (writer, id) = (keeper.clone(), opened.stored.id.clone());
    let question = tokio::spawn(async move {
        let written = writer.write(&opened, position, &asked).await;
        written.then_some(opened)
    });
    Ok((ask, Some(Keep::after(keeper, id, question, position + 1))))
}

/// A new conversation kept with the conversation the page sent (its first question, or what the
/// page held when it could not be kept before), all of it; the prompt cut to `window`.
async fn start(
    keeper: &Keeper,
    person: &Person,
    mut ask: Ask,
    window: Window,
) -> (Ask, Option<Keep>) {
    let Some(question) = ask.messages.last() else {
        return (ask, None);
    };
    let Some(opened) = keeper.new_conversation(person, &question.content).await else {
        cut(&mut ask.messages, window);
        return (ask, None);
    };
    let first: Vec<Message> = ask.messages.iter().map(message).collect();
    cut(&mut ask.messages, window);
    let position = first.len();
    let (writer, id) = (keeper.clone(), opened.stored.id.clone());
    let question =
        tokio::spawn(async move { writer.create(&opened, &first).await.then_some(opened) });
    (ask, Some(Keep::after(keeper, id, question, position)))
}

/// A turn of the page's as a message to keep.
fn message(turn: &Turn) -> Message {
    let role = match turn.role {
        Speaker::User => "user",
        Speaker::Assistant => "assistant",
    };
    Message {
        role: role.to_owned(),
        text: turn.content.clone(),
        request_id: None,
    }
}

/// A kept message as a turn of the prompt.
fn turn(message: Message) -> Option<Turn> {
    let role = match message.role.as_str() {
        "user" => Speaker::User,
        "assistant" => Speaker::Assistant,
        _ => return None,
    };
    Some(Turn {
        role,
        content: message.text,
    })
}

/// Where an answer is kept: its conversation and position, once its question is.
struct Keep {
    keeper: Keeper,
    /// The conversation's id, told to the page before the question's write is done.
    id: String,
    /// The question's write: the conversation when it was kept.
    question: tokio::task::JoinHandle<Option<Opened>>,
    position: usize,
}

impl Keep {
    fn after(
        keeper: &Keeper,
        id: String,
        question: tokio::task::JoinHandle<Option<Opened>>,
        position: usize,
    ) -> Keep {
        Keep {
            keeper: keeper.clone(),
            id,
            question,
            position,
        }
    }

    /// Keeps the answer after its question; not when the question could not be kept (the
    /// conversation would have a hole).
    async fn answer(self, text: String, request_id: Option<String>) {
        let Ok(Some(opened)) = self.question.await else {
            return;
        };
        let answer = Message {
            role: "assistant".to_owned(),
            text,
            request_id,
        };
        self.keeper.write(&opened, self.position, &[answer]).await;
    }
}

fn not_found(lang: Lang) -> Response {
    plain(StatusCode::NOT_FOUND, browser::Common::NotFound.in_(lang))
}

/// A verdict on an answer, as the page sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Verdict {
    request_id: String,
    rating: String,
    #[serde(default)]
    comment: Option<String>,
    /// The kept conversation holding the answer, when the person's conversations are kept.
    #[serde(default)]
    conversation: Option<String>,
}

/// `POST /chat/feedback`: thumbs up or down on an answer (`{"request_id", "rating", "comment",
/// "conversation"}`). When the person's conversations are kept, the answer must be in one of
/// theirs, found through the one ownership check. The verdict is then given to the inference
/// API's `/v1/feedback` as the person signed in, so it is stored against the answer's usage
/// record (and the use-case version that answered) like any caller's.
pub(crate) async fn feedback(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let visitor = Visitor::of(&web, &headers).await;
    if let Some(refused) = refusal_unless_signed_in_and_unforged(&web, &visitor, &headers) {
        return refused;
    }
    let Ok(verdict) = serde_json::from_slice::<Verdict>(&body) else {
        return plain(StatusCode::BAD_REQUEST, Text::BadQuestion.in_(visitor.lang));
    };
    let kept = match (&web.keeper, &visitor.person) {
        (Some(keeper), Some(person)) if keeper.keeps(person) => Some((keeper, person)),
        _ => None,
    };
    if let Some((keeper, person)) = kept {
        let id = verdict.conversation.as_deref().unwrap_or_default();
        let opened = keeper.owned(person, id, Action::Feedback).await;
        let answered = match &opened {
            Some(opened) => keeper.answered(opened, &verdict.request_id).await,
            None => false,
        };
        if !answered {
            return not_found(visitor.lang);
        }
    }
    let given = json!({
        "request_id": verdict.request_id,
        "rating": verdict.rating,
        "comment": verdict.comment,
    });
    let given = web
        .inference
        .call(
            &headers,
            http::Method::POST,
            "/v1/feedback",
            Body::from(given.to_string()),
        )
        .await;
    visitor.respond(&web, given)
}

/// The scripts' state changes need a person signed in and this browser's token (header
/// `x-csrf-token`) from the chat's own origin: the refusal when they are not.
pub(crate) fn refusal_unless_signed_in_and_unforged(
    web: &Web,
    visitor: &Visitor,
    headers: &HeaderMap,
) -> Option<Response> {
    if visitor.person.is_none() {
        let signed_out = Text::SignInRefused.in_(visitor.lang);
        return Some(plain(StatusCode::UNAUTHORIZED, signed_out));
    }
    let token = headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok());
    let forged = visitor.check(web, headers, token).is_err();
    forged.then(|| {
        plain(
            StatusCode::FORBIDDEN,
            browser::Common::ForgedRequest.in_(visitor.lang),
        )
    })
}

/// The gateway's routes, called in process.
#[derive(Clone)]
pub(crate) struct Inference(pub axum::Router);

impl std::fmt::Debug for Inference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inference")
    }
}

impl Inference {
    /// Calls `method path` of the inference API with the browser's cookies (its session), so the
    /// gateway authenticates the person itself.
    pub(crate) async fn call(
        &self,
        browser: &HeaderMap,
        method: http::Method,
        path: &str,
        body: Body,
    ) -> Response {
        self.call_labelled(browser, method, path, body, None).await
    }

    /// [`Inference::call`], with the conversation's classification when it has one.
    async fn call_labelled(
        &self,
        browser: &HeaderMap,
        method: http::Method,
        path: &str,
        body: Body,
        level: Option<&str>,
    ) -> Response {
        let mut request = http::Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = http::Uri::try_from(path).unwrap_or_default();
        let headers = request.headers_mut();
        for cookie in browser.get_all(header::COOKIE) {
            headers.append(header::COOKIE, cookie.clone());
        }
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(level) = level.and_then(|l| HeaderValue::from_str(l).ok()) {
            headers.insert(CLASSIFICATION_HEADER, level);
        }
        match self.0.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    /// The chat models the person may use, as `GET /v1/models` lists them for their session:
    /// each with where it runs and the highest classification it accepts.
    pub(crate) async fn chat_models(&self, browser: &HeaderMap) -> Vec<ModelCard> {
        let response = self
            .call(browser, http::Method::GET, "/v1/models", Body::empty())
            .await;
        if !response.status().is_success() {
            return Vec::new();
        }
        let body = axum::body::to_bytes(response.into_body(), 1024 * 1024)
            .await
            .unwrap_or_default();
        let Ok(list) = serde_json::from_slice::<ModelList>(&body) else {
            return Vec::new();
        };
        list.data
            .into_iter()
            .filter(|card| card.kind.as_deref().is_none_or(|kind| kind == "chat"))
            .collect()
    }

    /// The context length of `model` as `GET /v1/models` tells it for the person; `None` when the
    /// model has none configured or is not listed.
    pub(crate) async fn context_of(&self, browser: &HeaderMap, model: &str) -> Option<u32> {
        let models = self.chat_models(browser).await;
        let card = models.into_iter().find(|card| card.id == model)?;
        card.max_context_length
    }

    async fn ask(&self, browser: &HeaderMap, ask: &Ask) -> Response {
        let mut body = json!({
            "model": ask.model,
            "messages": ask.messages,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        if let Some(variables) = ask.variables.as_ref().filter(|v| !v.is_empty()) {
            body["fabrique"]["variables"] = json!(variables);
        }
        if let Some(library) = ask.library.as_ref().filter(|l| !l.is_empty()) {
            body["fabrique"]["libraries"] = json!([library]);
        }
        let path = domain::Operation::Chat.public_path();
        let body = Body::from(body.to_string());
        self.call_labelled(
            browser,
            http::Method::POST,
            path,
            body,
            ask.level.as_deref(),
        )
        .await
    }
}

/// The gateway's answer as the page's events.
fn relay(answer: Response, lang: Lang, keep: Option<Keep>, place: usize) -> Response {
    let request_id = answer
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let notice = answer
        .headers()
        .get(PERSONAL_DATA_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|told| Ok(event("notice", &json!({"text": notice(told, lang)}))));
    let kept = keep
        .as_ref()
        .map(|keep| Ok(event("conversation", &json!({"id": keep.id}))));
    let sources = answer
        .extensions()
        .get::<knowledge::Cited>()
        .map(|cited| Ok(event("citations", &json!({"html": citations(cited, lang)}))));
    let events = match answer.status().is_success() {
        true => {
            let upstream = answer.into_body().into_data_stream();
            Relay::events(upstream, request_id, keep, lang, place).boxed()
        }
        false => futures_util::stream::once(refusal(answer, lang)).boxed(),
    };
    let told = kept.into_iter().chain(notice).chain(sources);
    let events = futures_util::stream::iter(told).chain(events);
    let mut response = Body::from_stream(events).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    response
}

/// The passages an answer was given from a library, as the page shows them under it: each
/// document's name and page, numbered as the answer cites them (`[1]`).
fn citations(cited: &knowledge::Cited, lang: Lang) -> String {
    let fragment = html! {
        details.citations {
            summary { (Text::Sources.in_(lang)) }
            ol {
                @for hit in cited.0.iter() {
                    li { (hit.title) ", " (Text::Page.in_(lang)) " " (hit.page) }
                }
            }
        }
    };
    fragment.into_string()
}

/// The notice of what the gateway hid, in the person's language:
/// `pseudonymized IBAN=2 EMAIL=1; redacted PHONE_FR=1` → `2 IBAN, 1 EMAIL pseudonymized before
/// sending; 1 PHONE_FR redacted before sending`.
fn notice(told: &str, lang: Lang) -> String {
    told.split(';')
        .filter_map(|part| {
            let mut words = part.split_whitespace();
            let action = match words.next()? {
                "pseudonymized" => Text::Pseudonymized,
                "redacted" => Text::Redacted,
                _ => return None,
            };
            let counts: Vec<String> = words
                .filter_map(|word| word.split_once('='))
                .map(|(kind, count)| format!("{count} {kind}"))
                .collect();
            Some(format!("{} {}", counts.join(", "), action.in_(lang)))
        })
        .collect::<Vec<_>>()
        .join(" ; ")
}

/// The `refused` event of a refused request: the gateway's reason, in a sentence.
async fn refusal(answer: Response, lang: Lang) -> Result<Bytes, std::convert::Infallible> {
    let body = axum::body::to_bytes(answer.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let error: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Ok(refused(&error, lang))
}

/// The `refused` event for the gateway's error `{"error": {"code", "message"}}`.
fn refused(error: &Value, lang: Lang) -> Bytes {
    let message = error["error"]["message"].as_str().unwrap_or_default();
    let headline = match error["error"]["code"].as_str() {
        Some("classification_not_permitted") => Text::NoClearedModel,
        Some("context_length_exceeded") => Text::TooLongForModel,
        Some("output_schema_violation") => Text::BrokeSchema,
        _ => Text::Refused,
    };
    let fragment = html! {
        p.error role="alert" { (headline.in_(lang)) }
        p { (message) }
    };
    event("refused", &json!({"html": fragment.into_string()}))
}

/// Reads the gateway's stream and makes the page's events, one per chunk read.
struct Relay {
    upstream: BodyDataStream,
    buffer: Vec<u8>,
    answer: markdown::Streamed,
    usage: Value,
    request_id: Option<String>,
    finished: bool,
    /// Where the answer is kept, until it is.
    keep: Option<Keep>,
    /// The error event the stream ended with, if any.
    error: Option<Value>,
    lang: Lang,
}

impl Drop for Relay {
    /// A stopped answer is kept as far as it went.
    fn drop(&mut self) {
        if let Some(keep) = self.keep.take().filter(|_| !self.answer.text().is_empty()) {
            let text = self.answer.take_text();
            tokio::spawn(keep.answer(text, self.request_id.take()));
        }
    }
}

impl Relay {
    /// The page's events made from the gateway's stream `upstream`, the answer at `place` in its
    /// conversation.
    fn events(
        upstream: BodyDataStream,
        request_id: Option<String>,
        keep: Option<Keep>,
        lang: Lang,
        place: usize,
    ) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
        let relay = Relay {
            upstream,
            buffer: Vec::new(),
            answer: markdown::Streamed::new(place),
            usage: Value::Null,
            request_id,
            finished: false,
            keep,
            error: None,
            lang,
        };
        futures_util::stream::unfold(relay, |mut relay| async move {
            let event = relay.next_event().await?;
            Some((Ok(event), relay))
        })
    }

    async fn next_event(&mut self) -> Option<Bytes> {
        if self.finished {
            return None;
        }
        loop {
            let Some(Ok(chunk)) = self.upstream.next().await else {
                return Some(self.done().await);
            };
            self.buffer.extend_from_slice(&chunk);
            let (delta, ended) = self.take_events();
            if ended {
                // Read the gateway's stream to its end, so it meters a complete answer (and a
                // structured one's check), not a disconnection.
                while let Some(Ok(_)) = self.upstream.next().await {}
                return Some(self.done().await);
            }
            if !delta.is_empty() {
                let grown = self.answer.push(&delta);
                let answer = json!({"settled": grown.settled, "open": grown.open, "delta": delta});
                return Some(event("answer", &answer));
            }
        }
    }

    /// Consumes the complete events buffered: the text they add, and whether the stream ended.
    fn take_events(&mut self) -> (String, bool) {
        let mut delta = String::new();
        let mut ended = false;
        let (events, consumed) = wire::sse::split_events(&self.buffer);
        for data in events.into_iter().filter_map(wire::sse::data) {
            if &*data == b"[DONE]" {
                ended = true;
                continue;
            }
            let Ok(chunk) = serde_json::from_slice::<Value>(&data) else {
                continue;
            };
            if let Some(content) = chunk["choices"][0]["delta"]["content"].as_str() {
                delta.push_str(content);
            }
            if chunk["usage"].is_object() {
                self.usage = chunk["usage"].clone();
            }
            if chunk["error"].is_object() {
                self.error = Some(chunk);
            }
        }
        self.buffer.drain(..consumed);
        (delta, ended)
    }

    /// The `done` event, once the answer is kept (so the conversation, opened again, has it);
    /// after the `rendered` event of an answer rendered whole again, and the `refused` event of
    /// the error the stream ended with, if any.
    async fn done(&mut self) -> Bytes {
        self.finished = true;
        if let Some(keep) = self.keep.take() {
            let text = self.answer.text().to_owned();
            keep.answer(text, self.request_id.clone()).await;
        }
        let rendered = self.answer.finish();
        let rendered = rendered.map(|html| event("rendered", &json!({"html": html})));
        let refused = self.error.as_ref().map(|error| refused(error, self.lang));
        let done = event(
            "done",
            &json!({
                "request_id": self.request_id,
                "prompt_tokens": self.usage["prompt_tokens"],
                "completion_tokens": self.usage["completion_tokens"],
            }),
        );
        let told: Vec<Bytes> = rendered.into_iter().chain(refused).chain([done]).collect();
        told.concat().into()
    }
}

/// One server-sent event.
fn event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

fn plain(status: StatusCode, message: &str) -> Response {
    (status, message.to_owned()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_names_kinds_and_counts_in_the_persons_language() {
        let told = "pseudonymized IBAN=2 EMAIL=1; redacted PHONE_FR=1";
        assert_eq!(
            notice(told, Lang::En),
            "2 IBAN, 1 EMAIL pseudonymized before sending ; 1 PHONE_FR redacted before sending"
        );
        assert!(notice(told, Lang::Fr).starts_with("2 IBAN, 1 EMAIL pseudonymisé"));
        assert_eq!(notice("shouted X=1", Lang::En), "");
    }
}
