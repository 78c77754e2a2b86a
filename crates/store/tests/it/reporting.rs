//! Usage queries: sums per dimension and per time bucket, one user's sums, active users, exact
//! latency percentiles, on both dialects.

use domain::{EntityId, KeyId, Operation, TeamId, UsageRecord, UsageTotals, UserId};
use store::{Store, UsageDimension, UsageSelection};

/// 2026-11-01T00:00:00Z.
const T0: i64 = 1_793_491_200_000;
const HOUR: i64 = 3_600_000;

struct Fixture {
    acme: EntityId,
    beta: EntityId,
    risk: TeamId,
    ada: UserId,
    bob: UserId,
    records: Vec<UsageRecord>,
}

fn record(n: u64, entity: EntityId, user: UserId, team: Option<TeamId>) -> UsageRecord {
    UsageRecord {
        request_id: format!("req-{n}"),
        client_request_id: None,
        started_at: T0 + (n as i64 % 48) * HOUR,
        entity_id: Some(entity),
        user_id: Some(user),
        service_account_id: None,
        key_id: Some(KeyId::generate()),
        team_id: team,
        use_case: n.is_multiple_of(3).then(|| "credit-scoring".to_owned()),
        use_case_version: None,
        operation: Operation::Chat,
        model: if n.is_multiple_of(2) {
            "mistral-small"
        } else {
            "mistral-large"
        }
        .to_owned(),
        endpoint: Some("gpu-a".to_owned()),
        stream: false,
        prompt_tokens: 10 + n,
        completion_tokens: 5,
        // 0.1 in micro-units: sums that a float would get wrong.
        cost_micros: 100_000,
        ttft_ms: Some(n as u32 % 10 + 1),
        duration_ms: n as u32 + 1,
        status: if n % 10 == 9 { 502 } else { 200 },
        error_code: (n % 10 == 9).then(|| "upstream_error".to_owned()),
        attempts: 1,
        classification: None,
        hosting: None,
        usage_estimated: false,
        cache_hit: false,
    }
}

async fn fixture(store: &Store) -> Fixture {
    let (acme, beta) = (EntityId::generate(), EntityId::generate());
    let (ada, bob) = (UserId::generate(), UserId::generate());
    let risk = TeamId::generate();
    let mut records = Vec::new();
    for n in 0..100 {
        records.push(match n % 4 {
            0 | 1 => record(n, acme, ada, Some(risk)),
            2 => record(n, acme, ada, None),
            _ => record(n, beta, bob, None),
        });
    }
    // Outside the range: the day before.
    records.push(UsageRecord {
        started_at: T0 - 1,
        ..record(1_000, acme, ada, Some(risk))
    });
    store.insert_usage(&records).await.unwrap();
    Fixture {
        acme,
        beta,
        risk,
        ada,
        bob,
        records,
    }
}

fn two_days(entity: Option<EntityId>) -> UsageSelection {
    UsageSelection {
        from: T0,
        to: T0 + 48 * HOUR,
        entity,
    }
}

fn sum<'a>(records: impl Iterator<Item = &'a UsageRecord>) -> UsageTotals {
    let mut totals = UsageTotals::default();
    for r in records {
        totals.add(&UsageTotals::from(r));
    }
    totals
}

pub async fn usage_sums_group_by_dimension_exactly(store: &Store) {
    let f = fixture(store).await;
    let in_range = || f.records.iter().filter(|r| r.started_at >= T0);

    let whole = store
        .usage_groups(&two_days(None), &[], None, 10)
        .await
        .unwrap();
    assert_eq!(whole.len(), 1);
    assert_eq!(whole[0].totals, sum(in_range()));
    assert_eq!(
        whole[0].totals.cost_micros, 10_000_000,
        "100 × 0.1, exactly"
    );
    assert_eq!(whole[0].totals.errors, 10);

    let by_entity = store
        .usage_groups(&two_days(None), &[UsageDimension::Entity], None, 10)
        .await
        .unwrap();
    assert_eq!(by_entity.len(), 2);
    assert_eq!(
        by_entity[0].keys,
        vec![Some(f.acme.to_string())],
        "costliest first"
    );
    assert_eq!(
        by_entity[0].totals,
        sum(in_range().filter(|r| r.entity_id == Some(f.acme)))
    );
    assert_eq!(
        by_entity[1].totals,
        sum(in_range().filter(|r| r.entity_id == Some(f.beta)))
    );

    let by_team_and_use_case = store
        .usage_groups(
            &two_days(Some(f.acme)),
            &[UsageDimension::Team, UsageDimension::UseCase],
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(by_team_and_use_case.len(), 4);
    let risk_scoring = by_team_and_use_case
        .iter()
        .find(|g| g.keys == vec![Some(f.risk.to_string()), Some("credit-scoring".to_owned())])
        .unwrap();
    assert_eq!(
        risk_scoring.totals,
        sum(in_range().filter(|r| r.team_id == Some(f.risk) && r.use_case.is_some()))
    );
    let total: u64 = by_team_and_use_case.iter().map(|g| g.totals.requests).sum();
    assert_eq!(total, 75, "the entity filter keeps acme's records only");

    let by_error = store
        .usage_groups(&two_days(None), &[UsageDimension::ErrorCode], None, 10)
        .await
        .unwrap();
    let errors = by_error
        .iter()
        .find(|g| g.keys == vec![Some("upstream_error".to_owned())])
        .unwrap();
    assert_eq!((errors.totals.requests, errors.totals.errors), (10, 10));

    let limited = store
        .usage_groups(&two_days(None), &[UsageDimension::Key], None, 7)
        .await
        .unwrap();
    assert_eq!(limited.len(), 7, "at most `limit` groups");

    let adas = store
        .usage_of_user(f.ada, T0, T0 + 48 * HOUR)
        .await
        .unwrap();
    assert_eq!(adas, sum(in_range().filter(|r| r.user_id == Some(f.ada))));
    assert_eq!(adas.requests, 75, "one user's, in the range only");
    let nobodys = store
        .usage_of_user(UserId::generate(), T0, T0 + 48 * HOUR)
        .await
        .unwrap();
    assert_eq!(nobodys, UsageTotals::default());
}

pub async fn usage_sums_per_time_bucket(store: &Store) {
    let f = fixture(store).await;
    // Three buckets: the first day cut at noon, then the afternoon, then the second day.
    let boundaries = [T0, T0 + 12 * HOUR, T0 + 24 * HOUR, T0 + 48 * HOUR];
    let groups = store
        .usage_groups(
            &two_days(None),
            &[UsageDimension::Entity],
            Some(&boundaries),
            100,
        )
        .await
        .unwrap();
    for (bucket, window) in boundaries.windows(2).enumerate() {
        for entity in [f.acme, f.beta] {
            let expected = sum(f.records.iter().filter(|r| {
                r.entity_id == Some(entity) && r.started_at >= window[0] && r.started_at < window[1]
            }));
            let found = groups
                .iter()
                .find(|g| g.bucket == Some(bucket) && g.keys == vec![Some(entity.to_string())])
                .map(|g| g.totals)
                .unwrap_or_default();
            assert_eq!(found, expected, "bucket {bucket}");
        }
    }
    let buckets: Vec<_> = groups.iter().map(|g| g.bucket.unwrap()).collect();
    assert!(buckets.is_sorted(), "in bucket order: {buckets:?}");

    let users = store
        .active_users(&two_days(None), Some(&boundaries))
        .await
        .unwrap();
    assert_eq!(users, vec![(Some(0), 2), (Some(1), 2), (Some(2), 2)]);
    let acme_users = store
        .active_users(&two_days(Some(f.acme)), None)
        .await
        .unwrap();
    assert_eq!(acme_users, vec![(None, 1)]);
    let _ = (f.ada, f.bob);
}

pub async fn latency_percentiles_are_exact(store: &Store) {
    let f = fixture(store).await;
    let groups = store
        .latency_percentiles(&two_days(None), UsageDimension::Model, 10)
        .await
        .unwrap();
    assert_eq!(groups.len(), 2);
    for group in &groups {
        let model = group.key.clone().unwrap();
        // The successful requests of the model in range, sorted: nearest rank by hand.
        let mut durations: Vec<u64> = f
            .records
            .iter()
            .filter(|r| r.started_at >= T0 && r.model == model && r.error_code.is_none())
            .map(|r| u64::from(r.duration_ms))
            .collect();
        durations.sort_unstable();
        let rank = |p: usize| durations[(durations.len() * p).div_ceil(100) - 1];
        assert_eq!(group.duration.count, durations.len() as u64);
        assert_eq!(
            (group.duration.p50, group.duration.p90, group.duration.p99),
            (rank(50), rank(90), rank(99)),
            "{model}"
        );
        let failed = f
            .records
            .iter()
            .filter(|r| r.started_at >= T0 && r.model == model && r.error_code.is_some());
        assert_eq!(group.errors, failed.count() as u64, "{model}");
        let ttft = group.ttft.unwrap();
        assert_eq!(ttft.count, durations.len() as u64);
        assert!(ttft.p50 <= ttft.p90 && ttft.p90 <= ttft.p99 && ttft.p99 <= 10);
    }
}
