//! The batch runner: each batch's lines sent through the gateway as its submitter, a few at a
//! time, their results appended to the batch's spool and the progress committed in chunks.
//!
//! - **Same path as interactive requests.** A line is handed to [`Lines`], which the binary
//!   implements with the gateway's `infer_as`: every stage after authentication (request-rate
//!   limits, seat, attribution, policy, classification, admission, the fair scheduler at
//!   `batch` priority, routing, metering, audit) runs as for the submitter's own request, and
//!   the line is charged to their entity, team and use case.
//! - **Exactly once, across restarts.** Lines run concurrently (`[batches] concurrency`) but
//!   their results are taken in input order, so what is committed is always a prefix of the
//!   input: a chunk's results are appended to the spool and synced, then `next_line` and the
//!   spool's lengths are committed. A restart cuts the spool back to the committed lengths and
//!   runs from `next_line`: no result is lost or written twice. (A line in flight at the crash
//!   is sent to the model again.)
//! - **Streamed.** The input is read line by line on the blocking pool; memory holds a chunk.
//! - **Ends.** Between chunks the runner looks for a cancellation and the window's end (read
//!   against the batches' [`crate::Clock`]); no further line is sent, the few already sent are
//!   waited for and kept (they were answered and metered), and the lines done are published
//!   (`cancelled`; `expired`, OpenAI's status for a window that ended, whose remaining lines are
//!   not sent but reported in the error file as `batch_expired` and counted as failed).
//! - **Busy capacity is waited out.** A line refused `429` (the pool full, a rate limit) is
//!   tried again after a pause, a few times, before it counts as failed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use domain::{AuditAction, AuditEvent, FileId, KeyOwner, Operation, Outcome, now_millis};
use futures_util::StreamExt as _;
use identity::Principal;
use serde_json::{Value, json};
use store::{BatchStatus, Ending, StoredBatch, StoredFile};

use crate::Batches;
use crate::batches::{Shape, operation_of};
use crate::contents::Spool;
use crate::files::Purpose;

/// Lines committed per chunk at most.
const CHUNK_LINES: usize = 200;
/// A chunk is committed at least this often, so a slow batch shows its progress.
const CHUNK_PERIOD: Duration = Duration::from_secs(2);
/// Tries of a line refused for want of capacity, and the first pause (doubled each time).
const BUSY_TRIES: u32 = 6;
const BUSY_PAUSE: Duration = Duration::from_millis(500);
/// Why a batch whose input file is gone fails.
const INPUT_MISSING: &str = "the input file was deleted before the batch ended";
/// The largest input a batch may have, in requests (Mistral's limit).
pub const MAX_LINES: u64 = 1_000_000;

/// One line's request, as the gateway is to run it.
#[derive(Debug)]
pub struct LineRequest {
    pub principal: Arc<Principal>,
    pub operation: Operation,
    /// The request's JSON body.
    pub body: Bytes,
    /// The use case and classification label the submission named.
    pub use_case: Option<String>,
    pub label: Option<String>,
}

/// The gateway's answer to a line.
#[derive(Debug)]
pub struct LineAnswer {
    pub status: u16,
    pub request_id: Option<String>,
    pub body: Bytes,
}

/// Runs a line through the gateway; the binary implements it with `gateway::infer_as`.
#[async_trait::async_trait]
pub trait Lines: Send + Sync + std::fmt::Debug {
    async fn run(&self, request: LineRequest) -> LineAnswer;
}

/// Runs every batch that has work, one after another.
#[derive(Debug)]
pub struct Runner {
    batches: Arc<Batches>,
    lines: Arc<dyn Lines>,
    concurrency: usize,
}

/// Why a batch stopped running its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Done,
    Cancelled,
    Expired,
}

/// A line's result: a line of the output file or of the error file.
struct LineResult {
    number: u64,
    failed: bool,
    text: Vec<u8>,
}

impl Runner {
    pub fn new(batches: Arc<Batches>, lines: Arc<dyn Lines>, concurrency: usize) -> Runner {
        Runner {
            batches,
            lines,
            concurrency: concurrency.max(1),
        }
    }

    /// Waits until a batch may have work: one submitted or cancelled here, or `period` passed
    /// (another replica's submission, or one left by a restart).
    pub async fn wait(&self, period: Duration) {
        let _ = tokio::time::timeout(period, self.batches.wake.notified()).await;
    }

    /// Runs every batch that has work until it ends; errors are logged, the batch left to the
    /// next pass.
    pub async fn run_pending(&self) {
        let pending = match self.batches.store.runnable_batches().await {
            Ok(pending) => pending,
            Err(error) => {
                tracing::error!(%error, "batches: could not read the batches to run");
                return;
            }
        };
        for batch in pending {
            let id = batch.id;
            if let Err(error) = self.run_batch(batch).await {
                tracing::error!(batch = %id, %error, "batch interrupted; it resumes on the next pass");
            }
        }
    }

    async fn run_batch(&self, mut batch: StoredBatch) -> Ran<()> {
        let stop = match batch.status {
            BatchStatus::Validating | BatchStatus::InProgress => {
                match self.run_input(&mut batch).await? {
                    Ok(stop) => stop,
                    Err(why) => return self.fail(&batch, why).await,
                }
            }
            BatchStatus::Cancelling => Stop::Cancelled,
            _ => Stop::Done,
        };
        self.finish(&batch, stop).await
    }

    /// Counts the input's requests when not done yet, then runs its lines: why the batch
    /// stopped, or why it cannot run.
    async fn run_input(&self, batch: &mut StoredBatch) -> Ran<Result<Stop, Why>> {
        let input = self.batches.store.file(batch.input_file_id, batch.owner);
        let Some(input) = input.await? else {
            return Ok(Err(("input_file_missing", INPUT_MISSING.to_owned())));
        };
        if batch.status == BatchStatus::Validating {
            let total = match self.validate(&input).await? {
                Ok(total) => total,
                Err(why) => return Ok(Err(why)),
            };
            let at = now_millis();
            self.batches.store.start_batch(batch.id, total, at).await?;
            batch.status = BatchStatus::InProgress;
            batch.progress.total = total;
        }
        let principal = match self.principal(batch) {
            Ok(principal) => principal,
            Err(why) => return Ok(Err(why)),
        };
        let stop = self.run_lines(batch, &input, principal).await?;
        if stop == Stop::Expired {
            self.expire_rest(batch, &input).await?;
        }
        Ok(Ok(stop))
    }

    /// Counts the input's requests: `Err` with why the batch cannot run.
    async fn validate(&self, input: &StoredFile) -> Ran<Result<u64, Why>> {
        let mut lines = self.batches.contents.lines(input.id, input.bytes, 0);
        let mut total = 0u64;
        while let Some(line) = lines.recv().await {
            line?;
            total += 1;
        }
        Ok(match total {
            0 => Err(("empty_file", "the input file has no request".to_owned())),
            n if n > MAX_LINES => Err((
                "too_many_requests",
                format!("the input file has {n} requests; a batch takes at most {MAX_LINES}"),
            )),
            n => Ok(n),
        })
    }

    /// The submitter as the lines run: their key, if still live, or the signed-in user.
    fn principal(&self, batch: &StoredBatch) -> Result<Arc<Principal>, Why> {
        let directory = &self.batches.directory;
        let revoked = || {
            (
                "submitter_unavailable",
                "the key or account the batch was submitted with no longer works".to_owned(),
            )
        };
        match (batch.key_id, batch.owner) {
            (Some(key), _) => directory
                .key_principal(key, now_millis())
                .map_err(|_| revoked()),
            (None, KeyOwner::User(user)) => directory
                .user_by_id(user)
                .filter(|user| user.is_active())
                .map(|user| Arc::new(Principal::of_user(&user, &[])))
                .ok_or_else(revoked),
            (None, KeyOwner::ServiceAccount(_)) => Err(revoked()),
        }
    }

    async fn run_lines(
        &self,
        batch: &mut StoredBatch,
        input: &StoredFile,
        principal: Arc<Principal>,
    ) -> Ran<Stop> {
        self.spool(batch)?.resume(&batch.progress).await?;
        let contents = &self.batches.contents;
        let lines = contents.lines(input.id, input.bytes, batch.progress.next_line);
        let context = Arc::new(LineContext::of(batch, principal, Arc::clone(&self.lines)));
        // Set once the batch is to stop: no further line is sent, those on their way finish.
        let stopping = Arc::new(AtomicBool::new(false));
        let source = (lines, Arc::clone(&stopping));
        let mut results =
            futures_util::stream::unfold(source, |(mut lines, stopping)| async move {
                if stopping.load(Ordering::Relaxed) {
                    return None;
                }
                lines.recv().await.map(|line| (line, (lines, stopping)))
            })
            .map(|line| {
                let context = Arc::clone(&context);
                async move { context.run(line).await }
            })
            .buffered(self.concurrency)
            .boxed();
        let (mut chunk, mut since) = (Vec::with_capacity(CHUNK_LINES), Instant::now());
        let mut stop = Stop::Done;
        while let Some(result) = results.next().await {
            chunk.push(result?);
            if chunk.len() < CHUNK_LINES && since.elapsed() < CHUNK_PERIOD {
                continue;
            }
            self.commit(batch, std::mem::take(&mut chunk)).await?;
            since = Instant::now();
            if stop == Stop::Done
                && let Some(interrupted) = self.interrupted(batch).await?
            {
                // The lines already sent are answered and metered: their results are kept.
                stop = interrupted;
                stopping.store(true, Ordering::Relaxed);
            }
        }
        self.commit(batch, chunk).await?;
        Ok(stop)
    }

    /// Appends a chunk's results to the spool, then commits the progress.
    async fn commit(&self, batch: &mut StoredBatch, chunk: Vec<LineResult>) -> Ran<()> {
        let Some(last) = chunk.last().map(|r| r.number) else {
            return Ok(());
        };
        let spool = self.spool(batch)?;
        let committed = batch.progress;
        let (mut output, mut errors) = (Vec::new(), Vec::new());
        let progress = &mut batch.progress;
        for result in chunk {
            let (file, count) = match result.failed {
                false => (&mut output, &mut progress.completed),
                true => (&mut errors, &mut progress.failed),
            };
            file.extend_from_slice(&result.text);
            file.push(b'\n');
            *count += 1;
        }
        progress.output_bytes += output.len() as u64;
        progress.error_bytes += errors.len() as u64;
        progress.next_line = last + 1;
        spool.append(&committed, output, errors).await?;
        let store = &self.batches.store;
        store.commit_batch_progress(batch.id, progress).await?;
        self.batches
            .committed
            .send_replace(batch.progress.next_line);
        Ok(())
    }

    /// A cancellation asked for, or the window ended.
    async fn interrupted(&self, batch: &StoredBatch) -> Ran<Option<Stop>> {
        let status = self.batches.store.batch_status(batch.id).await?;
        if status == Some(BatchStatus::Cancelling) {
            return Ok(Some(Stop::Cancelled));
        }
        Ok((self.batches.clock.now() >= batch.expires_at).then_some(Stop::Expired))
    }

    /// The lines not run when the window ended, reported in the error file as `batch_expired`.
    async fn expire_rest(&self, batch: &mut StoredBatch, input: &StoredFile) -> Ran<()> {
        let contents = &self.batches.contents;
        let mut lines = contents.lines(input.id, input.bytes, batch.progress.next_line);
        let mut chunk = Vec::with_capacity(CHUNK_LINES);
        while let Some(line) = lines.recv().await {
            let (number, text) = line?;
            let custom_id = serde_json::from_slice::<Value>(&text)
                .ok()
                .and_then(|v| v.get("custom_id").cloned())
                .unwrap_or(Value::Null);
            let message = "the batch's completion window ended before this request ran";
            chunk.push(LineResult {
                number,
                failed: true,
                text: error_line(&custom_id, "batch_expired", message),
            });
            if chunk.len() == CHUNK_LINES {
                self.commit(batch, std::mem::take(&mut chunk)).await?;
            }
        }
        self.commit(batch, chunk).await
    }

    /// Publishes the results and ends the batch.
    async fn finish(&self, batch: &StoredBatch, stop: Stop) -> Ran<()> {
        let (spool, output_id, error_id) = self.result_files(batch)?;
        spool.resume(&batch.progress).await?;
        let (output, errors) = spool.publish(&batch.progress).await?;
        let at = now_millis();
        let stored = |id, written: crate::Written, name: &str| StoredFile {
            id,
            entity_id: batch.entity_id,
            owner: batch.owner,
            filename: format!("{}_{name}.jsonl", batch.id),
            purpose: Purpose::BatchOutput.as_str().to_owned(),
            bytes: written.bytes,
            sha256: written.sha256,
            created_at: at,
        };
        let output = stored(output_id, output, "output");
        let errors = errors.map(|written| stored(error_id, written, "errors"));
        let audit = |file: &StoredFile| AuditEvent {
            at,
            actor: "system".to_owned(),
            action: AuditAction::FileCreate,
            entity_id: file.entity_id,
            target: String::new(),
            outcome: Outcome::Success,
            detail: json!({"purpose": file.purpose, "bytes": file.bytes, "batch": batch.id})
                .to_string(),
        };
        let (output_event, error_event) = (audit(&output), errors.as_ref().map(audit));
        let status = match stop {
            Stop::Done => BatchStatus::Completed,
            Stop::Cancelled => BatchStatus::Cancelled,
            Stop::Expired => BatchStatus::Expired,
        };
        let ending = Ending {
            status,
            at,
            output: Some((output, &output_event)),
            error: errors.zip(error_event.as_ref()),
            errors: None,
        };
        self.batches.store.finish_batch(batch.id, &ending).await?;
        self.batches.note_ended(batch);
        Ok(())
    }

    /// The batch's spool.
    fn spool(&self, batch: &StoredBatch) -> Ran<Spool> {
        self.result_files(batch).map(|(spool, _, _)| spool)
    }

    /// The batch's spool, and the ids its output and error files are published under.
    fn result_files(&self, batch: &StoredBatch) -> Ran<(Spool, FileId, FileId)> {
        let (Some(output), Some(errors)) = (batch.output_file_id, batch.error_file_id) else {
            return Err(RunError::Broken("the batch has no result file ids"));
        };
        let spool = self.batches.contents.spool(batch.id, output, errors);
        Ok((spool, output, errors))
    }

    /// Ends the batch `failed`, with OpenAI's `errors` object saying why.
    async fn fail(&self, batch: &StoredBatch, (code, message): Why) -> Ran<()> {
        let errors = json!({"object": "list", "data": [{"code": code, "message": message, "param": null, "line": null}]});
        let ending = Ending {
            status: BatchStatus::Failed,
            at: now_millis(),
            output: None,
            error: None,
            errors: Some(errors.to_string()),
        };
        self.batches.store.finish_batch(batch.id, &ending).await?;
        self.batches.note_ended(batch);
        Ok(())
    }
}

/// What every line of one batch shares.
struct LineContext {
    principal: Arc<Principal>,
    lines: Arc<dyn Lines>,
    operation: Operation,
    endpoint: String,
    shape: Shape,
    model: Option<String>,
    use_case: Option<String>,
    label: Option<String>,
}

impl LineContext {
    fn of(batch: &StoredBatch, principal: Arc<Principal>, lines: Arc<dyn Lines>) -> LineContext {
        LineContext {
            principal,
            lines,
            operation: operation_of(&batch.endpoint).unwrap_or(Operation::Chat),
            endpoint: batch.endpoint.clone(),
            shape: match batch.shape.as_str() {
                "mistral" => Shape::Mistral,
                _ => Shape::OpenAi,
            },
            model: batch.model.clone(),
            use_case: batch.use_case.clone(),
            label: batch.label.clone(),
        }
    }

    /// One input line → its result line.
    async fn run(&self, line: std::io::Result<(u64, Bytes)>) -> Ran<LineResult> {
        let (number, text) = line?;
        let (custom_id, body) = match self.request(&text) {
            Ok(request) => request,
            Err((custom_id, message)) => {
                let text = error_line(&custom_id, "invalid_request", &message);
                return Ok(LineResult {
                    number,
                    failed: true,
                    text,
                });
            }
        };
        let answer = self.send(body).await;
        let response_body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        let text = json!({
            "id": format!("batch_req_{}", fresh_id()),
            "custom_id": custom_id,
            "response": {
                "status_code": answer.status,
                "request_id": answer.request_id,
                "body": response_body,
            },
            "error": null,
        });
        Ok(LineResult {
            number,
            failed: !(200..300).contains(&answer.status),
            text: serde_json::to_vec(&text).unwrap_or_default(),
        })
    }

    /// The line's request body, or why it is not one (with its `custom_id` when it has one).
    fn request(&self, text: &[u8]) -> Result<(Value, Bytes), (Value, String)> {
        let line: Value = serde_json::from_slice(text)
            .map_err(|e| (Value::Null, format!("the line is not JSON: {e}")))?;
        let custom_id = line.get("custom_id").cloned().unwrap_or(Value::Null);
        let fail = |message: String| (custom_id.clone(), message);
        if !custom_id.is_string() {
            return Err(fail("the line has no `custom_id` text".to_owned()));
        }
        if self.shape == Shape::OpenAi {
            let url = line.get("url").and_then(Value::as_str);
            if url != Some(self.endpoint.as_str()) {
                return Err(fail(format!(
                    "the line's `url` must be the batch's endpoint `{}`",
                    self.endpoint
                )));
            }
            if line.get("method").and_then(Value::as_str) != Some("POST") {
                return Err(fail("the line's `method` must be `POST`".to_owned()));
            }
        }
        let Some(Value::Object(mut body)) = line.get("body").cloned() else {
            return Err(fail("the line has no `body` object".to_owned()));
        };
        if body.get("stream").and_then(Value::as_bool) == Some(true) {
            return Err(fail(
                "a batch's requests are not streamed: drop `stream`".to_owned(),
            ));
        }
        if let Some(model) = &self.model {
            body.entry("model")
                .or_insert_with(|| Value::from(model.as_str()));
        }
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        Ok((custom_id, Bytes::from(bytes)))
    }

    /// Sends the line, waiting out busy capacity a few times.
    async fn send(&self, body: Bytes) -> LineAnswer {
        let mut pause = BUSY_PAUSE;
        for _ in 1..BUSY_TRIES {
            let answer = self.lines.run(self.line_request(body.clone())).await;
            if answer.status != 429 {
                return answer;
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
        self.lines.run(self.line_request(body)).await
    }

    fn line_request(&self, body: Bytes) -> LineRequest {
        LineRequest {
            principal: Arc::clone(&self.principal),
            operation: self.operation,
            body,
            use_case: self.use_case.clone(),
            label: self.label.clone(),
        }
    }
}

/// An error file's line for a request that could not be sent.
fn error_line(custom_id: &Value, code: &str, message: &str) -> Vec<u8> {
    let line = json!({
        "id": format!("batch_req_{}", fresh_id()),
        "custom_id": custom_id,
        "response": null,
        "error": {"code": code, "message": message},
    });
    serde_json::to_vec(&line).unwrap_or_default()
}

/// A fresh request id's unique part.
fn fresh_id() -> String {
    domain::FileId::generate().0.simple().to_string()
}

/// Why a pass over a batch stopped before it ended: logged, never shown to callers; the batch
/// resumes on the next pass.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Broken(&'static str),
}

type Ran<T> = Result<T, RunError>;

/// Why a batch cannot run: OpenAI's error code and a message, in its `errors`.
type Why = (&'static str, String);
