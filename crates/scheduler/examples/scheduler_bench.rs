//! Micro-benchmark of the schedule stage: `admit` + `settle` on the fast path (a free sequence, an
//! empty line) and under contention (more concurrent requests than sequences, 19 entities).
//!
//! Run in release: `cargo run --release -p scheduler --example scheduler_bench`. Prints nanoseconds
//! per admit-plus-settle cycle: single task on one thread; then 512 tasks over a two-thread runtime
//! sharing a pool of 64 sequences, so most requests wait in line and are woken by a release.

use std::error::Error;
use std::sync::Arc;
use std::time::Instant;

use domain::EntityId;
use scheduler::{Pool, PoolSettings, Priority, Ticket};

const ENTITIES: usize = 19;
const FAST_ROUNDS: u64 = 2_000_000;
const TASKS: u64 = 512;
const CONTENDED_ROUNDS_PER_TASK: u64 = 2_000;

fn ticket(entity: EntityId) -> Ticket {
    Ticket {
        entity,
        priority: Priority::Standard,
        input_tokens_estimate: 500,
        output_tokens_estimate: 200,
        max_wait: None,
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let entities: Arc<Vec<EntityId>> =
        Arc::new((0..ENTITIES).map(|_| EntityId::generate()).collect());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let pool = Pool::new("bench", PoolSettings::new(64), None)?;
    let fast = runtime.block_on(async {
        let started = Instant::now();
        for round in 0..FAST_ROUNDS {
            let entity = entities[(round % ENTITIES as u64) as usize];
            let dispatch = pool.admit(ticket(entity)).await?;
            dispatch.settle(480, 190);
        }
        Ok::<_, scheduler::Shed>(started.elapsed())
    })?;
    println!(
        "fast path (one task):           {:>6.0} ns per admit+settle",
        fast.as_nanos() as f64 / FAST_ROUNDS as f64
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let pool = Pool::new("bench", PoolSettings::new(64), None)?;
    let contended = runtime.block_on(async {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let (pool, entities) = (pool.clone(), Arc::clone(&entities));
            tasks.push(tokio::spawn(async move {
                let entity = entities[(task % ENTITIES as u64) as usize];
                for _ in 0..CONTENDED_ROUNDS_PER_TASK {
                    let dispatch = pool.admit(ticket(entity)).await?;
                    // Give the other tasks a turn while holding the sequence, as a request would.
                    tokio::task::yield_now().await;
                    dispatch.settle(480, 190);
                }
                Ok::<_, scheduler::Shed>(())
            }));
        }
        for task in tasks {
            task.await??;
        }
        Ok::<_, Box<dyn Error>>(started.elapsed())
    })?;
    let cycles = TASKS * CONTENDED_ROUNDS_PER_TASK;
    println!(
        "contended (512 tasks, 64 seq.): {:>6.0} ns per admit+settle (wall time / cycles, 2 threads)",
        contended.as_nanos() as f64 / cycles as f64
    );
    let snapshot = pool.snapshot();
    let dispatched: u64 = snapshot.entities.iter().map(|e| e.dispatched).sum();
    let waited: std::time::Duration = snapshot.entities.iter().map(|e| e.waits.total).sum();
    println!(
        "  {dispatched} dispatched, mean wait in line {:?}",
        waited / u32::try_from(dispatched.max(1)).unwrap_or(u32::MAX)
    );
    Ok(())
}
