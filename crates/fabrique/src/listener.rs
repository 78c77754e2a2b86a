//! The listener: accepts connections and serves HTTP/1.1 on them within the edge's limits, so no
//! client can hold the server by being slow.
//!
//! - **Threads**: `server.listener_threads` threads (one per core by default), each with its own
//!   socket on the port and its own single-threaded runtime ([`start`]). A request never leaves
//!   the thread that accepted its connection, and neither does its backend call (one connection
//!   pool per thread): at one request at a time a hop then costs two sleeps, like nginx's.
//! - **Connections**: at most `server.max_connections` at once, shared out among the threads.
//!   Past its share a thread stops accepting, and new connections the kernel gave its socket wait
//!   in the backlog until one of its connections ends.
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
//! The connection's own state lives in one [`Exchange`] per connection, shared with its requests'
//! bodies; the common request (a body that arrived with its head) sets no timer and allocates
//! nothing beyond what hyper and axum already do.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
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
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot, watch};
use tokio::time::{Instant, Sleep};
use tower::Service as _;

/// The most a lingering close reads and discards before it gives up and closes anyway.
pub const LINGER_BYTES: usize = 64 * 1024 * 1024;
/// The longest a lingering close waits for the client to finish sending.
pub const LINGER_TIME: Duration = Duration::from_secs(10);

/// The listening sockets, bound before anything is served so that a port in use fails the start.
pub struct Sockets {
    listeners: Vec<std::net::TcpListener>,
    addr: SocketAddr,
}

impl Sockets {
    /// Binds `count` sockets to `addr` with `SO_REUSEPORT`, so that the kernel spreads new
    /// connections among them; with port 0, the first picks the port and the others share it.
    pub fn bind(addr: SocketAddr, count: usize) -> io::Result<Sockets> {
        let first = listening_socket(addr)?;
        let addr = first.local_addr()?;
        let mut listeners = vec![first];
        while listeners.len() < count {
            listeners.push(listening_socket(addr)?);
        }
        Ok(Sockets { listeners, addr })
    }

    /// The address actually bound (its port when the configuration asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

fn listening_socket(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// The kernel's queue of connections not accepted yet, per socket.
const BACKLOG: i32 = 1024;

/// The listener threads at work, until [`Listening::stop`].
pub struct Listening {
    stop: watch::Sender<bool>,
    threads: Vec<Thread>,
    /// Dropped to tell every connection the server is shutting down.
    closing: watch::Sender<()>,
}

/// One listener thread, as the server sees it.
struct Thread {
    /// Sent when the thread has stopped accepting.
    accepting_ended: oneshot::Receiver<()>,
    /// Its share of `max_connections`, one slot per connection it serves.
    slots: Arc<Semaphore>,
    share: usize,
}

/// Serves `app` with one thread per socket, each running its own single-threaded runtime, as
/// nginx's workers and pingora's do: a connection, its requests and the upstream connections they
/// use (one pool per thread, `upstream::UpstreamClient`) stay on the thread that accepted it, so a
/// request wakes no other thread. The threads serve until [`Listening::stop`], then stay until
/// `release` closes: database connections opened while serving belong to their runtime, and the
/// writers still use them when the server flushes what its last requests left.
pub fn start(
    sockets: Sockets,
    app: Router,
    limits: &ServerConfig,
    release: watch::Receiver<()>,
) -> io::Result<Listening> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let (closing, closed) = watch::channel(());
    let (stop, stopping) = watch::channel(false);
    let shares = connection_shares(limits.max_connections, sockets.listeners.len());
    let mut threads = Vec::with_capacity(shares.len());
    for (index, (socket, share)) in sockets.listeners.into_iter().zip(shares).enumerate() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (accepted, accepting_ended) = oneshot::channel();
        let slots = Arc::new(Semaphore::new(share));
        let acceptor = Acceptor {
            http: http.clone(),
            app: app.clone(),
            body_read_timeout: limits.body_read_timeout,
            slots: Arc::clone(&slots),
            closing: closed.clone(),
        };
        let mut stopping = stopping.clone();
        let mut release = release.clone();
        std::thread::Builder::new()
            .name(format!("fabrique-listener-{index}"))
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(socket) {
                        Ok(listener) => {
                            let stop = async move {
                                let _ = stopping.wait_for(|stop| *stop).await;
                            };
                            acceptor.accept(listener, stop).await;
                        }
                        Err(error) => tracing::error!(%error, "a listener thread cannot listen"),
                    }
                    let _ = accepted.send(());
                    // Its connections end on this runtime; then it waits for the release.
                    let _ = release.changed().await;
                });
            })?;
        threads.push(Thread {
            accepting_ended,
            slots,
            share,
        });
    }
    Ok(Listening {
        stop,
        threads,
        closing,
    })
}

/// `max_connections` shared out among the threads, none left without one: the kernel hands each
/// new connection to one socket, and only that socket's thread may take it, so each thread holds
/// its own share of the slots (as each nginx worker has its own `worker_connections`).
fn connection_shares(max_connections: usize, threads: usize) -> Vec<usize> {
    let threads = threads.clamp(1, max_connections.max(1));
    (0..threads)
        .map(|index| max_connections / threads + usize::from(index < max_connections % threads))
        .collect()
}

impl Listening {
    /// Stops accepting, lets every connection finish its request in flight, and returns once all
    /// have ended.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        for thread in &mut self.threads {
            let _ = (&mut thread.accepting_ended).await;
        }
        drop(self.closing);
        // Every connection holds a slot until it ends: all slots back means every connection ended.
        for thread in self.threads {
            let all = u32::try_from(thread.share).unwrap_or(u32::MAX);
            let _ = thread.slots.acquire_many(all).await;
        }
    }
}

/// What one listener thread needs to accept connections and serve them.
struct Acceptor {
    http: http1::Builder,
    app: Router,
    body_read_timeout: Duration,
    slots: Arc<Semaphore>,
    closing: watch::Receiver<()>,
}

impl Acceptor {
    /// Accepts connections, each within a slot, until `stop` resolves.
    async fn accept(self, listener: TcpListener, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let slot = tokio::select! {
                () = &mut stop => break,
                slot = Arc::clone(&self.slots).acquire_owned() => slot,
            };
            let Ok(slot) = slot else { break };
            let tcp = tokio::select! {
                () = &mut stop => break,
                accepted = listener.accept() => match accepted {
                    Ok((tcp, _)) => tcp,
                    Err(error) => {
                        pause_after(error).await;
                        continue;
                    }
                },
            };
            // Nagle off: streamed tokens leave as soon as they are written.
            let _ = tcp.set_nodelay(true);
            let connection = Connection {
                http: self.http.clone(),
                app: self.app.clone(),
                body_read_timeout: self.body_read_timeout,
                slot,
                closing: self.closing.clone(),
            };
            tokio::spawn(connection.serve(tcp));
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
}

impl Connection {
    async fn serve(mut self, tcp: TcpStream) {
        let exchange = Arc::new(Exchange::default());
        let service = Edge {
            app: self.app,
            exchange: Arc::clone(&exchange),
            body_read_timeout: self.body_read_timeout,
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
}

impl hyper::service::Service<Request<Incoming>> for Edge {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, request: Request<Incoming>) -> Answer {
        let has_body = !request.body().is_end_stream();
        self.exchange.body_unread.store(has_body, Ordering::Relaxed);
        self.exchange.body_late.store(false, Ordering::Relaxed);
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
            routed: self.app.clone().call(request),
            late,
        }
    }
}

/// The router's answer, replaced by a `408` when the request's body missed its deadline.
struct Answer {
    routed: axum::routing::future::RouteFuture<Infallible>,
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
        let response = ready!(Pin::new(&mut this.routed).poll(cx))?;
        Poll::Ready(Ok(match &this.late {
            Some(late) if late.exchange.body_late.load(Ordering::Relaxed) => late.answer(),
            _ => response,
        }))
    }
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

#[cfg(test)]
mod tests {
    use super::connection_shares;

    #[test]
    fn connection_slots_are_shared_out_exactly_and_no_thread_is_left_without_one() {
        assert_eq!(connection_shares(10, 3), [4, 3, 3]);
        assert_eq!(connection_shares(10_000, 2), [5_000, 5_000]);
        assert_eq!(connection_shares(1, 4), [1], "one slot, one thread");
        assert_eq!(connection_shares(3, 8).iter().sum::<usize>(), 3);
    }
}
