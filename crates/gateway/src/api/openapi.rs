//! The inference API's part of the OpenAPI description; the binary merges it with the admin and
//! SCIM parts and serves the whole at `/openapi.json`.

use utoipa::OpenApi;

/// The inference and operational routes of [`crate::router`], with their schemas.
#[derive(OpenApi)]
#[openapi(
    paths(
        super::chat,
        super::embeddings,
        super::fim,
        super::rerank,
        crate::feedback::submit,
        super::models::list,
        super::models::retrieve,
        super::operations::healthz,
        super::operations::readyz,
        super::operations::metrics,
    ),
    tags(
        (name = "inference", description = "OpenAI- and Mistral-compatible inference"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
pub struct InferenceApi;

/// One server-sent event of a streamed answer: its `data` is a `chat.completion.chunk` as JSON,
/// and the last one's `[DONE]`.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "describes the events a stream writes, for the API description"
)]
pub(crate) struct StreamEvent {
    data: String,
    event: Option<String>,
    id: Option<String>,
    retry: Option<u64>,
}
