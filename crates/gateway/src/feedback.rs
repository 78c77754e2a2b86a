//! `POST /v1/feedback`: a caller's verdict on one of their answers — `{"request_id", "rating":
//! "up"|"down", "comment"}` → 202. Accepted from whoever may call the inference API (a key, an
//! access token, the chat's session), written off the request path like usage records. It counts
//! for a use-case version only when its giver made the request it names (the store's reports
//! join them), so nobody can sink another's canary.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use domain::{Feedback, Rating, now_millis};
use http::StatusCode;
use serde::Deserialize;

use crate::accept::read_body;
use crate::authenticate::authenticate;
use crate::error::GatewayError;
use crate::state::Gateway;

/// The largest feedback body accepted.
const MAX_BODY_BYTES: usize = 16 * 1024;
/// The longest comment kept, in characters.
const MAX_COMMENT_CHARS: usize = 4_000;

/// A verdict on one answer.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Given {
    request_id: String,
    rating: String,
    #[serde(default)]
    comment: Option<String>,
}

/// Records a caller's thumbs up or down (and comment) on one of their answers.
#[utoipa::path(
    post, path = "/v1/feedback", tag = "inference",
    request_body = Given,
    responses(
        (status = 202, description = "Recorded; it counts for the use-case version that answered"),
    ),
)]
pub(crate) async fn submit(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    match record(&gateway, request).await {
        Ok(body) => (StatusCode::ACCEPTED, axum::Json(body)).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn record(g: &Gateway, request: Request<Body>) -> Result<serde_json::Value, GatewayError> {
    let (parts, body) = request.into_parts();
    let principal = authenticate(&g.directory, g.sign_in.as_deref(), &parts.headers).await?;
    let bytes = read_body(body, MAX_BODY_BYTES).await?;
    let given: Given = serde_json::from_slice(&bytes).map_err(|e| GatewayError::MalformedJson {
        detail: e.to_string(),
    })?;
    let bad = |param, message: &str| GatewayError::InvalidField {
        param,
        message: message.to_owned(),
    };
    if given.request_id.is_empty() || given.request_id.len() > 200 {
        return Err(bad(
            "request_id",
            "`request_id` is the x-request-id of one of your answers",
        ));
    }
    let rating =
        Rating::parse(&given.rating).ok_or_else(|| bad("rating", "`rating` is `up` or `down`"))?;
    if given
        .comment
        .as_ref()
        .is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS)
    {
        return Err(bad("comment", "`comment` is at most 4,000 characters"));
    }
    let feedback = Feedback {
        request_id: given.request_id,
        at: now_millis(),
        actor: principal.actor(),
        entity_id: principal.entity_id,
        rating,
        comment: given.comment,
    };
    let body = serde_json::json!({"request_id": feedback.request_id, "rating": rating.as_str()});
    if !g.sinks.feedback.record(feedback) {
        return Err(GatewayError::BodyRead(
            "feedback could not be recorded now; retry".to_owned(),
        ));
    }
    Ok(body)
}
