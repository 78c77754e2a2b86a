//! A TCP relay on loopback between a server and a service it depends on (PostgreSQL, say), which a
//! test cuts and restores: the service becomes unreachable for the server alone, while it keeps
//! running for everyone else. Cut, the relay stops listening (new connections are refused) and
//! resets every open one (`SO_LINGER` 0, so the peer reads a reset, not an orderly end);
//! restored, it listens again on the same address and relays new connections. It can also lose
//! one answer ([`Relay::lose_answer`]): what a cut at the worst moment does, the request done by
//! the service and its answer never delivered. Silenced ([`Relay::silence_at`]), it is a firewall
//! dropping packets: it accepts connections and holds them, forwards nothing either way, and keeps
//! every open connection open and silent, also once restored (only new ones are relayed again).

use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The relay's state as its tasks report it.
#[derive(Debug, Clone, Copy, Default)]
struct Status {
    listening: bool,
    /// Connections relayed and still open.
    open: usize,
    /// Answers dropped by a trap set with [`Relay::lose_answer`].
    lost: u64,
    /// Client sends swallowed by silenced connections.
    swallowed: u64,
}

/// What the next answer to lose follows: a connection that sent `first`, then `then`.
type Trap = Arc<Mutex<Option<(&'static [u8], &'static [u8])>>>;

/// What every connection's task shares.
#[derive(Clone)]
struct Shared {
    upstream: SocketAddr,
    cut: watch::Receiver<bool>,
    silent: Arc<watch::Sender<bool>>,
    status: watch::Sender<Status>,
    trap: Trap,
    /// What a client sends that silences the relay, before it reaches the service.
    silence_at: Arc<Mutex<Option<&'static [u8]>>>,
}

/// A relay to `upstream`, listening on [`Relay::addr`] until dropped.
pub struct Relay {
    pub addr: SocketAddr,
    cut: watch::Sender<bool>,
    silent: Arc<watch::Sender<bool>>,
    status: watch::Receiver<Status>,
    trap: Trap,
    silence_at: Arc<Mutex<Option<&'static [u8]>>>,
    task: JoinHandle<()>,
}

impl Relay {
    /// Starts relaying a free loopback port to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Relay {
        let listener = listen(SocketAddr::from(([127, 0, 0, 1], 0)));
        let addr = listener.local_addr().unwrap();
        let (cut, cut_rx) = watch::channel(false);
        let silent = Arc::new(watch::Sender::new(false));
        let silence_at = Arc::default();
        let (status_tx, status) = watch::channel(Status {
            listening: true,
            ..Status::default()
        });
        let trap = Trap::default();
        let shared = Shared {
            upstream,
            cut: cut_rx,
            silent: Arc::clone(&silent),
            status: status_tx,
            trap: Arc::clone(&trap),
            silence_at: Arc::clone(&silence_at),
        };
        let task = tokio::spawn(serve(listener, shared));
        Relay {
            addr,
            cut,
            silent,
            status,
            trap,
            silence_at,
            task,
        }
    }

    /// Starts relaying a free loopback port to the host and port of `url` (a database URL).
    pub async fn start_to(url: &str) -> Relay {
        let parsed = reqwest::Url::parse(url).unwrap();
        let host = parsed.host_str().unwrap().to_owned();
        let port = parsed.port().unwrap_or(5432);
        let upstream = tokio::net::lookup_host((host, port))
            .await
            .unwrap()
            .find(SocketAddr::is_ipv4)
            .expect("an IPv4 address");
        Relay::start(upstream).await
    }

    /// `url` (a database URL, say) with its host and port replaced by the relay's.
    pub fn url(&self, url: &str) -> String {
        let mut url = reqwest::Url::parse(url).unwrap();
        url.set_host(Some(&self.addr.ip().to_string())).unwrap();
        url.set_port(Some(self.addr.port())).unwrap();
        url.into()
    }

    /// Cuts: returns once nothing listens and every relayed connection is reset.
    pub async fn cut(&mut self) {
        self.cut.send_replace(true);
        let mut status = self.status.clone();
        status
            .wait_for(|s| !s.listening && s.open == 0)
            .await
            .unwrap();
    }

    /// Silences the relay when a client next sends `pattern` (a statement in a transaction, say),
    /// which never reaches the service: from then on nothing reaches either end of any connection,
    /// open or new, and none is closed. [`Relay::swallowed`] waits for it.
    pub fn silence_at(&self, pattern: &'static [u8]) {
        *self.silence_at.lock() = Some(pattern);
    }

    /// Waits until the relay is silent and a client sent something into the silence.
    pub async fn swallowed(&self) {
        let mut status = self.status.clone();
        status.wait_for(|s| s.swallowed > 0).await.unwrap();
    }

    /// Restores: returns once the relay listens again and relays new connections. Connections
    /// silenced stay silent.
    pub async fn restore(&mut self) {
        self.silent.send_replace(false);
        self.cut.send_replace(false);
        let mut status = self.status.clone();
        status.wait_for(|s| s.listening).await.unwrap();
    }

    /// Sets a trap for the next connection whose client sends `first` and then `then` (a
    /// statement, then `COMMIT`): both reach the service, but nothing it answers from then on
    /// reaches the client. [`Relay::answer_lost`] waits for the first answer so dropped.
    pub fn lose_answer(&self, first: &'static [u8], then: &'static [u8]) {
        *self.trap.lock() = Some((first, then));
    }

    /// Waits until the service answered a trapped request, and the answer was dropped.
    pub async fn answer_lost(&self) {
        let lost = self.status.borrow().lost;
        let mut status = self.status.clone();
        status.wait_for(|s| s.lost > lost).await.unwrap();
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A listener on `addr`, which may have been left a moment ago (`SO_REUSEADDR`).
fn listen(addr: SocketAddr) -> TcpListener {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(addr).unwrap();
    socket.listen(128).unwrap()
}

/// Accepts and relays until cut, then waits to be restored, over and over.
async fn serve(mut listener: TcpListener, shared: Shared) {
    let addr = listener.local_addr().unwrap();
    let mut cut = shared.cut.clone();
    loop {
        let cut_now = tokio::select! {
            accepted = listener.accept() => {
                if let Ok((client, _)) = accepted {
                    shared.status.send_modify(|s| s.open += 1);
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        pipe(client, &shared).await;
                        shared.status.send_modify(|s| s.open -= 1);
                    });
                }
                false
            }
            cut_now = cut.wait_for(|cut| *cut) => cut_now.is_ok(),
        };
        if !cut_now {
            continue;
        }
        drop(listener);
        shared.status.send_modify(|s| s.listening = false);
        if cut.wait_for(|cut| !*cut).await.is_err() {
            return;
        }
        listener = listen(addr);
        shared.status.send_modify(|s| s.listening = true);
    }
}

/// Relays one connection both ways until either end closes it or the relay is cut, which resets
/// both ends; silenced, holds it open until the cut.
async fn pipe(client: TcpStream, shared: &Shared) {
    if *shared.silent.borrow() {
        return hold(client, None, shared).await;
    }
    let Ok(server) = TcpStream::connect(shared.upstream).await else {
        let _ = client.set_zero_linger();
        return;
    };
    let (mut client_in, mut client_out) = client.into_split();
    let (mut server_in, mut server_out) = server.into_split();
    let deaf = watch::Sender::new(false);
    let up = async {
        let mut progress = 0;
        let mut buffer = vec![0; 64 * 1024];
        while let Ok(read @ 1..) = client_in.read(&mut buffer).await {
            let bytes = &buffer[..read];
            progress = trapped(&shared.trap, progress, bytes, &deaf);
            if silences(shared, bytes) {
                // Held back; the silence takes the connection over.
                std::future::pending::<()>().await;
            }
            if server_out.write_all(bytes).await.is_err() {
                return;
            }
        }
    };
    let down = async {
        let mut buffer = vec![0; 64 * 1024];
        while let Ok(read @ 1..) = server_in.read(&mut buffer).await {
            if *deaf.borrow() {
                shared.status.send_modify(|s| s.lost += 1);
                // Nothing more reaches the client; the connection waits for the cut.
                std::future::pending::<()>().await;
            }
            if client_out.write_all(&buffer[..read]).await.is_err() {
                return;
            }
        }
    };
    let mut cut = shared.cut.clone();
    let mut silent = shared.silent.subscribe();
    let silenced = tokio::select! {
        () = up => false,
        () = down => false,
        _ = cut.wait_for(|cut| *cut) => {
            let _ = client_in.as_ref().set_zero_linger();
            let _ = server_in.as_ref().set_zero_linger();
            false
        }
        _ = silent.wait_for(|silent| *silent) => true,
    };
    if silenced {
        let client = client_in.reunite(client_out).unwrap();
        let server = server_in.reunite(server_out).unwrap();
        hold(client, Some(server), shared).await;
    }
}

/// A silenced connection: what the client sends is read and dropped, nothing is answered, both
/// ends stay open until the cut resets them.
async fn hold(mut client: TcpStream, server: Option<TcpStream>, shared: &Shared) {
    let swallow = async {
        let mut buffer = vec![0; 64 * 1024];
        while let Ok(1..) = client.read(&mut buffer).await {
            shared.status.send_modify(|s| s.swallowed += 1);
        }
        // The client closed its end; this one stays open, as a lost peer's would.
        std::future::pending::<()>().await;
    };
    let mut cut = shared.cut.clone();
    tokio::select! {
        () = swallow => {}
        _ = cut.wait_for(|cut| *cut) => {
            let _ = client.set_zero_linger();
            if let Some(server) = &server {
                let _ = server.set_zero_linger();
            }
        }
    }
}

/// Whether `bytes` hold what silences the relay: then it is silent, and they are swallowed.
fn silences(shared: &Shared, bytes: &[u8]) -> bool {
    let mut silence_at = shared.silence_at.lock();
    let Some(pattern) = *silence_at else {
        return false;
    };
    if !bytes.windows(pattern.len()).any(|w| w == pattern) {
        return false;
    }
    *silence_at = None;
    shared.status.send_modify(|s| s.swallowed += 1);
    shared.silent.send_replace(true);
    true
}

/// How far this connection is through the trap (0: nothing seen, 1: `first` seen); sets `deaf`
/// and clears the trap when `bytes` complete it.
fn trapped(trap: &Trap, progress: u8, bytes: &[u8], deaf: &watch::Sender<bool>) -> u8 {
    let contains = |pattern: &[u8]| bytes.windows(pattern.len()).any(|w| w == pattern);
    let mut trap = trap.lock();
    let Some((first, then)) = *trap else {
        return progress;
    };
    let progress = progress.max(u8::from(contains(first)));
    if progress == 1 && contains(then) {
        *trap = None;
        deaf.send_replace(true);
    }
    progress
}
