//! Serving the simulator over TCP: our own accept loop, so that stopping the server also drops every
//! open connection (a backend that goes away must look gone to the gateway's keep-alive pool), and so
//! each accepted socket gets TCP_NODELAY (stream chunks must not wait for Nagle).

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::Simulator;

/// Serves `sim` on `listener` until this future is dropped or its task aborted, which closes the
/// listener and every connection at once.
pub async fn serve(listener: TcpListener, sim: Simulator) -> io::Result<()> {
    let service = TowerToHyperService::new(sim.router());
    // Owning the connection tasks here is what makes dropping this future close them all.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(error) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(%error, "simulator could not accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(%error, "simulator could not set TCP_NODELAY");
                }
                let service = service.clone();
                connections.spawn(async move {
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    if let Err(error) = connection.await {
                        // Clients hanging up mid-request and injected disconnects end up here.
                        tracing::debug!(%error, "simulator connection ended with an error");
                    }
                });
            }
            // Reaps finished connections so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Binds `127.0.0.1:0` and serves `sim` on a spawned task: the embedded default backend and tests.
pub async fn spawn(sim: Simulator) -> io::Result<RunningSim> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(serve(listener, sim.clone()));
    Ok(RunningSim {
        addr,
        simulator: sim,
        task,
    })
}

/// A simulator serving on a local port. Dropping it stops the server and closes its connections.
#[derive(Debug)]
pub struct RunningSim {
    pub addr: SocketAddr,
    simulator: Simulator,
    task: JoinHandle<io::Result<()>>,
}

impl RunningSim {
    /// The OpenAI base URL, `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The simulator being served, for its stats and faults.
    pub fn simulator(&self) -> &Simulator {
        &self.simulator
    }

    /// Stops serving without waiting.
    pub fn abort(&self) {
        self.task.abort();
    }

    /// Stops serving and waits until the listener and every connection are closed.
    pub async fn shutdown(mut self) {
        self.task.abort();
        // The outcome is known: aborted (or, never, finished); either way the server is gone.
        let _ = (&mut self.task).await;
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}
