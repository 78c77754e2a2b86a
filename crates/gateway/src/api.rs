//! The inference API's routes: `/v1/chat/completions`, `/v1/embeddings`, `/v1/fim/completions`
//! and `/v1/rerank` (each sends its request through the pipeline, [`crate::infer`]), `/v1/models`, `/v1/feedback`
//! (a caller's thumbs on an answer, `feedback`), and the
//! operational endpoints `/healthz`, `/readyz` and `/metrics`.

mod models;
pub(crate) mod openapi;
mod operations;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::{get, post};
use domain::Operation;

use crate::pipeline::infer;
use crate::state::Gateway;

/// The inference routes and the operational endpoints.
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route(Operation::Chat.public_path(), post(chat))
        .route(Operation::Embeddings.public_path(), post(embeddings))
        .route(Operation::Fim.public_path(), post(fim))
        .route(Operation::Rerank.public_path(), post(rerank))
        .route("/v1/feedback", post(crate::feedback::submit))
        .route("/v1/models", get(models::list))
        .route("/v1/models/{id}", get(models::retrieve))
        .route("/healthz", get(operations::healthz))
        .route("/readyz", get(operations::readyz))
        .route("/metrics", get(operations::metrics))
        .with_state(gateway)
}

/// Creates a chat completion (the OpenAI and Mistral API).
#[utoipa::path(
    post, path = "/v1/chat/completions", tag = "inference",
    request_body = wire::chat::ChatCompletionRequest,
    responses(
        (status = 200, description = "The completion; with `stream: true`, its chunks as server-sent events", content(
            (wire::chat::ChatCompletion = "application/json"),
            (openapi::StreamEvent = "text/event-stream"),
        )),
        (status = "5XX", description = "A backend failed; the message names the stage", body = wire::ErrorBody),
    ),
)]
async fn chat(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    infer(&gateway, Operation::Chat, request).await
}

/// Embeds texts.
#[utoipa::path(
    post, path = "/v1/embeddings", tag = "inference",
    request_body = wire::embeddings::EmbeddingsRequest,
    responses(
        (status = 200, description = "The embeddings", content((wire::embeddings::EmbeddingsResponse = "application/json"))),
        (status = "5XX", description = "A backend failed; the message names the stage", body = wire::ErrorBody),
    ),
)]
async fn embeddings(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    infer(&gateway, Operation::Embeddings, request).await
}

/// Fills in the middle (Mistral's Codestral API).
#[utoipa::path(
    post, path = "/v1/fim/completions", tag = "inference",
    request_body = wire::fim::FimRequest,
    responses(
        (status = 200, description = "The completion, in a chat completion's shape; with `stream: true`, its chunks as server-sent events", content(
            (wire::chat::ChatCompletion = "application/json"),
            (openapi::StreamEvent = "text/event-stream"),
        )),
        (status = "5XX", description = "A backend failed; the message names the stage", body = wire::ErrorBody),
    ),
)]
async fn fim(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    infer(&gateway, Operation::Fim, request).await
}

/// Orders documents by their relevance to a query (the shape Cohere and Jina defined, as vLLM
/// serves it), with a model of kind `rerank`.
#[utoipa::path(
    post, path = "/v1/rerank", tag = "inference",
    request_body = wire::rerank::RerankRequest,
    responses(
        (status = 200, description = "The documents' positions and scores, most relevant first", content((wire::rerank::RerankResponse = "application/json"))),
        (status = 400, description = "The request is invalid, or the model is no reranker or is served by engines that cannot rerank", body = wire::ErrorBody),
        (status = "5XX", description = "A backend failed; the message names the stage", body = wire::ErrorBody),
    ),
)]
async fn rerank(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    infer(&gateway, Operation::Rerank, request).await
}
