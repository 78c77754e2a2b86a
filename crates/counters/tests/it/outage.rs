//! Redis out of reach: hard budgets refuse, rate limits fall back to this replica's share, a
//! metric and a log line say so, and everything recovers once Redis answers again. The outage is
//! a real one: a loopback proxy in front of Redis that the test cuts and restores.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::*;

/// A TCP proxy to Redis that can be cut (every connection closed, new ones refused) and restored.
pub(super) struct Proxy {
    pub(super) url: String,
    open: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accepting: JoinHandle<()>,
}

impl Proxy {
    pub(super) async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accepting = tokio::spawn({
            let (open, connections) = (Arc::clone(&open), Arc::clone(&connections));
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if !open.load(Ordering::Acquire) {
                        continue;
                    }
                    let target = target.clone();
                    connections.lock().push(tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(target).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    }));
                }
            }
        });
        Proxy {
            url: format!("redis://{address}"),
            open,
            connections,
            accepting,
        }
    }

    pub(super) fn cut(&self) {
        self.open.store(false, Ordering::Release);
        for connection in self.connections.lock().drain(..) {
            connection.abort();
        }
    }

    pub(super) fn restore(&self) {
        self.open.store(true, Ordering::Release);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accepting.abort();
    }
}

/// `host:port` of the test Redis.
pub(super) fn redis_address() -> String {
    let url = redis_url();
    let rest = url.split("://").nth(1).unwrap_or("127.0.0.1:6379");
    rest.split('/').next().unwrap_or(rest).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_budgets_refuse_and_limits_fall_back_to_this_replicas_share() {
    // Nothing listens on port 1.
    let redis = config("redis://127.0.0.1:1".into(), &fresh_prefix("down"), 3);
    let replica = Replica::start(&redis);
    let (key, entity) = (
        Scope::Key(KeyId::generate()),
        Scope::Entity(EntityId::generate()),
    );
    replica.limit(&key, 7);
    replica.budget(&entity, 1_000);

    let budgeted = replica.admit(&[key.clone(), entity], 1).await;
    assert!(matches!(budgeted, Err(Denied::Unavailable)), "{budgeted:?}");
    // 7 a minute shared by 3 replicas: 3 here (rounded up).
    let mut admitted = 0;
    for _ in 0..10 {
        admitted += usize::from(replica.admit(std::slice::from_ref(&key), 0).await.is_ok());
    }
    assert_eq!(admitted, 3);
    assert_eq!(replica.metric("fabrique_shared_counters_up "), "0");
    assert_ne!(
        replica.metric("fabrique_shared_counters_failures_total "),
        "0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counting_returns_to_redis_by_itself_when_it_answers_again() {
    let proxy = Proxy::start(redis_address()).await;
    let redis = config(proxy.url.clone(), &fresh_prefix("recovery"), 2);
    let replica = Replica::start(&redis);
    let entity = Scope::Entity(EntityId::generate());
    replica.budget(&entity, 1_000);
    assert!(
        replica
            .admit(std::slice::from_ref(&entity), 10)
            .await
            .is_ok()
    );
    assert_eq!(replica.metric("fabrique_shared_counters_up "), "1");

    proxy.cut();
    let refused = replica.admit(std::slice::from_ref(&entity), 10).await;
    assert!(matches!(refused, Err(Denied::Unavailable)), "{refused:?}");
    assert_eq!(replica.metric("fabrique_shared_counters_up "), "0");

    proxy.restore();
    let start = Instant::now();
    // The connection is made again at a request's call: the first ones may still find it broken.
    loop {
        if replica
            .admit(std::slice::from_ref(&entity), 10)
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "Redis never used again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "counting returned to Redis {:?} after it answered again",
        start.elapsed()
    );
    assert_eq!(replica.metric("fabrique_shared_counters_up "), "1");
}
