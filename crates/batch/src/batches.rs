//! Batches, in the two shapes the group's tools speak: OpenAI's `/v1/batches` (its view here,
//! [`BatchObject`]) and Mistral's `/v1/batch/jobs` (`mistral`). They are two views ([`View`]) of
//! the same batches: the handlers below are written once, generic over the view, which says only
//! how a submission and a listing read and how a batch shows. A batch names one of the caller's
//! files of purpose `batch` (JSONL, one request a line) and one endpoint; the runner (`runner`)
//! sends its lines through the gateway as the caller.
//!
//! What the submission establishes is kept with the batch and applies to every line: the
//! caller (the key they submitted with, looked up again when the lines run, so a key revoked
//! since stops the batch), the use case (`x-fabrique-use-case`) and the classification label
//! (`x-fabrique-classification`) their request named.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use domain::{AuditAction, AuditEvent, BatchId, FileId, Operation, Outcome, now_millis};
use http::HeaderMap;
use identity::Principal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use store::{BatchStatus, Progress, StoredBatch};

use crate::Batches;
use crate::error::ApiError;
use crate::extract::{Caller, ListQuery, PageSize, Paging, json_body};
use crate::files::{self, Purpose};

/// The longest completion window, in hours (30 days).
const MAX_WINDOW_HOURS: u64 = 720;
/// OpenAI's bounds on metadata: 16 pairs, keys of 64 characters, values of 512.
const MAX_METADATA_PAIRS: usize = 16;
const MAX_METADATA_KEY: usize = 64;
const MAX_METADATA_VALUE: usize = 512;

/// The request headers a submission's lines carry.
const USE_CASE_HEADER: &str = "x-fabrique-use-case";
const LABEL_HEADER: &str = "x-fabrique-classification";
/// The longest use-case or label header kept.
const MAX_HEADER_CHARS: usize = 128;

/// The API shape a batch was submitted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    OpenAi,
    Mistral,
}

impl Shape {
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::OpenAi => "openai",
            Shape::Mistral => "mistral",
        }
    }
}

/// The operation an endpoint path names, among those a batch may use.
pub fn operation_of(endpoint: &str) -> Option<Operation> {
    [Operation::Chat, Operation::Embeddings, Operation::Fim]
        .into_iter()
        .find(|operation| operation.public_path() == endpoint)
}

/// A batch as one API shape shows it: how that shape's submission and listing read, and how a
/// batch and a page of them are shown. A batch is listed under the shape it was submitted in.
pub(crate) trait View: Serialize + Sized + Send + 'static {
    const SHAPE: Shape;
    /// What the submission's body is called in an error ("a batch").
    const NOUN: &'static str;
    /// The page sizes of a listing, and the parameter that says it.
    const PAGE_SIZE: PageSize;
    /// A submission's body.
    type New: DeserializeOwned + Send;
    /// A page of batches.
    type Page: Serialize;

    fn submission(asked: &Self::New) -> Result<Submission<'_>, ApiError>;
    fn of(batch: &StoredBatch) -> Self;
    fn page(shown: Vec<Self>, has_more: bool) -> Self::Page;
}

/// Creates a batch from one of the caller's `batch` files.
pub(crate) async fn create<V: View>(
    State(batches): State<Arc<Batches>>,
    Caller(principal): Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<V>, ApiError> {
    let asked: V::New = json_body(body, V::NOUN).await?;
    let submission = V::submission(&asked)?;
    let batch = batches.submit(&principal, &headers, submission).await?;
    Ok(Json(V::of(&batch)))
}

/// One of the caller's batches.
pub(crate) async fn retrieve<V: View>(
    State(batches): State<Arc<Batches>>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Json<V>, ApiError> {
    let batch = batches.owned_batch(&principal, &id).await?;
    Ok(Json(V::of(&batch)))
}

/// Cancels one of the caller's batches: the lines done so far stay, in its output and error
/// files; it is `cancelling` until the runner stops, then `cancelled`.
pub(crate) async fn cancel<V: View>(
    State(batches): State<Arc<Batches>>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Json<V>, ApiError> {
    let batch = batches.cancel(&principal, &id).await?;
    Ok(Json(V::of(&batch)))
}

/// Lists the caller's batches of this shape, newest first.
pub(crate) async fn list<V: View>(
    State(batches): State<Arc<Batches>>,
    Caller(principal): Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<V::Page>, ApiError> {
    let paging: Paging<BatchId> = Paging::read(&query, V::PAGE_SIZE, "a batch")?;
    let (owner, shape) = (principal.owner, V::SHAPE.as_str());
    let rows = batches
        .store
        .batches(owner, shape, paging.after, paging.rows());
    let (found, has_more) = paging.cut(rows.await?);
    Ok(Json(V::page(found.iter().map(V::of).collect(), has_more)))
}

/// A batch's creation, as OpenAI's SDK sends it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct NewBatch {
    input_file_id: String,
    /// `/v1/chat/completions`, `/v1/embeddings` or `/v1/fim/completions`.
    endpoint: String,
    /// `24h`, or another number of hours up to `720h`.
    completion_window: String,
    /// Up to 16 string pairs, given back as they are.
    #[serde(default)]
    metadata: Option<HashMap<String, String>>,
    /// Accepted for compatibility; output files are kept until deleted.
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "read for compatibility; files are kept until deleted"
    )]
    output_expires_after: Option<Value>,
}

/// A batch, as OpenAI's `batch` object.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchObject {
    pub id: String,
    /// Always `batch`.
    pub object: &'static str,
    pub endpoint: String,
    #[schema(value_type = Option<Object>)]
    pub errors: Option<Value>,
    pub input_file_id: String,
    pub completion_window: String,
    /// `validating`, `in_progress`, `finalizing`, `completed`, `failed`, `expired`,
    /// `cancelling` or `cancelled`.
    pub status: &'static str,
    pub output_file_id: Option<String>,
    pub error_file_id: Option<String>,
    pub created_at: i64,
    pub in_progress_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub finalizing_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub failed_at: Option<i64>,
    pub expired_at: Option<i64>,
    pub cancelling_at: Option<i64>,
    pub cancelled_at: Option<i64>,
    pub request_counts: RequestCounts,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// How many of a batch's requests are done.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RequestCounts {
    pub total: u64,
    pub completed: u64,
    pub failed: u64,
}

/// A page of batches.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchList {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<BatchObject>,
    pub first_id: Option<String>,
    pub last_id: Option<String>,
    pub has_more: bool,
}

fn seconds(millis: Option<i64>) -> Option<i64> {
    millis.map(|m| m / 1000)
}

impl View for BatchObject {
    const SHAPE: Shape = Shape::OpenAi;
    const NOUN: &'static str = "a batch";
    const PAGE_SIZE: PageSize = PageSize {
        param: "limit",
        default: 20,
        max: 100,
    };
    type New = NewBatch;
    type Page = BatchList;

    fn submission(asked: &NewBatch) -> Result<Submission<'_>, ApiError> {
        Ok(Submission {
            input_file_id: &asked.input_file_id,
            endpoint: &asked.endpoint,
            window_hours: window_hours(&asked.completion_window)?,
            model: None,
            metadata: metadata(asked.metadata.as_ref())?,
            shape: Shape::OpenAi,
        })
    }

    fn of(batch: &StoredBatch) -> BatchObject {
        let ended = batch.status.is_final();
        BatchObject {
            id: batch.id.to_string(),
            object: "batch",
            endpoint: batch.endpoint.clone(),
            errors: batch
                .errors
                .as_deref()
                .and_then(|e| serde_json::from_str(e).ok()),
            input_file_id: batch.input_file_id.to_string(),
            completion_window: batch.completion_window.clone(),
            status: batch.status.as_str(),
            output_file_id: batch
                .output_file_id
                .filter(|_| ended)
                .map(|f| f.to_string()),
            error_file_id: batch.error_file_id.filter(|_| ended).map(|f| f.to_string()),
            created_at: batch.created_at / 1000,
            in_progress_at: seconds(batch.in_progress_at),
            expires_at: Some(batch.expires_at / 1000),
            finalizing_at: seconds(batch.finalizing_at),
            completed_at: seconds(batch.completed_at),
            failed_at: seconds(batch.failed_at),
            expired_at: seconds(batch.expired_at),
            cancelling_at: seconds(batch.cancelling_at),
            cancelled_at: seconds(batch.cancelled_at),
            request_counts: RequestCounts {
                total: batch.progress.total,
                completed: batch.progress.completed,
                failed: batch.progress.failed,
            },
            metadata: batch
                .metadata
                .as_deref()
                .and_then(|m| serde_json::from_str(m).ok()),
        }
    }

    fn page(data: Vec<BatchObject>, has_more: bool) -> BatchList {
        BatchList {
            object: "list",
            first_id: data.first().map(|b| b.id.clone()),
            last_id: data.last().map(|b| b.id.clone()),
            has_more,
            data,
        }
    }
}

/// What a submission asks, in either shape.
pub(crate) struct Submission<'a> {
    pub input_file_id: &'a str,
    pub endpoint: &'a str,
    pub window_hours: u64,
    /// The model every line uses (Mistral's jobs).
    pub model: Option<String>,
    pub metadata: Option<String>,
    pub shape: Shape,
}

impl Batches {
    /// Stores a new batch of `principal`'s, `validating`, and wakes the runner.
    pub(crate) async fn submit(
        &self,
        principal: &Principal,
        headers: &HeaderMap,
        submission: Submission<'_>,
    ) -> Result<StoredBatch, ApiError> {
        if operation_of(submission.endpoint).is_none() {
            return Err(ApiError::invalid(
                "endpoint",
                format!(
                    "`{}` is not an endpoint of batches: use `/v1/chat/completions`, \
                     `/v1/embeddings` or `/v1/fim/completions`",
                    submission.endpoint
                ),
            ));
        }
        let input = files::owned(self, principal, submission.input_file_id).await?;
        if input.purpose != Purpose::Batch.as_str() {
            return Err(ApiError::invalid(
                "input_file_id",
                format!(
                    "the file `{}` has purpose `{}`: upload the batch's input with purpose `batch`",
                    input.id, input.purpose
                ),
            ));
        }
        let created_at = now_millis();
        let window_millis = i64::try_from(submission.window_hours * 3_600_000).unwrap_or(i64::MAX);
        let batch = StoredBatch {
            id: BatchId::generate(),
            entity_id: principal.entity_id,
            owner: principal.owner,
            key_id: principal.key_id,
            shape: submission.shape.as_str().to_owned(),
            endpoint: submission.endpoint.to_owned(),
            model: submission.model,
            input_file_id: input.id,
            completion_window: format!("{}h", submission.window_hours),
            status: BatchStatus::Validating,
            use_case: header_text(headers, USE_CASE_HEADER)?,
            label: header_text(headers, LABEL_HEADER)?,
            metadata: submission.metadata,
            errors: None,
            progress: Progress::default(),
            // Chosen now so that publishing them after a restart names the same files.
            output_file_id: Some(FileId::generate()),
            error_file_id: Some(FileId::generate()),
            created_at,
            expires_at: created_at.saturating_add(window_millis),
            in_progress_at: None,
            finalizing_at: None,
            completed_at: None,
            failed_at: None,
            expired_at: None,
            cancelling_at: None,
            cancelled_at: None,
        };
        let audit = AuditEvent {
            at: created_at,
            actor: principal.actor(),
            action: AuditAction::BatchCreate,
            entity_id: batch.entity_id,
            target: String::new(),
            outcome: Outcome::Success,
            detail: json!({
                "endpoint": batch.endpoint,
                "input_file_id": batch.input_file_id.to_string(),
                "input_bytes": input.bytes,
                "use_case": batch.use_case,
            })
            .to_string(),
        };
        self.store.create_batch(&batch, &audit).await?;
        self.wake.notify_one();
        Ok(batch)
    }

    /// The batch `id` when `principal`'s owner owns it; 404 otherwise.
    pub(crate) async fn owned_batch(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<StoredBatch, ApiError> {
        let not_found = || ApiError::NotFound {
            what: "batch",
            id: id.to_owned(),
        };
        let id: BatchId = id.parse().map_err(|_| not_found())?;
        self.store
            .batch(id, principal.owner)
            .await?
            .ok_or_else(not_found)
    }

    /// Asks the runner to stop `principal`'s batch `id`, audited.
    pub(crate) async fn cancel(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<StoredBatch, ApiError> {
        let batch = self.owned_batch(principal, id).await?;
        let audit = AuditEvent {
            at: now_millis(),
            actor: principal.actor(),
            action: AuditAction::BatchCancel,
            entity_id: batch.entity_id,
            target: String::new(),
            outcome: Outcome::Success,
            detail: json!({"status": batch.status.as_str()}).to_string(),
        };
        let cancelled = self
            .store
            .cancel_batch(batch.id, principal.owner, &audit)
            .await?;
        self.wake.notify_one();
        Ok(cancelled.unwrap_or(batch))
    }
}

/// `24h` (or another whole number of hours up to 720) → hours.
pub(crate) fn window_hours(window: &str) -> Result<u64, ApiError> {
    window
        .strip_suffix('h')
        .and_then(|hours| hours.parse::<u64>().ok())
        .filter(|hours| (1..=MAX_WINDOW_HOURS).contains(hours))
        .ok_or_else(|| {
            ApiError::invalid(
                "completion_window",
                format!("`{window}` is not a completion window: use `24h` (1h to 720h)"),
            )
        })
}

/// The caller's metadata, checked against OpenAI's bounds, as JSON text.
pub(crate) fn metadata(
    given: Option<&HashMap<String, String>>,
) -> Result<Option<String>, ApiError> {
    let Some(pairs) = given else {
        return Ok(None);
    };
    let too_long = pairs.iter().any(|(key, value)| {
        key.chars().count() > MAX_METADATA_KEY || value.chars().count() > MAX_METADATA_VALUE
    });
    if pairs.len() > MAX_METADATA_PAIRS || too_long {
        return Err(ApiError::invalid(
            "metadata",
            "`metadata` holds up to 16 pairs, keys up to 64 characters, values up to 512",
        ));
    }
    let sorted: std::collections::BTreeMap<_, _> = pairs.iter().collect();
    Ok(Some(json!(sorted).to_string()))
}

/// A header kept for the lines: text, bounded; the gateway checks its meaning on every line.
fn header_text(headers: &HeaderMap, name: &'static str) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .filter(|text| text.chars().count() <= MAX_HEADER_CHARS)
        .map(|text| Some(text.to_owned()))
        .ok_or_else(|| ApiError::invalid(name, format!("`{name}` is not a short ASCII text")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_completion_window_is_a_whole_number_of_hours() {
        assert_eq!(window_hours("24h").unwrap(), 24);
        assert_eq!(window_hours("720h").unwrap(), 720);
        for refused in ["0h", "721h", "24", "1d", "h", "-1h", "1.5h"] {
            assert!(window_hours(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn batches_take_the_three_inference_endpoints() {
        assert_eq!(operation_of("/v1/chat/completions"), Some(Operation::Chat));
        assert_eq!(operation_of("/v1/embeddings"), Some(Operation::Embeddings));
        assert_eq!(operation_of("/v1/fim/completions"), Some(Operation::Fim));
        assert_eq!(operation_of("/v1/responses"), None);
    }
}
