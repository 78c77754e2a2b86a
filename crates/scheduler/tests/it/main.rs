//! The async pool under tokio's paused clock: waiting, timeouts, cancellation, capacity changes.
//! Time only moves when every task is idle, so nothing here depends on the machine's speed.

#![expect(clippy::unwrap_used, reason = "tests fail by panicking")]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use domain::EntityId;
use scheduler::{
    Dispatch, Pool, PoolSettings, Priority, Scheduler, Share, Shed, Ticket, WaitObserver,
};

fn pool(capacity: u32) -> Pool {
    Pool::new("gpu", PoolSettings::new(capacity), None).unwrap()
}

fn ticket(entity: EntityId, priority: Priority) -> Ticket {
    Ticket {
        entity,
        priority,
        input_tokens_estimate: 100,
        output_tokens_estimate: 100,
        max_wait: None,
    }
}

/// Polls a future once: `Pending` means it is waiting in line.
async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *future).poll(cx))).await
}

async fn hold(pool: &Pool, entity: EntityId, count: usize) -> Vec<Dispatch> {
    let mut held = Vec::new();
    for _ in 0..count {
        held.push(
            pool.admit(ticket(entity, Priority::Standard))
                .await
                .unwrap(),
        );
    }
    held
}

#[tokio::test(start_paused = true)]
async fn a_free_pool_dispatches_at_once_and_a_full_one_waits_for_a_release() {
    let pool = pool(2);
    let entity = EntityId::generate();
    let mut held = hold(&pool, entity, 2).await;
    assert_eq!(held[0].waited(), Duration::ZERO);
    let mut waiting = Box::pin(pool.admit(ticket(entity, Priority::Standard)));
    assert!(poll_once(&mut waiting).await.is_pending());
    assert_eq!(pool.snapshot().queued, 1);
    tokio::time::advance(Duration::from_secs(3)).await;
    held.pop().unwrap().settle(100, 10);
    let third = waiting.await.unwrap();
    assert_eq!(third.waited(), Duration::from_secs(3));
    let snapshot = pool.snapshot();
    assert_eq!((snapshot.in_flight, snapshot.queued), (2, 0));
    drop((held, third));
    assert_eq!(pool.snapshot().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_request_waiting_past_its_max_wait_is_shed_with_retry_after() {
    let pool = pool(1);
    let entity = EntityId::generate();
    let _held = hold(&pool, entity, 1).await;
    let mut impatient = ticket(entity, Priority::Interactive);
    impatient.max_wait = Some(Duration::from_secs(2));
    let started = tokio::time::Instant::now();
    let shed = pool.admit(impatient).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    // Nothing observed yet: one waiter × the initial 5 s service time ÷ 1 sequence.
    assert_eq!(
        shed,
        Shed::Timeout {
            retry_after: Duration::from_secs(5)
        }
    );
    let entity = pool.entity(entity).unwrap();
    assert_eq!((entity.timed_out, entity.queued_total()), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_waiter_leaves_the_line_and_the_next_one_proceeds() {
    let pool = pool(1);
    let (a, b) = (EntityId::generate(), EntityId::generate());
    let held = hold(&pool, a, 1).await;
    let mut gone = Box::pin(pool.admit(ticket(a, Priority::Interactive)));
    assert!(poll_once(&mut gone).await.is_pending());
    let next = tokio::spawn({
        let pool = pool.clone();
        async move { pool.admit(ticket(b, Priority::Standard)).await }
    });
    tokio::task::yield_now().await;
    assert_eq!(pool.snapshot().queued, 2);
    drop(gone);
    assert_eq!(pool.snapshot().queued, 1);
    drop(held);
    let next = next.await.unwrap().unwrap();
    assert_eq!(pool.snapshot().in_flight, 1);
    drop(next);
    let snapshot = pool.snapshot();
    assert_eq!((snapshot.in_flight, snapshot.queued), (0, 0));
    assert_eq!(pool.entity(a).unwrap().cancelled, 1);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_dropped_after_its_grant_was_sent_hands_the_sequence_on() {
    let pool = pool(1);
    let entity = EntityId::generate();
    let held = hold(&pool, entity, 1).await;
    let mut granted_then_dropped = Box::pin(pool.admit(ticket(entity, Priority::Standard)));
    assert!(poll_once(&mut granted_then_dropped).await.is_pending());
    let mut last = Box::pin(pool.admit(ticket(entity, Priority::Standard)));
    assert!(poll_once(&mut last).await.is_pending());
    // The release sends the sequence to the first waiter, which goes away before reading it.
    drop(held);
    assert_eq!(pool.snapshot().in_flight, 1);
    drop(granted_then_dropped);
    let last = last.await.unwrap();
    assert_eq!(pool.snapshot().in_flight, 1);
    drop(last);
    assert_eq!(pool.snapshot().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_full_line_refuses_with_queue_full() {
    let mut settings = PoolSettings::new(1);
    settings.max_queued = 1;
    let pool = Pool::new("gpu", settings, None).unwrap();
    let (heavy, light) = (EntityId::generate(), EntityId::generate());
    let _held = hold(&pool, heavy, 1).await;
    let mut pushed_out = Box::pin(pool.admit(ticket(heavy, Priority::Standard)));
    assert!(poll_once(&mut pushed_out).await.is_pending());
    let refused = pool
        .admit(ticket(heavy, Priority::Standard))
        .await
        .unwrap_err();
    assert!(matches!(refused, Shed::QueueFull { .. }));
    // Another entity's arrival pushes the heavy entity's waiter out of the full line.
    let mut light_waiter = Box::pin(pool.admit(ticket(light, Priority::Standard)));
    assert!(poll_once(&mut light_waiter).await.is_pending());
    let shed = pushed_out.await.unwrap_err();
    assert!(
        matches!(shed, Shed::QueueFull { retry_after } if retry_after >= Duration::from_secs(1))
    );
    assert_eq!(pool.snapshot().queued, 1);
}

#[tokio::test(start_paused = true)]
async fn zero_capacity_refuses_and_a_raise_serves_the_line() {
    let pool = pool(0);
    let entity = EntityId::generate();
    let refused = pool
        .admit(ticket(entity, Priority::Standard))
        .await
        .unwrap_err();
    assert_eq!(refused, Shed::NoCapacity);
    assert_eq!(refused.retry_after(), None);
    pool.set_capacity(1);
    let held = hold(&pool, entity, 1).await;
    let mut waiting = Box::pin(pool.admit(ticket(entity, Priority::Standard)));
    assert!(poll_once(&mut waiting).await.is_pending());
    // An endpoint came back: the waiter goes without anyone releasing.
    pool.set_capacity(2);
    let second = waiting.await.unwrap();
    assert_eq!(pool.snapshot().in_flight, 2);
    drop((held, second));
}

#[tokio::test(start_paused = true)]
async fn a_pool_whose_sequences_other_replicas_hold_waits_instead_of_refusing() {
    let pool = pool(4);
    let entity = EntityId::generate();
    // Every sequence of the endpoints is allotted to other replicas for now.
    pool.set_usable_capacity(0, 4);
    let mut waiting = Box::pin(pool.admit(ticket(entity, Priority::Standard)));
    assert!(poll_once(&mut waiting).await.is_pending());
    assert_eq!(pool.snapshot().queued, 1);
    // This replica's allotment grows: the waiter goes, and no more than the allotment does.
    pool.set_usable_capacity(1, 4);
    let first = waiting.await.unwrap();
    let mut second = Box::pin(pool.admit(ticket(entity, Priority::Standard)));
    assert!(poll_once(&mut second).await.is_pending());
    assert_eq!(pool.snapshot().in_flight, 1);
    // The endpoints go away altogether: a new request is refused at once.
    pool.set_usable_capacity(0, 0);
    let refused = pool.admit(ticket(entity, Priority::Standard)).await;
    assert_eq!(refused.unwrap_err(), Shed::NoCapacity);
    drop((first, second));
}

#[tokio::test(start_paused = true)]
async fn concurrent_entities_share_a_saturated_pool_by_weight() {
    let pool = pool(4);
    let (heavy, light) = (EntityId::generate(), EntityId::generate());
    pool.set_share(
        heavy,
        Share {
            weight: 3,
            min_share: 0.0,
        },
    )
    .unwrap();
    let served = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let mut tasks = Vec::new();
    // Each entity keeps 40 requests going; each request holds its sequence for one second.
    for (index, entity) in [heavy, light].into_iter().enumerate() {
        for _ in 0..40 {
            let (pool, served) = (pool.clone(), Arc::clone(&served));
            tasks.push(tokio::spawn(async move {
                for _ in 0..10 {
                    let mut request = ticket(entity, Priority::Batch);
                    request.max_wait = Some(Duration::from_secs(3600));
                    let dispatch = pool.admit(request).await.unwrap();
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    dispatch.settle(100, 100);
                    served[index].fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
    }
    // After 100 virtual seconds (400 sequences served), both still have work waiting.
    tokio::time::sleep(Duration::from_millis(100_500)).await;
    let (h, l) = (
        served[0].load(Ordering::Relaxed),
        served[1].load(Ordering::Relaxed),
    );
    assert_eq!(h + l, 400);
    assert!((h as f64 / 3.0 - l as f64).abs() <= 2.0, "{h} vs {l}");
    for task in tasks {
        task.abort();
    }
}

#[tokio::test(start_paused = true)]
async fn the_scheduler_finds_pools_by_name_and_reports_waits() {
    let observed = Arc::new(AtomicU64::new(0));
    let observer: WaitObserver = {
        let observed = Arc::clone(&observed);
        Arc::new(move |observation| {
            assert_eq!(observation.pool, "gpu-a");
            observed.fetch_add(1, Ordering::Relaxed);
        })
    };
    let pools = [
        ("gpu-a".to_owned(), PoolSettings::new(4)),
        ("gpu-b".to_owned(), PoolSettings::new(8)),
    ];
    let scheduler = Scheduler::new(pools, Some(observer)).unwrap();
    assert!(scheduler.pool("gpu-c").is_none());
    let pool = scheduler.pool("gpu-a").unwrap();
    let dispatch = pool
        .admit(ticket(EntityId::generate(), Priority::Standard))
        .await
        .unwrap();
    assert_eq!(dispatch.pool(), "gpu-a");
    assert_eq!(observed.load(Ordering::Relaxed), 1);
    let duplicate = [
        ("gpu".to_owned(), PoolSettings::new(1)),
        ("gpu".to_owned(), PoolSettings::new(1)),
    ];
    assert!(Scheduler::new(duplicate, None).is_err());
}

#[tokio::test(start_paused = true)]
async fn a_replaced_set_keeps_a_pools_line_and_a_forgotten_pool_still_serves_its_waiters() {
    let pools = [("gpu-a".to_owned(), PoolSettings::new(1))];
    let scheduler = Scheduler::new(pools, None).unwrap();
    let entity = EntityId::generate();
    let held = hold(&scheduler.pool("gpu-a").unwrap(), entity, 1).await;
    let pool = scheduler.pool("gpu-a").unwrap();
    let mut waiting = Box::pin(pool.admit(ticket(entity, Priority::Standard)));
    assert!(poll_once(&mut waiting).await.is_pending());

    // Kept, the pool is the same, its line whole.
    let kept = scheduler.pool("gpu-a").unwrap();
    scheduler.replace([
        kept,
        Pool::new("gpu-b", PoolSettings::new(8), None).unwrap(),
    ]);
    assert_eq!(scheduler.pool("gpu-a").unwrap().snapshot().queued, 1);
    assert_eq!(scheduler.pools().len(), 2);

    // Dropped, it still serves the request waiting in it.
    let gpu_b = scheduler.pool("gpu-b").unwrap();
    scheduler.replace([gpu_b]);
    assert!(scheduler.pool("gpu-a").is_none());
    drop(held);
    let served = waiting.await.unwrap();
    assert_eq!(served.pool(), "gpu-a");
}

#[test]
fn admission_futures_and_dispatches_can_cross_threads() {
    // The gateway's handlers run on a multi-threaded runtime and streams carry the dispatch.
    fn send_and_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let pool = pool(1);
    let admission = pool.admit(ticket(EntityId::generate(), Priority::Standard));
    send(&admission);
    send_and_sync(&pool);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dispatch = runtime.block_on(admission).unwrap();
    send_and_sync(&dispatch);
}
