//! The batch runner's two ends that only the binary can join: its lines sent through the
//! gateway in-process as the batch's submitter (`gateway::infer_as`, the pipeline from stage 2
//! on, at `batch` priority), and the runner's task, which works only on the replica holding
//! the background jobs' lease (`cluster::Leading`), woken by a submission or every few seconds.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use batch::{LineAnswer, LineRequest, Lines, Runner};
use domain::Priority;
use http_body_util::BodyExt as _;
use tokio::task::JoinHandle;

use crate::cluster::Leading;

/// How often the runner looks for batches it was not woken for (another replica's, or one a
/// restart left).
const POLL: Duration = Duration::from_secs(5);

/// Lines sent through the gateway.
#[derive(Debug)]
pub struct GatewayLines(pub Arc<gateway::Gateway>);

#[async_trait::async_trait]
impl Lines for GatewayLines {
    async fn run(&self, line: LineRequest) -> LineAnswer {
        let mut request = http::Request::post(line.operation.public_path())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("x-fabrique-priority", Priority::Batch.as_str());
        for (name, value) in [
            ("x-fabrique-use-case", &line.use_case),
            ("x-fabrique-classification", &line.label),
        ] {
            if let Some(value) = value {
                request = request.header(name, value.as_str());
            }
        }
        let Ok(request) = request.body(Body::from(line.body)) else {
            return refused("the batch's use case or label is not a valid header");
        };
        let (response, _) =
            gateway::infer_as(&self.0, line.operation, line.principal, request).await;
        let status = response.status().as_u16();
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match response.into_body().collect().await {
            Ok(body) => LineAnswer {
                status,
                request_id,
                body: body.to_bytes(),
            },
            Err(error) => refused(&format!("the answer could not be read: {error}")),
        }
    }
}

/// A line that never reached the gateway, answered as a `400`.
fn refused(message: &str) -> LineAnswer {
    let body = wire::ErrorBody::new(wire::ErrorType::InvalidRequest, "invalid_value", message);
    LineAnswer {
        status: 400,
        request_id: None,
        body: body.to_json().into(),
    }
}

/// Starts the runner's task; it runs until aborted.
pub fn spawn_runner(runner: Runner, leading: Leading) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if leading.now() {
                runner.run_pending().await;
            }
            runner.wait(POLL).await;
        }
    })
}
