//! Micro-benchmark of the admission hot path: 100,000 keys (one user each) across 19 entities, every
//! request checking the key's, the user's and the entity's rate limits and the entity's daily budget.
//!
//! Run in release: `cargo run --release -p admission --example admission_bench`. It prints
//! nanoseconds per `check_and_charge` (including building the request's scope list, as the gateway
//! will) and per admit-plus-settle cycle, on one thread and on two. Keys are visited in a
//! pseudo-random order, so most lookups miss the CPU caches as they would under real traffic.

use std::error::Error;
use std::hint::black_box;
use std::time::Instant;

use admission::{
    Admission, Budget, BudgetUnit, Calendar, Consumption, Limits, Period, Request, Scope,
};
use domain::{EntityId, KeyId, UserId};

/// Keys by default; the first argument overrides it (a small count shows the cost without cache misses).
const KEYS: usize = 100_000;
const ENTITIES: usize = 19;
const ROUNDS: usize = 2_000_000;
/// 2025-06-15T08:00:00Z.
const T0: i64 = 1_749_974_400_000;

struct Caller {
    key: Scope,
    user: Scope,
    entity: Scope,
}

fn main() -> Result<(), Box<dyn Error>> {
    let keys: usize = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => KEYS,
    };
    let admission = Admission::new(Calendar::new("Europe/Paris")?);
    let entities: Vec<Scope> = (0..ENTITIES)
        .map(|_| Scope::Entity(EntityId::generate()))
        .collect();
    for entity in &entities {
        admission.set_limit(
            entity.clone(),
            Limits {
                requests_per_minute: Some(1_000_000),
                tokens_per_minute: Some(1_000_000_000),
            },
        )?;
        admission.set_budget(
            entity.clone(),
            Budget {
                period: Period::Day,
                unit: BudgetUnit::Tokens,
                hard_limit: u64::MAX / 2,
                soft_threshold_percent: Some(80),
            },
        )?;
    }
    let callers: Vec<Caller> = (0..keys)
        .map(|i| Caller {
            key: Scope::Key(KeyId::generate()),
            user: Scope::User(UserId::generate()),
            entity: entities[i % ENTITIES].clone(),
        })
        .collect();
    for caller in &callers {
        let limits = Limits {
            requests_per_minute: Some(1_000),
            tokens_per_minute: Some(10_000_000),
        };
        admission.set_limit(caller.key.clone(), limits)?;
        admission.set_limit(caller.user.clone(), limits)?;
    }
    println!(
        "{} scopes with limits, {} shards",
        admission.scope_count(),
        admission::DEFAULT_SHARDS
    );

    // A fixed pseudo-random walk over the keys, so that caches do not flatter the figure. Time
    // advances a millisecond per request: every key stays under its limits.
    let order: Vec<usize> = {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..ROUNDS)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % keys as u64) as usize
            })
            .collect()
    };
    let request = |caller: &Caller| Request {
        scopes: vec![
            caller.key.clone(),
            caller.user.clone(),
            caller.entity.clone(),
        ],
        estimate: Consumption {
            tokens: 1_000,
            cost_micros: 0,
        },
        counted: false,
    };
    let used = Consumption {
        tokens: 600,
        cost_micros: 0,
    };

    // Warm up (page in the table), then measure.
    for &i in order.iter().take(200_000) {
        if let Ok(admitted) = admission.check_and_charge(request(&callers[i]), T0) {
            admission.settle(admitted.ticket, used, T0);
        }
    }

    // Admission alone: the ticket is dropped unsettled (the budget is large enough not to mind).
    let start = Instant::now();
    let mut refused = 0usize;
    for (round, &i) in order.iter().enumerate() {
        let now = T0 + round as i64;
        match admission.check_and_charge(request(&callers[i]), now) {
            Ok(admitted) => drop(black_box(admitted)),
            Err(_) => refused += 1,
        }
    }
    let check = start.elapsed();
    println!(
        "one thread: check_and_charge {:.0} ns per request ({refused} refused of {ROUNDS})",
        check.as_nanos() as f64 / ROUNDS as f64,
    );

    // The full cycle, admission then settlement with the real count.
    let start = Instant::now();
    for (round, &i) in order.iter().enumerate() {
        let now = T0 + ROUNDS as i64 + round as i64;
        if let Ok(admitted) = admission.check_and_charge(request(&callers[i]), now) {
            admission.settle(admitted.ticket, used, now);
        }
    }
    let cycle = start.elapsed();
    println!(
        "one thread: check_and_charge + settle {:.0} ns per request",
        cycle.as_nanos() as f64 / ROUNDS as f64,
    );

    // Two threads (this machine's cores) doing admit + settle cycles on different keys.
    let threads = 2;
    let start = Instant::now();
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let (admission, callers, order) = (&admission, &callers, &order);
            scope.spawn(move || {
                for (round, &i) in order.iter().enumerate().skip(thread).step_by(threads) {
                    let now = T0 + 2 * ROUNDS as i64 + round as i64;
                    if let Ok(admitted) = admission.check_and_charge(request(&callers[i]), now) {
                        admission.settle(admitted.ticket, used, now);
                    }
                }
            });
        }
    });
    let both = start.elapsed();
    println!(
        "{threads} threads: admit + settle cycle {:.0} ns of wall time per request ({:.1} M cycles/s)",
        both.as_nanos() as f64 / ROUNDS as f64,
        ROUNDS as f64 / both.as_secs_f64() / 1e6,
    );
    black_box(&admission);
    Ok(())
}
