//! The admin API, called in process as the person signed in to the console: one request through
//! the admin router, which authorizes, narrows and audits it as it does any caller's. A page's
//! reads may gather their audit events (`access::PageReads`), which the page then hands to the
//! audit channel together ([`AdminApi::record`]).

use std::sync::Arc;

use access::PageReads;
use axum::Router;
use axum::body::{Body, to_bytes};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use identity::Principal;
use serde_json::Value;
use tower::ServiceExt as _;
use usage::AuditSink;

/// The largest answer read back: a page of 1,000 rows, or an export.
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// The admin API's router, and the audit channel where a page's reads are recorded.
pub(crate) struct AdminApi {
    pub router: Router,
    pub audit: AuditSink,
}

/// A page's reads could not be recorded (the audit channel's queue was full): it must not show
/// them.
#[derive(Debug)]
pub(crate) struct Unrecorded;

/// What the admin API answered.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.status.is_success()
    }

    /// The API's error message, for the page (OpenAI-style `{"error": {"message"}}`).
    pub fn message(&self) -> String {
        self.body["error"]["message"]
            .as_str()
            .map_or_else(|| self.status.to_string(), str::to_owned)
    }

    /// The rows of a listing.
    pub fn rows(&self) -> &[Value] {
        self.body["data"].as_array().map_or(&[], Vec::as_slice)
    }
}

/// `path?query` with the query's pairs encoded; pairs with an empty value are left out.
pub(crate) fn uri(path: &str, query: &[(&str, &str)]) -> String {
    let mut encoded = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in query.iter().filter(|(_, value)| !value.is_empty()) {
        encoded.append_pair(name, value);
    }
    let encoded = encoded.finish();
    match encoded.is_empty() {
        true => path.to_owned(),
        false => format!("{path}?{encoded}"),
    }
}

impl AdminApi {
    /// `method uri` with `body` as `principal`: the status and the JSON answer (`Null` when the
    /// answer is not JSON).
    pub async fn call(
        &self,
        principal: &Arc<Principal>,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> Answer {
        answer(self.raw(principal, method, uri, body).await)
    }

    /// `GET uri` as `principal`, one of a page's reads: its audit event is gathered in `page`,
    /// which the page records with the others before it shows what they read.
    pub async fn read(
        &self,
        principal: &Arc<Principal>,
        page: &Arc<PageReads>,
        uri: &str,
    ) -> Answer {
        answer(
            self.exchange(principal, Method::GET, uri, None, Some(page))
                .await,
        )
    }

    /// Records a page's reads, gathered in `page`: their events are handed to the audit channel
    /// together, as the gateway hands over its access decisions, and the page waits until the
    /// channel has journaled them (its writer appends them to the chain with the other events of
    /// its next batch, in one transaction, off the page's path). So a page view costs the database
    /// no statement for its audit, and what the page shows was recorded first.
    pub async fn record(&self, page: &PageReads) -> Result<(), Unrecorded> {
        let events = page.take();
        if events.is_empty() {
            return Ok(());
        }
        if !self.audit.record_all(events) {
            return Err(Unrecorded);
        }
        self.audit.settled().await;
        Ok(())
    }

    /// The same, answered as it came: status, headers and bytes (a CSV file, a document).
    pub async fn raw(
        &self,
        principal: &Arc<Principal>,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, HeaderMap, bytes::Bytes), StatusCode> {
        let sent = body.map(|b| {
            (
                HeaderValue::from_static("application/json"),
                Body::from(b.to_string()),
            )
        });
        self.exchange(principal, method, uri, sent, None).await
    }

    /// `POST uri` with a file as the body, of media type `content_type`, as `principal`.
    pub async fn upload(
        &self,
        principal: &Arc<Principal>,
        uri: &str,
        content_type: HeaderValue,
        file: bytes::Bytes,
    ) -> Answer {
        let sent = Some((content_type, Body::from(file)));
        answer(
            self.exchange(principal, Method::POST, uri, sent, None)
                .await,
        )
    }

    /// One request through the router, with a body of its media type when there is one, and the
    /// page that gathers its reads' audit events when one does.
    async fn exchange(
        &self,
        principal: &Arc<Principal>,
        method: Method,
        uri: &str,
        body: Option<(HeaderValue, Body)>,
        page: Option<&Arc<PageReads>>,
    ) -> Result<(StatusCode, HeaderMap, bytes::Bytes), StatusCode> {
        let mut request = Request::builder().method(method).uri(uri);
        let body = match body {
            Some((content_type, body)) => {
                request = request.header(header::CONTENT_TYPE, content_type);
                body
            }
            None => Body::empty(),
        };
        let mut request = request
            .body(body)
            .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
        let extensions = request.extensions_mut();
        extensions.insert(access::Vouched(Arc::clone(principal)));
        if let Some(page) = page {
            extensions.insert(Arc::clone(page));
        }
        // The router's service never fails: errors are answers.
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = to_bytes(response.into_body(), MAX_ANSWER_BYTES)
            .await
            .map_err(|_| StatusCode::BAD_GATEWAY)?;
        Ok((status, headers, bytes))
    }
}

/// An exchange's outcome as the pages read it: the status and the JSON answer (`Null` when the
/// answer is not JSON).
fn answer(outcome: Result<(StatusCode, HeaderMap, bytes::Bytes), StatusCode>) -> Answer {
    match outcome {
        Ok((status, _, bytes)) => Answer {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        },
        Err(status) => Answer {
            status,
            body: Value::Null,
        },
    }
}
