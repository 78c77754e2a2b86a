//! The listener: accepts connections and serves HTTP/1.1 and, when `server.http2` is on, HTTP/2
//! with prior knowledge (h2c) on them within the edge's limits, so no client can hold the server
//! by being slow.
//!
//! - **Protocols**: a connection that opens with HTTP/2's preface (RFC 9113 §3.4) is served as
//!   HTTP/2, any other as HTTP/1.1; the first bytes read to tell are replayed to the protocol's
//!   parser. Every request, of either, goes through the same [`Edge`] to the same router, so
//!   authentication, metering and audit do not know which it came by. HTTP/2 is for the proxies
//!   in front (Envoy, Istio sidecars): many streams on a few connections, so a replica holds about
//!   one file descriptor per open stream instead of two.
//! - **Connections**: at most `server.max_connections` at once, of either protocol. Past it the
//!   listener stops accepting and new connections wait in the kernel's backlog until one ends. An
//!   HTTP/2 connection carries at most `server.http2_max_concurrent_streams` requests at once.
//! - **Request heads**: hyper's header timer (`server.header_read_timeout_secs`) runs from the
//!   moment a connection opens or finishes a response until a whole request head has arrived, so it
//!   cuts off both trickled heads (slowloris) and idle keep-alive connections. On HTTP/2 the same
//!   time bounds the connection's preface; an idle HTTP/2 connection is a proxy's pool and stays
//!   open, pinged every `header_read_timeout_secs`, closed when its peer stops answering.
//! - **Request bodies**: each must arrive whole within `server.body_read_timeout_secs` of its head.
//!   A late body fails the handler's read, and the answer becomes `408 request_timeout`. On
//!   HTTP/2 each stream has its own deadline and its own `408`; the other streams go on.
//! - **Lingering close** (HTTP/1.1 only): a handler that answers without reading the whole body (a
//!   413) makes hyper end the connection. Closing a socket with unread input sends a reset, which
//!   destroys the answer on its way to the client; so the listener first half-closes, then reads
//!   and discards what the client still sends, within [`LINGER_BYTES`] and [`LINGER_TIME`], before
//!   closing. HTTP/2 needs none: hyper sends the answer, then resets that stream alone
//!   (`RST_STREAM`), and the connection and its other streams go on.
//!
//! - **Draining**: when the server stops (`SIGTERM`), readiness goes false at once: every request
//!   but `/healthz`, `/readyz` included, is answered `503 draining` with `Connection: close`, on
//!   connections open before and accepted after alike. Idle connections are closed (HTTP/2 ones
//!   sent `GOAWAY`, so the proxy opens its next streams elsewhere); requests in flight, streams
//!   included, run to their end within `server.drain_timeout_secs`, after which those still
//!   running are cut (their context meters them as cut). The listener returns once every
//!   connection has ended, and the server then flushes usage and audit.
//!
//! What a request did with its body lives in an [`Exchange`]: one per HTTP/1.1 connection (one
//! request at a time, and the lingering close needs the last one's), shared with its requests'
//! bodies, so the common request (a body that arrived with its head) sets no timer and allocates
//! nothing beyond what hyper and axum already do; one per HTTP/2 stream that has a body, since
//! streams run at once.

use std::convert::Infallible;
use std::future::Future;
use std::io;
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
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::Service as _;

/// The most a lingering close reads and discards before it gives up and closes anyway.
pub const LINGER_BYTES: usize = 64 * 1024 * 1024;
/// The longest a lingering close waits for the client to finish sending.
pub const LINGER_TIME: Duration = Duration::from_secs(10);
/// What an HTTP/2 client with prior knowledge sends first (RFC 9113 §3.4).
const HTTP2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Serves `app` on `listener` until `stop` resolves, then drains (see the module's docs) and returns
/// once every connection has ended, or has been cut at the drain's deadline.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &ServerConfig,
    stop: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let protocols = Protocols::new(limits);
    let (closing, closed) = watch::channel(());
    let draining = Arc::new(AtomicBool::new(false));
    let mut connections = tokio::task::JoinSet::new();
    let accept = |tcp: TcpStream, slot: OwnedSemaphorePermit, closing: watch::Receiver<()>| {
        // Nagle off: streamed tokens leave as soon as they are written.
        let _ = tcp.set_nodelay(true);
        let connection = Connection {
            protocols: protocols.clone(),
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

/// How connections are served: HTTP/1.1 always, HTTP/2 unless `server.http2` is off.
#[derive(Clone)]
struct Protocols {
    http1: http1::Builder,
    http2: Option<http2::Builder<TokioExecutor>>,
    /// How long a connection has to show which protocol it speaks.
    preface_timeout: Duration,
}

impl Protocols {
    fn new(limits: &ServerConfig) -> Protocols {
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout);
        let http2 = limits.http2.then(|| {
            let mut http2 = http2::Builder::new(TokioExecutor::new());
            http2
                .timer(TokioTimer::new())
                .max_concurrent_streams(limits.http2_max_concurrent_streams)
                .keep_alive_interval(limits.header_read_timeout);
            http2
        });
        Protocols {
            http1,
            http2,
            preface_timeout: limits.header_read_timeout,
        }
    }
}

/// One accepted connection and what it needs to serve its requests.
struct Connection {
    protocols: Protocols,
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
        let mut opened = Opened::new(tcp);
        let http2 = match self.protocols.http2.take() {
            None => None,
            Some(http2) => {
                let preface =
                    tokio::time::timeout(self.protocols.preface_timeout, opened.preface());
                match preface.await {
                    Ok(Ok(true)) => Some(http2),
                    Ok(Ok(false)) => None,
                    // Silent or broken before it asked anything: nothing to answer.
                    Ok(Err(_)) | Err(_) => return,
                }
            }
        };
        match http2 {
            Some(http2) => self.serve_http2(&http2, opened).await,
            None => self.serve_http1(opened).await,
        }
        drop(self.slot);
    }

    async fn serve_http1(&mut self, opened: Opened) {
        let exchange = Arc::new(Exchange::default());
        let service = self.edge(Exchanges::Connection(Arc::clone(&exchange)));
        let mut conn = self
            .protocols
            .http1
            .serve_connection(TokioIo::new(opened), service);
        let ended = until_ended(
            &mut conn,
            &mut self.closing,
            |conn, cx| conn.poll_without_shutdown(cx),
            // Ends the connection after the request in flight, or at once when idle.
            |conn| Pin::new(conn).graceful_shutdown(),
        )
        .await;
        let tcp = conn.into_parts().io.into_inner().tcp;
        match ended {
            Ok(()) if exchange.left_body_unread() => linger(tcp).await,
            // A header timeout, a parse error or a clean end: nothing to wait for.
            Ok(()) | Err(_) => {}
        }
    }

    async fn serve_http2(&mut self, http2: &http2::Builder<TokioExecutor>, opened: Opened) {
        let service = self.edge(Exchanges::PerStream);
        let mut conn = Box::pin(http2.serve_connection(TokioIo::new(opened), service));
        // An error is a peer that broke the protocol or went away: its streams ended with it.
        let _ = until_ended(
            &mut conn,
            &mut self.closing,
            |conn, cx| conn.as_mut().poll(cx),
            // `GOAWAY`: no new streams, those in flight run to their end.
            |conn| conn.as_mut().graceful_shutdown(),
        )
        .await;
    }

    fn edge(&self, exchanges: Exchanges) -> Edge {
        Edge {
            app: self.app.clone(),
            exchanges,
            body_read_timeout: self.body_read_timeout,
            draining: Arc::clone(&self.draining),
        }
    }
}

/// Drives `conn` to its end, asking it to shut down gracefully once the server closes.
async fn until_ended<C>(
    conn: &mut C,
    closing: &mut watch::Receiver<()>,
    poll: fn(&mut C, &mut Context<'_>) -> Poll<hyper::Result<()>>,
    shut_down: fn(&mut C),
) -> hyper::Result<()> {
    let mut shutting_down = false;
    loop {
        tokio::select! {
            ended = std::future::poll_fn(|cx| poll(conn, cx)) => return ended,
            _ = closing.changed(), if !shutting_down => {
                shutting_down = true;
                shut_down(conn);
            }
        }
    }
}

/// An accepted connection, with the first bytes read to tell its protocol, which it gives its
/// reader again before the rest.
struct Opened {
    tcp: TcpStream,
    first: [u8; HTTP2_PREFACE.len()],
    read: usize,
    replayed: usize,
}

impl Opened {
    fn new(tcp: TcpStream) -> Opened {
        Opened {
            tcp,
            first: [0; HTTP2_PREFACE.len()],
            read: 0,
            replayed: 0,
        }
    }

    /// Whether the connection opens with HTTP/2's preface. Reads until its bytes differ from it,
    /// which an HTTP/1.1 request's do within its method, or make it whole; a connection that
    /// ends first is left to HTTP/1.1 to close.
    async fn preface(&mut self) -> io::Result<bool> {
        while self.read < HTTP2_PREFACE.len()
            && self.first[..self.read] == HTTP2_PREFACE[..self.read]
        {
            match self.tcp.read(&mut self.first[self.read..]).await? {
                0 => return Ok(false),
                read => self.read += read,
            }
        }
        Ok(self.first == *HTTP2_PREFACE)
    }
}

impl AsyncRead for Opened {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.replayed < this.read {
            let replay = (this.read - this.replayed).min(buf.remaining());
            buf.put_slice(&this.first[this.replayed..this.replayed + replay]);
            this.replayed += replay;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Opened {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
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

/// Where a connection's requests keep their [`Exchange`].
enum Exchanges {
    /// HTTP/1.1: one request at a time, so one for the connection, which reads the last
    /// request's after the connection ends to decide on a lingering close.
    Connection(Arc<Exchange>),
    /// HTTP/2: streams run at once, so one of its own for each request with a body; nothing reads
    /// `body_unread`, since an unread body needs no lingering close there.
    PerStream,
}

impl Exchanges {
    /// The exchange a request's body and answer share, when it has a body.
    fn for_request(&self, has_body: bool) -> Option<Arc<Exchange>> {
        match self {
            Exchanges::Connection(exchange) => {
                exchange.body_unread.store(has_body, Ordering::Relaxed);
                exchange.body_late.store(false, Ordering::Relaxed);
                has_body.then(|| Arc::clone(exchange))
            }
            Exchanges::PerStream => has_body.then(Arc::default),
        }
    }
}

/// The per-connection service: gives each request body its deadline, then calls the router.
struct Edge {
    app: Router,
    exchanges: Exchanges,
    body_read_timeout: Duration,
    draining: Arc<AtomicBool>,
}

impl hyper::service::Service<Request<Incoming>> for Edge {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, request: Request<Incoming>) -> Answer {
        let exchange = self.exchanges.for_request(!request.body().is_end_stream());
        if self.draining.load(Ordering::Relaxed) && request.uri().path() != "/healthz" {
            return Answer {
                routed: None,
                late: None,
            };
        }
        let mut late = None;
        let request = match exchange {
            None => request.map(Body::new),
            Some(exchange) => {
                late = Some(Late {
                    exchange: Arc::clone(&exchange),
                    scim: request.uri().path().starts_with("/scim/"),
                    timeout: self.body_read_timeout,
                });
                let deadline = Instant::now() + self.body_read_timeout;
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
/// balancers and clients take the request elsewhere; an HTTP/1.1 connection closes after it (hyper
/// drops `Connection` on HTTP/2, whose `GOAWAY` says the same).
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
    /// `408` in the API's own error format; an HTTP/1.1 connection closes after it, an HTTP/2 one
    /// resets the stream alone.
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
