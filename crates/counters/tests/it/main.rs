//! The shared counters against the real Redis (`FABRIQUE_TEST_REDIS_URL`, by default the one on
//! 127.0.0.1:6379): two replicas in one process, each with its own admission table configured
//! alike, as the cluster refresh keeps them. Each test counts under a prefix of its own. Every
//! admission of a test is given the instant the test started, so no limit refills while it runs.

// A test harness fails by panicking; that is how it reports.
#![expect(clippy::unwrap_used, reason = "tests fail by panicking")]

use std::sync::Arc;
use std::time::Duration;

use admission::{
    Admission, Budget, BudgetUnit, Calendar, Consumption, Limits, Period, Refusal, Scope,
};
use configuration::RedisConfig;
use counters::{Counted, Counters, Denied, Shared};
use domain::{EntityId, KeyId, UnixMillis};
use telemetry::Metrics;

mod allotments;
mod outage;

/// The instant every admission is given: the start of the test run (budgets' counters expire
/// after their period, in Redis's own time).
static NOW: std::sync::LazyLock<UnixMillis> = std::sync::LazyLock::new(domain::now_millis);

fn redis_url() -> String {
    std::env::var("FABRIQUE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A prefix no other test (or earlier run) uses.
fn fresh_prefix(test: &str) -> String {
    format!("fabrique-test:{test}:{}", KeyId::generate())
}

fn config(url: String, prefix: &str, replicas: u32) -> RedisConfig {
    RedisConfig {
        url,
        key_prefix: prefix.to_owned(),
        replicas,
        timeout: Duration::from_millis(500),
    }
}

/// A replica: its own table and metrics, counting through `redis`.
struct Replica {
    counters: Counters,
    metrics: Arc<Metrics>,
}

impl Replica {
    fn start(redis: &RedisConfig) -> Replica {
        let metrics = Arc::new(Metrics::new(&[], &[]));
        let admission = Arc::new(Admission::new(Calendar::utc()));
        let shared = Shared::start(redis, Calendar::utc(), Arc::clone(&metrics)).unwrap();
        Replica {
            counters: Counters::shared(admission, shared),
            metrics,
        }
    }

    fn limit(&self, scope: &Scope, requests_per_minute: u32) {
        let limits = Limits {
            requests_per_minute: Some(requests_per_minute),
            tokens_per_minute: None,
        };
        self.counters
            .admission()
            .set_limit(scope.clone(), limits)
            .unwrap();
    }

    fn budget(&self, scope: &Scope, hard_limit: u64) {
        let budget = Budget {
            period: Period::Day,
            unit: BudgetUnit::MoneyMicros,
            hard_limit,
            soft_threshold_percent: None,
        };
        self.counters
            .admission()
            .set_budget(scope.clone(), budget)
            .unwrap();
    }

    async fn admit(
        &self,
        scopes: &[Scope],
        cost_micros: u64,
    ) -> Result<counters::Admitted, Denied> {
        let estimate = Consumption {
            tokens: 100,
            cost_micros,
        };
        self.counters
            .admit(scopes.to_vec(), estimate, Counted::Owed, *NOW)
            .await
    }

    fn metric(&self, name: &str) -> String {
        let rendered = self.metrics.render();
        let line = rendered
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_default();
        line.rsplit(' ').next().unwrap_or_default().to_owned()
    }
}

/// Two replicas sharing the test Redis under a prefix of `test`'s own.
fn two_replicas(test: &str) -> [Arc<Replica>; 2] {
    let redis = config(redis_url(), &fresh_prefix(test), 2);
    [
        Arc::new(Replica::start(&redis)),
        Arc::new(Replica::start(&redis)),
    ]
}

/// Sends `count` admissions alternately through each replica, all at once.
async fn admit_concurrently(
    replicas: &[Arc<Replica>],
    scopes: &[Scope],
    count: usize,
    cost_micros: u64,
) -> Vec<Result<counters::Admitted, Denied>> {
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let replica = Arc::clone(&replicas[i % replicas.len()]);
            let scopes = scopes.to_vec();
            tokio::spawn(async move { replica.admit(&scopes, cost_micros).await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_sharing_a_limit_of_n_admit_exactly_n() {
    let replicas = two_replicas("limit");
    let key = Scope::Key(KeyId::generate());
    for replica in &replicas {
        replica.limit(&key, 7);
    }

    let results = admit_concurrently(&replicas, std::slice::from_ref(&key), 40, 0).await;

    let admitted = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(admitted, 7, "a limit of 7 a minute, shared by two replicas");
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        let Denied::Refused(refused) = refused else {
            panic!("refused for another reason: {refused}");
        };
        assert!(
            matches!(refused.refusal, Refusal::RateLimited { .. }),
            "{refused}"
        );
    }
    // A replica that saw the refusal refuses the next request before its body, from memory.
    let refused = replicas
        .iter()
        .filter(|r| r.counters.count(std::slice::from_ref(&key), *NOW).is_err())
        .count();
    assert!(refused >= 1, "no replica remembers the refusal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_money_budget_shared_by_two_replicas_is_never_exceeded() {
    let replicas = two_replicas("budget");
    let entity = Scope::Entity(EntityId::generate());
    for replica in &replicas {
        replica.budget(&entity, 1_000);
    }

    // Estimates of 30: at most 33 fit under 1,000 however the requests are spread.
    let results = admit_concurrently(&replicas, std::slice::from_ref(&entity), 60, 30).await;
    let tickets: Vec<_> = results.into_iter().filter_map(Result::ok).collect();
    assert_eq!(tickets.len(), 33);

    // Settled below their estimates (20 each: 660 spent), the freed reservations admit more.
    for (i, admitted) in tickets.into_iter().enumerate() {
        let actual = Consumption {
            tokens: 80,
            cost_micros: 20,
        };
        replicas[i % 2]
            .counters
            .settle(admitted.ticket, actual, *NOW);
    }
    for replica in &replicas {
        replica.counters.flush().await;
    }
    let more = admit_concurrently(&replicas, std::slice::from_ref(&entity), 20, 30).await;
    let admitted = more.iter().filter(|r| r.is_ok()).count();
    assert_eq!(admitted, 11, "340 left, 30 each");
    let Err(Denied::Refused(refused)) = replicas[0].admit(&[entity], 11).await else {
        panic!("990 committed: 11 more would pass 1,000");
    };
    assert!(matches!(refused.refusal, Refusal::BudgetExceeded { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_status_and_reset_through_one_replica_are_the_groups() {
    let replicas = two_replicas("status");
    let entity = Scope::Entity(EntityId::generate());
    for replica in &replicas {
        replica.budget(&entity, 1_000);
    }
    // Replica 0 spends the whole budget; replica 1, which admitted nothing, sees it spent.
    let spent = Consumption {
        tokens: 100,
        cost_micros: 100,
    };
    for _ in 0..10 {
        let admitted = replicas[0].admit(std::slice::from_ref(&entity), 100).await;
        replicas[0]
            .counters
            .settle(admitted.unwrap().ticket, spent, *NOW);
    }
    replicas[0].counters.flush().await;
    let seen = replicas[1].counters.budgets(&entity, *NOW).await.unwrap();
    assert_eq!((seen[0].spent, seen[0].reserved), (1_000, 0), "{seen:?}");
    assert!(
        replicas[1]
            .admit(std::slice::from_ref(&entity), 1)
            .await
            .is_err()
    );

    // A reset through replica 1 frees the budget for replica 0 too, whose table was not reset.
    replicas[1].counters.reset(&entity, *NOW).await.unwrap();
    let seen = replicas[0].counters.budgets(&entity, *NOW).await.unwrap();
    assert_eq!((seen[0].spent, seen[0].reserved), (0, 0), "{seen:?}");
    assert!(
        replicas[0]
            .admit(std::slice::from_ref(&entity), 1_000)
            .await
            .is_ok()
    );
}
