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
