//! Knowledge libraries in the server: the embedded index under the data directory, embeddings
//! asked of the gateway's own pipeline, and the chat completions extension that names libraries.
//!
//! **Embeddings** ([`Embeddings`]) go through `gateway::infer` in-process, with the caller's own
//! credentials (so they are metered and budgeted to the person or key that uploads or asks), at
//! `batch` priority when ingesting, labelled with the library's classification (so only cleared
//! endpoints see the text). So does **reranking** ([`Reranking`], `[libraries] reranker`): the
//! question and the search's candidates, to `/v1/rerank`, as the person who asks.
//!
//! **The extension** ([`ask_libraries`], a layer over the inference router): a chat completion
//! whose body says `"fabrique": {"libraries": ["lib_…"]}` is answered from those libraries. The
//! caller must be able to read each (Cedar, `admin::may_read_library`; else 404
//! `library_not_found`, as for a missing one); the passages they may read (permissions inside the
//! search) are put before the conversation as a system message numbered `[1]…`, the request's
//! classification is raised to the highest of the libraries', and the answer carries its
//! citations — `fabrique.citations` (library, document, name, page, text) in a JSON answer, the
//! `x-fabrique-citations` header (`document:page`, comma-separated) on a stream, and
//! `knowledge::Cited` in the response's extensions for the web chat in process. Each such
//! request is audited as `library.ask` once answered: the libraries searched, the documents and
//! pages its passages came from, the request's id and status — never the question or the text.
//! Requests without the field pass untouched, read once for a byte search.
//!
//! **The web chat's "ask this library"** lists the libraries a person may read ([`Shelf`]) and
//! sends the one chosen through the same extension.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use domain::{Operation, Priority};
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::BodyExt as _;
use identity::Directory;
use knowledge::{Embedder, Hit, Libraries, Reader, Reranker, Urgency};
use serde_json::{Value, json};
use wire::ErrorType;

/// The classification header the gateway's classify stage reads.
const CLASSIFICATION_HEADER: &str = "x-fabrique-classification";
/// The most libraries one request may name.
const MAX_LIBRARIES: usize = 8;
/// Passages put before the conversation.
const PASSAGES: usize = 8;

/// Embeddings through the gateway's pipeline (see the module's docs).
pub struct Embeddings {
    pub gateway: Arc<gateway::Gateway>,
}

#[async_trait::async_trait]
impl Embedder for Embeddings {
    async fn embed(
        &self,
        credentials: &HeaderMap,
        model: &str,
        classification: &str,
        urgency: Urgency,
        texts: Vec<String>,
    ) -> Result<Vec<Vec<f32>>, String> {
        let body = json!({"model": model, "input": texts});
        let asked = OnBehalf {
            credentials,
            classification,
            urgency,
        };
        let value = asked
            .call(&self.gateway, Operation::Embeddings, body)
            .await?;
        let data = value["data"]
            .as_array()
            .ok_or("an embeddings answer without `data`")?;
        data.iter()
            .map(|item| {
                item["embedding"]
                    .as_array()
                    .map(|v| {
                        v.iter()
                            .filter_map(Value::as_f64)
                            .map(|x| x as f32)
                            .collect()
                    })
                    .ok_or_else(|| "an embedding that is not a list of numbers".to_owned())
            })
            .collect()
    }
}

/// Reranking through the gateway's pipeline (see the module's docs).
pub struct Reranking {
    pub gateway: Arc<gateway::Gateway>,
}

#[async_trait::async_trait]
impl Reranker for Reranking {
    async fn rerank(
        &self,
        credentials: &HeaderMap,
        model: &str,
        classification: &str,
        query: &str,
        documents: Vec<String>,
        top_n: usize,
    ) -> Result<Vec<(usize, f64)>, String> {
        let body = json!({
            "model": model, "query": query, "documents": documents, "top_n": top_n,
            "return_documents": false,
        });
        let asked = OnBehalf {
            credentials,
            classification,
            urgency: Urgency::Caller,
        };
        let value = asked.call(&self.gateway, Operation::Rerank, body).await?;
        let results = value["results"]
            .as_array()
            .ok_or("a rerank answer without `results`")?;
        results
            .iter()
            .map(|result| {
                let index = result["index"]
                    .as_u64()
                    .and_then(|i| usize::try_from(i).ok());
                let score = result["relevance_score"].as_f64();
                index.zip(score).ok_or_else(|| {
                    "a rerank result without `index` or `relevance_score`".to_owned()
                })
            })
            .collect()
    }
}

/// How a library's request is asked of the gateway: as whom, labelled how, how urgently.
struct OnBehalf<'a> {
    credentials: &'a HeaderMap,
    classification: &'a str,
    urgency: Urgency,
}

impl OnBehalf<'_> {
    /// `body` through the pipeline as `operation`; the answer's JSON, or the refusal's status
    /// and message.
    async fn call(
        &self,
        gateway: &Arc<gateway::Gateway>,
        operation: Operation,
        body: Value,
    ) -> Result<Value, String> {
        let mut request = http::Request::post(operation.public_path())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(CLASSIFICATION_HEADER, self.classification);
        if self.urgency == Urgency::Batch {
            request = request.header("x-fabrique-priority", Priority::Batch.as_str());
        }
        for (name, value) in self.credentials {
            request = request.header(name, value);
        }
        let request = request
            .body(Body::from(body.to_string()))
            .map_err(|e| e.to_string())?;
        let response = gateway::infer(gateway, operation, request).await;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            let message = value["error"]["message"].as_str().unwrap_or("no message");
            return Err(format!("{status}: {message}"));
        }
        Ok(value)
    }
}

/// The libraries a person may ask in the web chat (`web::Shelf`): those Cedar lets them read.
pub struct Shelf {
    pub libraries: Arc<Libraries>,
    pub directory: Arc<Directory>,
}

impl web::Shelf for Shelf {
    fn readable(&self, principal: &identity::Principal) -> Vec<(String, String)> {
        let mut readable: Vec<(String, String)> = self
            .libraries
            .all()
            .into_iter()
            .filter(|library| admin::may_read_library(principal, &self.directory, library))
            .map(|library| (library.id, library.name))
            .collect();
        readable.sort_by(|a, b| a.1.cmp(&b.1));
        readable
    }
}

/// What the extension needs.
#[derive(Clone)]
pub struct LibraryChat {
    pub libraries: Arc<Libraries>,
    pub directory: Arc<Directory>,
    pub sign_in: Option<Arc<dyn access::SignIn>>,
    pub ladder: domain::ClassificationLadder,
    pub max_body_bytes: usize,
    /// Where `library.ask` events leave the request path.
    pub audit: usage::AuditSink,
}

/// The layer over the inference router (see the module's docs).
pub async fn ask_libraries(
    State(chat): State<LibraryChat>,
    request: Request,
    next: Next,
) -> Response {
    let is_chat = request.method() == http::Method::POST
        && request.uri().path() == Operation::Chat.public_path();
    if !is_chat {
        return next.run(request).await;
    }
    // A body larger than the gateway takes is the gateway's to refuse, metered and audited.
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|length| length > chat.max_body_bytes) {
        return next.run(request).await;
    }
    // Refused here, before the pipeline, an answer still carries a request id.
    let id = gateway::client_request_id(request.headers()).unwrap_or_else(gateway::request_id);
    let identified = |mut refusal: Response| {
        refusal.headers_mut().insert("x-request-id", id.clone());
        refusal
    };
    let (parts, body) = request.into_parts();
    let bytes = match http_body_util::Limited::new(body, chat.max_body_bytes)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            let message = format!(
                "the request body is larger than {} bytes",
                chat.max_body_bytes
            );
            return identified(gateway::json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorType::InvalidRequest,
                "request_too_large",
                message,
            ));
        }
    };
    let named = memchr::memmem::find(&bytes, b"\"libraries\"").is_some();
    let parsed: Option<Value> = named.then(|| serde_json::from_slice(&bytes).ok()).flatten();
    let Some(mut body) = parsed.filter(|b| b["fabrique"]["libraries"].is_array()) else {
        return next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
    };
    let mut parts = parts;
    match prepare(&chat, &mut parts.headers, &mut body).await {
        Ok(asked) => {
            let request = Request::from_parts(parts, Body::from(body.to_string()));
            let response = next.run(request).await;
            audit_ask(&chat.audit, &asked, &response);
            cite(response, &asked.hits).await
        }
        Err(refusal) => identified(refusal),
    }
}

/// What a request asked of libraries: who, which, and the passages found.
struct Asked {
    principal: Arc<identity::Principal>,
    libraries: Vec<String>,
    hits: Vec<Hit>,
}

/// The `library.ask` event of an answered request (see the module's docs).
fn audit_ask(audit: &usage::AuditSink, asked: &Asked, response: &Response) {
    let mut documents: Vec<Value> = Vec::new();
    for hit in &asked.hits {
        let cited = json!({"library": hit.library, "document": hit.document, "page": hit.page});
        if !documents.contains(&cited) {
            documents.push(cited);
        }
    }
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok());
    let event = domain::AuditEvent {
        at: domain::now_millis(),
        actor: asked.principal.actor(),
        action: domain::AuditAction::LibraryAsk,
        entity_id: asked.principal.entity_id,
        target: asked.libraries.join(","),
        outcome: domain::Outcome::Success,
        detail: json!({
            "request_id": request_id,
            "status": response.status().as_u16(),
            "libraries": asked.libraries,
            "documents": documents,
        })
        .to_string(),
    };
    // A loss is counted and logged by the sink.
    audit.record(event);
}

/// Checks the libraries named, searches them, and rewrites the request: the passages before the
/// conversation, the classification raised, the extension field gone.
async fn prepare(
    chat: &LibraryChat,
    headers: &mut HeaderMap,
    body: &mut Value,
) -> Result<Asked, Response> {
    let invalid = |message: String| {
        gateway::json_error(
            StatusCode::BAD_REQUEST,
            ErrorType::InvalidRequest,
            "invalid_request",
            message,
        )
    };
    let ids: Vec<String> = body["fabrique"]["libraries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v.as_str().map(str::to_owned))
        .collect::<Option<_>>()
        .ok_or_else(|| invalid("`fabrique.libraries` must be a list of library ids".into()))?;
    if ids.is_empty() || ids.len() > MAX_LIBRARIES {
        return Err(invalid(format!(
            "`fabrique.libraries` names 1 to {MAX_LIBRARIES} libraries"
        )));
    }
    let principal = access::authenticate(
        &chat.directory,
        chat.sign_in.as_deref(),
        headers,
        access::SessionCookie::Accepted,
    )
    .await
    .map_err(|_| {
        gateway::json_error(
            StatusCode::UNAUTHORIZED,
            ErrorType::Authentication,
            "invalid_api_key",
            "invalid or missing credentials",
        )
    })?;
    let mut libraries = Vec::with_capacity(ids.len());
    for id in &ids {
        match chat.libraries.library(id) {
            Some(library) if admin::may_read_library(&principal, &chat.directory, &library) => {
                libraries.push(library);
            }
            _ => {
                let message = format!("no library with id `{id}`");
                return Err(gateway::json_error(
                    StatusCode::NOT_FOUND,
                    ErrorType::NotFound,
                    "library_not_found",
                    message,
                ));
            }
        }
    }
    raise_classification(&chat.ladder, headers, &libraries);
    let question = last_question(body);
    let reader = Reader::of(&principal, &chat.directory);
    let credentials = knowledge::credentials(headers);
    let hits = chat
        .libraries
        .search(&libraries, &reader, &credentials, &question, PASSAGES)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "a library search failed");
            gateway::json_error(
                StatusCode::BAD_GATEWAY,
                ErrorType::Upstream,
                "library_search_failed",
                error.to_string(),
            )
        })?;
    rewrite(body, &hits);
    Ok(Asked {
        principal,
        libraries: ids,
        hits,
    })
}

/// The request's classification raised to the highest of the libraries' (never lowered).
fn raise_classification(
    ladder: &domain::ClassificationLadder,
    headers: &mut HeaderMap,
    libraries: &[store::StoredLibrary],
) {
    let asked = headers
        .get(CLASSIFICATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|name| ladder.parse(name));
    let highest = libraries
        .iter()
        .filter_map(|l| ladder.parse(&l.classification))
        .max();
    let level = match (asked, highest) {
        (Some(asked), Some(highest)) => asked.max(highest),
        (None, Some(highest)) => highest,
        _ => return,
    };
    if let Ok(value) = HeaderValue::from_str(ladder.name(level)) {
        headers.insert(CLASSIFICATION_HEADER, value);
    }
}

/// The text of the last user message (its text parts joined).
fn last_question(body: &Value) -> String {
    let messages = body["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let Some(last) = messages.iter().rev().find(|m| m["role"] == "user") else {
        return String::new();
    };
    wire::chat::content_text(&last["content"])
}

/// The passages as a first system message, and the extension field taken out.
fn rewrite(body: &mut Value, hits: &[Hit]) {
    let mut context = String::from(
        "Answer from the following passages of the group's documents. Cite each passage you use \
         by its number in brackets, like [1]. If they do not hold the answer, say so.\n",
    );
    for (n, hit) in hits.iter().enumerate() {
        context.push_str(&format!(
            "\n[{}] {} (page {}):\n{}\n",
            n + 1,
            hit.title,
            hit.page,
            hit.text
        ));
    }
    if let Some(messages) = body["messages"].as_array_mut() {
        messages.insert(0, json!({"role": "system", "content": context}));
    }
    if let Some(fabrique) = body["fabrique"].as_object_mut() {
        fabrique.remove("libraries");
        if fabrique.is_empty()
            && let Some(object) = body.as_object_mut()
        {
            object.remove("fabrique");
        }
    }
}

fn citations(hits: &[Hit]) -> Value {
    hits.iter()
        .enumerate()
        .map(|(n, hit)| {
            json!({
                "index": n + 1, "library": hit.library, "document": hit.document,
                "name": hit.title, "page": hit.page, "text": hit.text,
            })
        })
        .collect()
}

/// The answer with its citations (see the module's docs).
async fn cite(response: Response, hits: &[Hit]) -> Response {
    let is_json = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let (mut parts, body) = response.into_parts();
    let pages: Vec<String> = hits
        .iter()
        .map(|h| format!("{}:{}", h.document, h.page))
        .collect();
    if let Ok(value) = HeaderValue::from_str(&pages.join(",")) {
        parts.headers.insert("x-fabrique-citations", value);
    }
    parts.extensions.insert(knowledge::Cited(hits.into()));
    if !is_json || !parts.status.is_success() {
        return Response::from_parts(parts, body);
    }
    let Ok(collected) = body.collect().await else {
        return gateway::json_error(
            StatusCode::BAD_GATEWAY,
            ErrorType::Upstream,
            "upstream_error",
            "the answer was cut",
        );
    };
    let bytes = collected.to_bytes();
    let Ok(mut answer) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    answer["fabrique"] = json!({"citations": citations(hits)});
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(answer.to_string()))
}
