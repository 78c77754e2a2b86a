//! The listener: accepts connections and serves HTTP/1.1 on them within the edge's limits, so no
//! client can hold the server by being slow.
//!
//! - **Connections**: at most `server.max_connections` at once. Past it the listener stops
//!   accepting and new connections wait in the kernel's backlog until one ends.
//! - **Request heads**: hyper's header timer (`server.header_read_timeout_secs`) runs from the
//!   moment a connection opens or finishes a response until a whole request head has arrived, so it
//!   cuts off both trickled heads (slowloris) and idle keep-alive connections.
//! - **Request bodies**: each must arrive whole within `server.body_read_timeout_secs` of its head.
//!   A late body fails the handler's read, and the answer becomes `408 request_timeout`.
//! - **Lingering close**: a handler that answers without reading the whole body (a 413) makes hyper
//!   end the connection. Closing a socket with unread input sends a reset, which destroys the
//!   answer on its way to the client; so the listener first half-closes, then reads and discards
//!   what the client still sends, within [`LINGER_BYTES`] and [`LINGER_TIME`], before closing.
//!
//! - **Draining**: when the server stops (`SIGTERM`), readiness goes false at once: every request
//!   but `/healthz`, `/readyz` included, is answered `503 draining` with `Connection: close`, on
//!   connections open before and accepted after alike. Idle connections are closed; requests in
//!   flight, streams included, run to their end within `server.drain_timeout_secs`, after which
//!   those still running are cut (their context meters them as cut). The listener returns once
//!   every connection has ended, and the server then flushes usage and audit.
//!
//! The connection's own state lives in one [`Exchange`] per connection, shared with its requests'
//! bodies; the common request (a body that arrived with its head) sets no timer and allocates
//! nothing beyond what hyper and axum already do.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse as _, Response};
use bytes::Bytes;
use configuration::ServerConfig;
use http::{HeaderValue, Request, StatusCode, header};
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::Service as _;

/// The most a lingering close reads and discards before it gives up and closes anyway.
pub const LINGER_BYTES: usize = 64 * 1024 * 1024;
/// The longest a lingering close waits for the client to finish sending.
pub const LINGER_TIME: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `stop` resolves, then drains (see the module's docs) and returns
/// once every connection has ended, or has been cut at the drain's deadline.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &ServerConfig,
    stop: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let (closing, closed) = watch::channel(());
    let draining = Arc::new(AtomicBool::new(false));
    let mut connections = tokio::task::JoinSet::new();
    let accept = |tcp: TcpStream, slot: OwnedSemaphorePermit, closing: watch::Receiver<()>| {
        // Nagle off: streamed tokens leave as soon as they are written.
        let _ = tcp.set_nodelay(true);
        let connection = Connection {
            http: http.clone(),
            app: app.clone(),
            body_read_timeout: limits.body_read_timeout,
            slot,
            closing,
            draining: Arc::clone(&draining),
        };
        connection.serve(tcp)
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            accepted = accept_within(&listener, &slots) => {
                if let Some((tcp, slot)) = accepted {
                    connections.spawn(accept(tcp, slot, closed.clone()));
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    // Draining: readiness off, idle connections closed, requests in flight finishing; newcomers
    // are answered `503 draining` on a connection of their own that the drain does not close.
    draining.store(true, Ordering::Relaxed);
    drop(closing);
    tracing::info!(
        connections = connections.len(),
        deadline_secs = limits.drain_timeout.as_secs(),
        "draining: /readyz answers 503, requests in flight finish"
    );
    let (_keep_open, stays_open) = watch::channel(());
    let deadline = tokio::time::sleep(limits.drain_timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            ended = connections.join_next() => if ended.is_none() { return },
            () = &mut deadline => break,
            Some((tcp, slot)) = accept_within(&listener, &slots) => {
                connections.spawn(accept(tcp, slot, stays_open.clone()));
            }
        }
    }
    tracing::warn!(
        connections = connections.len(),
        "drain deadline reached: cutting the requests still in flight"
    );
    // Dropping a request's future ends it through its context, which meters it as cut.
    connections.shutdown().await;
}

/// The next connection and its slot; `None` after a failed accept (paused for unless it was the
/// client's own failure) or a closed semaphore.
async fn accept_within(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> Option<(TcpStream, OwnedSemaphorePermit)> {
    let slot = Arc::clone(slots).acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((tcp, _)) => Some((tcp, slot)),
        Err(error) => {
            pause_after(error).await;
            None
        }
    }
}

/// Waits a moment after a failed accept, unless the failure was one client's own: out of file
/// descriptors, retrying at once would only spin.
async fn pause_after(error: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// One accepted connection and what it needs to serve its requests.
struct Connection {
    http: http1::Builder,
    app: Router,
    body_read_timeout: Duration,
    /// Held until the connection has ended, lingering included.
    slot: OwnedSemaphorePermit,
    /// Changes (or closes) when the server shuts down.
    closing: watch::Receiver<()>,
    /// Set when the server drains: every request but `/healthz` is answered `503 draining`.
    draining: Arc<AtomicBool>,
}

impl Connection {
    async fn serve(mut self, tcp: TcpStream) {
        let exchange = Arc::new(Exchange::default());
        let service = Edge {
            app: self.app,
            exchange: Arc::clone(&exchange),
            body_read_timeout: self.body_read_timeout,
            draining: self.draining,
        };
        let mut conn = self.http.serve_connection(TokioIo::new(tcp), service);
        let mut shutting_down = false;
        let ended = loop {
            tokio::select! {
                ended = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)) => break ended,
                _ = self.closing.changed(), if !shutting_down => {
                    // Ends the connection after the request in flight, or at once when idle.
                    shutting_down = true;
                    Pin::new(&mut conn).graceful_shutdown();
                }
            }
        };
        let tcp = conn.into_parts().io.into_inner();
        match ended {
            Ok(()) if exchange.left_body_unread() => linger(tcp).await,
            // A header timeout, a parse error or a clean end: nothing to wait for.
            Ok(()) | Err(_) => {}
        }
        drop(self.slot);
    }
}

/// Half-closes, then reads and discards what the client still sends, so that closing does not
/// reset the connection under the answer it has not read yet.
async fn linger(mut tcp: TcpStream) {
    if tcp.shutdown().await.is_err() {
        return;
    }
    let mut discard = [0u8; 16 * 1024];
    let mut left = LINGER_BYTES;
    let _ = tokio::time::timeout(LINGER_TIME, async {
        while left > 0 {
            match tcp.read(&mut discard).await {
                Ok(0) | Err(_) => break,
                Ok(read) => left = left.saturating_sub(read),
            }
        }
    })
    .await;
}

/// What a connection's current request did with its body, as its body and its answer see it.
#[derive(Debug, Default)]
struct Exchange {
    /// The body has bytes the handler has not read (yet).
    body_unread: AtomicBool,
    /// The body missed its deadline.
    body_late: AtomicBool,
}

impl Exchange {
    fn left_body_unread(&self) -> bool {
        self.body_unread.load(Ordering::Relaxed) && !self.body_late.load(Ordering::Relaxed)
    }
}

/// The per-connection service: gives each request body its deadline, then calls the router.
struct Edge {
    app: Router,
    exchange: Arc<Exchange>,
    body_read_timeout: Duration,
    draining: Arc<AtomicBool>,
}

impl hyper::service::Service<Request<Incoming>> for Edge {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, request: Request<Incoming>) -> Answer {
        let has_body = !request.body().is_end_stream();
        self.exchange.body_unread.store(has_body, Ordering::Relaxed);
        self.exchange.body_late.store(false, Ordering::Relaxed);
        if self.draining.load(Ordering::Relaxed) && request.uri().path() != "/healthz" {
            return Answer {
                routed: None,
                late: None,
            };
        }
        let mut late = None;
        let request = match has_body {
            false => request.map(Body::new),
            true => {
                late = Some(Late {
                    exchange: Arc::clone(&self.exchange),
                    scim: request.uri().path().starts_with("/scim/"),
                    timeout: self.body_read_timeout,
                });
                let deadline = Instant::now() + self.body_read_timeout;
                let exchange = Arc::clone(&self.exchange);
                request.map(|body| {
                    Body::new(DeadlineBody {
                        body,
                        deadline,
                        timer: None,
                        exchange,
                    })
                })
            }
        };
        Answer {
            routed: Some(self.app.clone().call(request)),
            late,
        }
    }
}

/// The router's answer, replaced by a `408` when the request's body missed its deadline; or, once
/// the server drains, `503 draining` without asking the router.
struct Answer {
    /// `None` once the server drains.
    routed: Option<axum::routing::future::RouteFuture<Infallible>>,
    late: Option<Late>,
}

/// What turns an answer into a `408`: the exchange that says the body was late, and how to say it.
struct Late {
    exchange: Arc<Exchange>,
    scim: bool,
    timeout: Duration,
}

impl Future for Answer {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(routed) = &mut this.routed else {
            return Poll::Ready(Ok(draining()));
        };
        let response = ready!(Pin::new(routed).poll(cx))?;
        Poll::Ready(Ok(match &this.late {
            Some(late) if late.exchange.body_late.load(Ordering::Relaxed) => late.answer(),
            _ => response,
        }))
    }
}

/// What a draining server answers every request but `/healthz`, `/readyz` included, so that load
/// balancers and clients take the request elsewhere; the connection closes after it.
fn draining() -> Response {
    let mut response = gateway::json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        wire::ErrorType::Server,
        "draining",
        "this replica is shutting down; retry the request, another replica will answer it",
    );
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

impl Late {
    /// `408` in the API's own error format; the connection closes after it.
    fn answer(&self) -> Response {
        let detail = format!(
            "the request body did not arrive within {} s (`server.body_read_timeout_secs`)",
            self.timeout.as_secs()
        );
        let mut response = match self.scim {
            true => scim::ScimError {
                status: StatusCode::REQUEST_TIMEOUT,
                scim_type: None,
                detail,
            }
            .into_response(),
            false => gateway::json_error(
                StatusCode::REQUEST_TIMEOUT,
                wire::ErrorType::InvalidRequest,
                "request_timeout",
                detail,
            ),
        };
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    }
}

/// A request body that fails once its deadline passes. The timer is set only when the body makes
/// the handler wait: a body that came with its head never needs one.
struct DeadlineBody {
    body: Incoming,
    deadline: Instant,
    timer: Option<Pin<Box<Sleep>>>,
    exchange: Arc<Exchange>,
}

/// The error a late body gives its reader.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyLate;

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => {
                if frame.is_none() || this.body.is_end_stream() {
                    this.exchange.body_unread.store(false, Ordering::Relaxed);
                }
                Poll::Ready(frame.map(|frame| frame.map_err(axum::BoxError::from)))
            }
            Poll::Pending => {
                let deadline = this.deadline;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                ready!(timer.as_mut().poll(cx));
                this.exchange.body_late.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(BodyLate.into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
