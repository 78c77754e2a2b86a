//! Hourly roll-ups: reports read them for closed hours and raw records for the rest, with the
//! same sums; rolling up again never counts twice; raw records deleted after roll-up leave every
//! report's and every entity budget's totals as they were; a record stored late is counted once;
//! a replica whose list of rolled-up days is stale (another replica rolled up, reopened or deleted
//! since) still counts every hour once; group-wide percentiles per model, read from the hours' and
//! days' rows per model, are their records' buckets' percentiles, as the rows per entity gave them;
//! hourly roll-ups deleted once their day is summed leave every report's sums as they were, and a
//! report that cuts such a day is refused once its raw records are gone too.

use domain::{EntityId, KeyId, Operation, TeamId, UsageRecord, UsageTotals, UserId};
use store::{
    LatencyGroup, Percentiles, Store, StoreError, UsageDimension, UsageGroup, UsageSelection,
    latency_bounds,
};

use crate::harness::{TestDb, both_backends_raw};

both_backends_raw! {
    a_day_rolled_up_is_read_from_its_daily_rows,
    a_replica_counts_each_hour_once_whatever_another_rolled_up_since,
    hourly_rollups_deleted_after_their_day_leave_every_report_as_it_was,
    a_record_stored_late_for_a_day_kept_by_day_counts_in_every_report,
}

/// 2026-11-01T00:00:00Z.
const T0: i64 = 1_793_491_200_000;
const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;

struct Fixture {
    acme: EntityId,
    records: Vec<UsageRecord>,
}

/// Record `n`: hour `n % 48` after `T0`, at a minute within it, in one of two entities, one team,
/// two models, two endpoints, one use case, one error code in ten.
fn record(n: u64, entity: EntityId, user: UserId, team: Option<TeamId>) -> UsageRecord {
    let n_ = n as i64;
    UsageRecord {
        request_id: format!("req-{n}"),
        client_request_id: None,
        started_at: T0 + (n_ % 48) * HOUR + (n_ * 7 % 60) * MINUTE,
        entity_id: Some(entity),
        user_id: Some(user),
        service_account_id: None,
        key_id: Some(KeyId::generate()),
        team_id: team,
        use_case: n.is_multiple_of(3).then(|| "credit-scoring".to_owned()),
        use_case_version: None,
        operation: Operation::Chat,
        model: ["mistral-small", "mistral-large"][n as usize % 2].to_owned(),
        endpoint: Some(["gpu-a", "gpu-b"][n as usize % 5 / 3].to_owned()),
        stream: false,
        prompt_tokens: 10 + n,
        completion_tokens: 5 + n % 7,
        cost_micros: 100_000 + n,
        ttft_ms: (!n.is_multiple_of(4)).then_some(n as u32 % 90 + 1),
        duration_ms: (n as u32 * 37) % 5_000 + 1,
        status: if n % 10 == 9 { 502 } else { 200 },
        error_code: (n % 10 == 9).then(|| "upstream_error".to_owned()),
        attempts: 1,
        classification: None,
        hosting: None,
        usage_estimated: false,
        cache_hit: n.is_multiple_of(11),
    }
}

async fn fixture(store: &Store) -> Fixture {
    let (acme, beta) = (EntityId::generate(), EntityId::generate());
    let (ada, bob) = (UserId::generate(), UserId::generate());
    let risk = TeamId::generate();
    let records: Vec<UsageRecord> = (0..600)
        .map(|n| match n % 4 {
            0 | 1 => record(n, acme, ada, Some(risk)),
            2 => record(n, acme, ada, None),
            _ => record(n, beta, bob, None),
        })
        .collect();
    store.insert_usage(&records).await.unwrap();
    Fixture { acme, records }
}

fn sum<'a>(records: impl Iterator<Item = &'a UsageRecord>) -> UsageTotals {
    let mut totals = UsageTotals::default();
    for r in records {
        totals.add(&UsageTotals::from(r));
    }
    totals
}

/// The selections the reports below cover: the two days, hour-aligned; a range cut inside hours
/// at both ends (read partly from raw records whatever is rolled up); one entity's.
fn selections(acme: EntityId) -> [UsageSelection; 3] {
    [
        UsageSelection {
            from: T0,
            to: T0 + 48 * HOUR,
            entity: None,
        },
        UsageSelection {
            from: T0 + 20 * HOUR + 10 * MINUTE,
            to: T0 + 39 * HOUR + 50 * MINUTE,
            entity: None,
        },
        UsageSelection {
            from: T0,
            to: T0 + 48 * HOUR,
            entity: Some(acme),
        },
    ]
}

/// What the admin API asks: the whole sums, the chargeback's grouping, per error code, a chart
/// per day and per hour of each model, and one cut at half past an hour (read from raw records).
async fn reports(store: &Store, selection: &UsageSelection) -> Vec<Vec<UsageGroup>> {
    let mut answers = Vec::new();
    for answer in reports_or_refusals(store, selection).await {
        answers.push(answer.unwrap());
    }
    answers
}

/// [`reports`], each answer or refusal.
async fn reports_or_refusals(
    store: &Store,
    selection: &UsageSelection,
) -> Vec<Result<Vec<UsageGroup>, StoreError>> {
    use UsageDimension::{Endpoint, Entity, ErrorCode, Model, Team, UseCase};
    let days = [selection.from, T0 + 24 * HOUR, selection.to];
    let hours: Vec<i64> = std::iter::once(selection.from)
        .chain((1..48).map(|h| T0 + h * HOUR))
        .filter(|b| *b > selection.from && *b < selection.to)
        .chain([selection.to])
        .collect();
    let half_past = [selection.from, T0 + 30 * HOUR + 30 * MINUTE, selection.to];
    // Midnight an hour off the days rolled up (as Paris's is off UTC's).
    let other_midnight = [selection.from, T0 + 23 * HOUR, selection.to];
    let mut answers = Vec::new();
    for (group_by, boundaries) in [
        (&[][..], None),
        (&[Entity, Team, Model, UseCase][..], None),
        (&[ErrorCode, Endpoint][..], None),
        (&[Model][..], Some(&days[..])),
        (&[Model][..], Some(&hours[..])),
        (&[Entity][..], Some(&half_past[..])),
        (&[Model][..], Some(&other_midnight[..])),
    ] {
        answers.push(
            store
                .usage_groups(selection, group_by, boundaries, 1_000)
                .await,
        );
    }
    answers
}

async fn all_reports(store: &Store, acme: EntityId) -> Vec<Vec<Vec<UsageGroup>>> {
    let mut all = Vec::new();
    for selection in selections(acme) {
        all.push(reports(store, &selection).await);
    }
    all
}

pub async fn rolled_up_hours_give_the_same_sums_once_however_often_rolled(store: &Store) {
    let f = fixture(store).await;
    let raw = all_reports(store, f.acme).await;
    let exact = store
        .latency_percentiles(&selections(f.acme)[0], UsageDimension::Model, 10)
        .await
        .unwrap();

    let run = store.roll_up_usage(T0 + 40 * HOUR + MINUTE).await.unwrap();
    assert_eq!(run.through, Some(T0 + 40 * HOUR), "closed hours only");
    assert_eq!(run.hours, 40);
    let hour = UsageSelection {
        from: T0 + 5 * HOUR,
        to: T0 + 6 * HOUR,
        entity: None,
    };
    let in_hour = f
        .records
        .iter()
        .filter(|r| r.started_at >= hour.from && r.started_at < hour.to);
    let rolled = store.usage_groups(&hour, &[], None, 1).await.unwrap();
    assert_eq!(
        rolled[0].totals,
        sum(in_hour),
        "an hour's roll-up is its sums"
    );
    assert_eq!(all_reports(store, f.acme).await, raw);

    store.roll_up_day(T0, T0 + 24 * HOUR).await.unwrap();
    store
        .roll_up_day(T0 + 24 * HOUR, T0 + 36 * HOUR)
        .await
        .unwrap();
    let early = store.roll_up_day(T0 + 36 * HOUR, T0 + 48 * HOUR).await;
    assert!(
        matches!(early, Err(StoreError::OutOfRange(_))),
        "a day is summed once all its hours are rolled up: {early:?}"
    );
    assert_eq!(
        store.next_day_to_roll_up().await.unwrap(),
        Some(T0 + 36 * HOUR)
    );
    assert_eq!(all_reports(store, f.acme).await, raw);

    store.roll_up_hour(T0 + 5 * HOUR).await.unwrap();
    store.roll_up_hour(T0 + 45 * HOUR).await.unwrap();
    store.roll_up_day(T0, T0 + 24 * HOUR).await.unwrap();
    // The zone changed: a day overlapping two summed before replaces them.
    store
        .roll_up_day(T0 + 23 * HOUR, T0 + 36 * HOUR)
        .await
        .unwrap();
    assert_eq!(
        store.rollup_marks().await.unwrap().rolled_up,
        Some(T0 + 40 * HOUR),
        "an hour rolled up out of turn does not count the hours before it as done"
    );
    let again = store.roll_up_usage(T0 + 40 * HOUR + MINUTE).await.unwrap();
    assert_eq!(again.hours, 0);
    assert_eq!(all_reports(store, f.acme).await, raw, "never counted twice");

    let approximate = store
        .latency_percentiles(&selections(f.acme)[0], UsageDimension::Model, 10)
        .await
        .unwrap();
    assert_eq!(approximate.len(), exact.len());
    for (rolled, exact) in approximate.iter().zip(&exact) {
        assert_eq!(rolled.key, exact.key);
        let pairs = [
            (rolled.duration, exact.duration),
            (rolled.ttft.unwrap(), exact.ttft.unwrap()),
        ];
        for (r, e) in pairs {
            assert_eq!(r.count, e.count);
            for (r, e) in [(r.p50, e.p50), (r.p90, e.p90), (r.p99, e.p99)] {
                assert!(r >= e && r <= (e + 1).max(e * 11 / 10), "{r} for {e}");
            }
        }
    }
}

pub async fn raw_records_deleted_after_roll_up_leave_the_sums(store: &Store) {
    let f = fixture(store).await;
    let raw = all_reports(store, f.acme).await;
    let acme = f.acme.to_string();
    let spent = [
        store.spent_since("entity", &acme, T0).await.unwrap(),
        store
            .spent_since("entity", &acme, T0 + 25 * HOUR + 30 * MINUTE)
            .await
            .unwrap(),
    ];

    let deleted = store.delete_raw_usage(T0 + 48 * HOUR).await.unwrap();
    assert_eq!(
        deleted.hours, 0,
        "nothing is rolled up yet: nothing deleted"
    );
    store.roll_up_usage(T0 + 40 * HOUR).await.unwrap();
    store.roll_up_day(T0, T0 + 24 * HOUR).await.unwrap();
    let deleted = store.delete_raw_usage(T0 + 20 * HOUR).await.unwrap();
    assert_eq!((deleted.hours, deleted.through), (20, Some(T0 + 20 * HOUR)));
    let left = store.list_usage(10_000).await.unwrap();
    let kept = f
        .records
        .iter()
        .filter(|r| r.started_at >= T0 + 20 * HOUR)
        .count();
    assert_eq!(left.len(), kept);

    assert_eq!(all_reports(store, f.acme).await, raw);
    assert_eq!(
        [
            store.spent_since("entity", &acme, T0).await.unwrap(),
            store
                .spent_since("entity", &acme, T0 + 25 * HOUR + 30 * MINUTE)
                .await
                .unwrap(),
        ],
        spent
    );
    let refused = store.roll_up_hour(T0 + 3 * HOUR).await.unwrap_err();
    assert!(matches!(refused, StoreError::OutOfRange(_)), "{refused:?}");

    // Deleting never goes past what is rolled up.
    let deleted = store.delete_raw_usage(T0 + 48 * HOUR).await.unwrap();
    assert_eq!(deleted.through, Some(T0 + 40 * HOUR));
    assert_eq!(all_reports(store, f.acme).await[0][..3], raw[0][..3]);
}

pub async fn a_record_stored_late_reopens_its_hour_and_counts_once(store: &Store) {
    let f = fixture(store).await;
    store.roll_up_usage(T0 + 40 * HOUR).await.unwrap();
    store.roll_up_day(T0, T0 + 24 * HOUR).await.unwrap();
    let late = UsageRecord {
        request_id: "late".to_owned(),
        started_at: T0 + 5 * HOUR + MINUTE,
        ..f.records[0].clone()
    };
    store
        .insert_usage(std::slice::from_ref(&late))
        .await
        .unwrap();
    assert_eq!(
        store.rollup_marks().await.unwrap().rolled_up,
        Some(T0 + 5 * HOUR),
        "the late record's hour is to be rolled up again"
    );
    assert_eq!(
        store.next_day_to_roll_up().await.unwrap(),
        Some(T0),
        "and its day summed again"
    );
    let whole = &selections(f.acme)[0];
    let expected = sum(f.records.iter().chain([&late]));
    let totals = || async { store.usage_groups(whole, &[], None, 1).await.unwrap()[0].totals };
    assert_eq!(totals().await, expected);
    let run = store.roll_up_usage(T0 + 40 * HOUR).await.unwrap();
    assert_eq!(run.through, Some(T0 + 40 * HOUR));
    assert_eq!(totals().await, expected, "counted once");
    store.roll_up_day(T0, T0 + 24 * HOUR).await.unwrap();
    assert_eq!(totals().await, expected, "counted once, also by day");
}

pub async fn a_month_of_raw_records_goes_whole_and_the_sums_stay(store: &Store) {
    const DECEMBER: i64 = 1_796_083_200_000;
    let f = fixture(store).await;
    // On PostgreSQL: November's partition takes the records stored in the default partition.
    let created = store.prepare_usage_partitions(T0).await.unwrap();
    let expected = match store.backend() {
        store::Backend::Postgres => 3,
        store::Backend::Sqlite => 0,
    };
    assert_eq!(created, expected);
    assert_eq!(store.prepare_usage_partitions(T0).await.unwrap(), 0);
    let raw = all_reports(store, f.acme).await;

    store.roll_up_usage(DECEMBER).await.unwrap();
    store.roll_up_day(T0, T0 + 24 * HOUR).await.unwrap();
    let kept = store.delete_raw_usage(DECEMBER - HOUR).await.unwrap();
    assert_eq!(
        store.list_usage(10_000).await.unwrap().len(),
        match store.backend() {
            store::Backend::Postgres => f.records.len(),
            store::Backend::Sqlite => 0,
        },
        "PostgreSQL keeps a month until it is past ({kept:?})"
    );
    store.delete_raw_usage(DECEMBER).await.unwrap();
    assert!(store.list_usage(10).await.unwrap().is_empty());
    // Every report whose bounds are whole hours (a cut inside an hour needs its raw records).
    let whole_hours = |all: Vec<Vec<Vec<UsageGroup>>>| {
        [0, 2].map(|selection| {
            let mut reports = all[selection].clone();
            reports.remove(5);
            reports
        })
    };
    assert_eq!(
        whole_hours(all_reports(store, f.acme).await),
        whole_hours(raw)
    );
}

/// With the day's hourly rows gone, a report of the day still has its sums: it reads the daily
/// roll-up (and, cut inside the day, it would need the hours).
async fn a_day_rolled_up_is_read_from_its_daily_rows(db: &TestDb) {
    let store = &db.store;
    let f = fixture(store).await;
    store.roll_up_usage(T0 + 40 * HOUR).await.unwrap();
    store.roll_up_day(T0, T0 + 24 * HOUR).await.unwrap();
    db.execute(&format!(
        "DELETE FROM usage_hourly WHERE hour < {}",
        T0 + 24 * HOUR
    ))
    .await;
    let day = UsageSelection {
        from: T0,
        to: T0 + 24 * HOUR,
        entity: None,
    };
    let in_day = f.records.iter().filter(|r| r.started_at < day.to);
    let read = store.usage_groups(&day, &[], None, 1).await.unwrap();
    assert_eq!(read[0].totals, sum(in_day));
}

/// Two replicas on one database: `here` reads the list of rolled-up days once and keeps it,
/// while `there` stores a late record (which reopens its hour and drops its day), rolls up again,
/// sums the day again under another time zone, then deletes raw records. After each step,
/// `here`'s reports hold the late record once and are exactly those of a replica just started.
async fn a_replica_counts_each_hour_once_whatever_another_rolled_up_since(db: &TestDb) {
    let here = &db.store;
    let there = Store::connect(&db.url).await.unwrap();
    let f = fixture(here).await;
    here.roll_up_usage(T0 + 40 * HOUR).await.unwrap();
    here.roll_up_day(T0, T0 + 24 * HOUR).await.unwrap();
    assert_eq!(
        all_reports(here, f.acme).await,
        all_reports(&there, f.acme).await
    );
    let late = UsageRecord {
        request_id: "late".to_owned(),
        started_at: T0 + 5 * HOUR + MINUTE,
        ..f.records[0].clone()
    };
    let expected = sum(f.records.iter().chain([&late]));
    let agree = |step: &'static str| {
        let (url, acme) = (db.url.clone(), f.acme);
        async move {
            let whole = &selections(acme)[0];
            let totals = here.usage_groups(whole, &[], None, 1).await.unwrap();
            assert_eq!(
                totals[0].totals, expected,
                "{step}: the late record counted once"
            );
            let started = Store::connect(&url).await.unwrap();
            let truth = (
                all_reports(&started, acme).await,
                latency_by_model(&started, whole).await,
            );
            started.close().await;
            let seen = (
                all_reports(here, acme).await,
                latency_by_model(here, whole).await,
            );
            assert_eq!(seen, truth, "{step}");
        }
    };

    there
        .insert_usage(std::slice::from_ref(&late))
        .await
        .unwrap();
    agree("the late record stored").await;
    there.roll_up_usage(T0 + 40 * HOUR).await.unwrap();
    agree("its hour rolled up again").await;
    there.roll_up_day(T0, T0 + 24 * HOUR).await.unwrap();
    agree("its day summed again").await;
    there.roll_up_day(T0 + HOUR, T0 + 25 * HOUR).await.unwrap();
    agree("the day summed in another zone").await;
    there.delete_raw_usage(T0 + 30 * HOUR).await.unwrap();
    agree("raw records deleted").await;
    there.close().await;
}

pub async fn group_wide_percentiles_per_model_are_their_records_buckets(store: &Store) {
    let f = fixture(store).await;
    let whole = &selections(f.acme)[0];
    store.roll_up_usage(T0 + 48 * HOUR).await.unwrap();
    let from_hours = latency_by_model(store, whole).await;
    store.roll_up_day(T0, T0 + 24 * HOUR).await.unwrap();
    store
        .roll_up_day(T0 + 24 * HOUR, T0 + 48 * HOUR)
        .await
        .unwrap();
    let from_days = latency_by_model(store, whole).await;

    // Every hour is rolled up: each successful record counts as its bucket's upper bound.
    let bounds = latency_bounds();
    let percentiles = |values: Vec<u32>| {
        let mut values: Vec<u64> = values
            .into_iter()
            .map(|v| bounds[bounds.partition_point(|b| *b < i64::from(v))] as u64)
            .collect();
        values.sort_unstable();
        let at = |p: usize| values[(values.len() * p).div_ceil(100).max(1) - 1];
        Percentiles {
            count: values.len() as u64,
            p50: at(50),
            p90: at(90),
            p99: at(99),
        }
    };
    let mut expected: Vec<LatencyGroup> = ["mistral-large", "mistral-small"]
        .into_iter()
        .map(|model| {
            let ok = || {
                f.records
                    .iter()
                    .filter(move |r| r.model == model && r.error_code.is_none())
            };
            let in_range = |r: &&UsageRecord| r.started_at >= whole.from && r.started_at < whole.to;
            let failed = f.records.iter().filter(in_range);
            LatencyGroup {
                key: Some(model.to_owned()),
                duration: percentiles(ok().map(|r| r.duration_ms).collect()),
                ttft: Some(percentiles(ok().filter_map(|r| r.ttft_ms).collect())),
                errors: failed
                    .filter(|r| r.model == model && r.error_code.is_some())
                    .count() as u64,
            }
        })
        .collect();
    expected.sort_by(|a, b| {
        b.duration
            .count
            .cmp(&a.duration.count)
            .then(a.key.cmp(&b.key))
    });
    assert_eq!(from_hours, expected, "read from hours");
    assert_eq!(from_days, expected, "read from days");
    // The errors the latency read counts are those usage sums count, model by model.
    let by_model = store
        .usage_groups(whole, &[UsageDimension::Model], None, 10)
        .await
        .unwrap();
    for group in &from_days {
        let summed = by_model.iter().find(|g| g.keys[0] == group.key).unwrap();
        assert_eq!(group.errors, summed.totals.errors, "{:?}", group.key);
    }
}

/// Two days rolled up and summed; the first day's hourly rows deleted, then raw records of both:
/// reports across the boundary between the days (whole, cut inside the first day at 20:10, one
/// entity's, by day, by hour, at other midnights) give the same sums after each step as before,
/// until one cuts the first day with nothing left to read its hours from: then it is refused.
/// The first day is never reopened or summed again.
async fn hourly_rollups_deleted_after_their_day_leave_every_report_as_it_was(db: &TestDb) {
    let store = &db.store;
    let f = fixture(store).await;
    store.roll_up_usage(T0 + 48 * HOUR).await.unwrap();
    let nothing = store.delete_hourly_rollups(T0 + 48 * HOUR).await.unwrap();
    assert_eq!(nothing.hours, 0, "no day is summed yet: nothing deleted");
    store.roll_up_day(T0, T0 + 24 * HOUR).await.unwrap();
    store
        .roll_up_day(T0 + 24 * HOUR, T0 + 48 * HOUR)
        .await
        .unwrap();
    let before = all_reports(store, f.acme).await;
    let whole = &selections(f.acme)[0];
    let latency = latency_by_model(store, whole).await;

    // Only days that ended before the cut-off go.
    let run = store.delete_hourly_rollups(T0 + 47 * HOUR).await.unwrap();
    assert_eq!((run.hours, run.through), (24, Some(T0 + 24 * HOUR)));
    assert_eq!(
        store.rollup_marks().await.unwrap().hourly_deleted,
        Some(T0 + 24 * HOUR)
    );
    let again = store.delete_hourly_rollups(T0 + 47 * HOUR).await.unwrap();
    assert_eq!((again.hours, again.through), (0, Some(T0 + 24 * HOUR)));
    let after = all_reports(store, f.acme).await;
    for (selection, reports) in after.iter().enumerate() {
        for (index, report) in reports.iter().enumerate() {
            let totals = |groups: &[UsageGroup]| sum_groups(groups);
            assert_eq!(
                totals(report),
                totals(&before[selection][index]),
                "selection {selection}, report {index}"
            );
            assert_eq!(
                report, &before[selection][index],
                "selection {selection}, report {index}"
            );
        }
    }
    assert_eq!(latency_by_model(store, whole).await, latency);

    // Its hours are never rolled up again, nor its day summed again.
    let refused = store.roll_up_hour(T0 + 3 * HOUR).await.unwrap_err();
    assert!(matches!(refused, StoreError::OutOfRange(_)), "{refused:?}");
    let refused = store.roll_up_day(T0, T0 + 24 * HOUR).await.unwrap_err();
    assert!(matches!(refused, StoreError::OutOfRange(_)), "{refused:?}");

    // The first day's raw records gone too: a report that cuts it is refused, with the day's end;
    // every other one is as it was.
    store.delete_raw_usage(T0 + 24 * HOUR).await.unwrap();
    let cut = &selections(f.acme)[1];
    let refused = store.usage_groups(cut, &[], None, 1).await.unwrap_err();
    assert!(
        matches!(refused, StoreError::KeptByDay { before } if before == T0 + 24 * HOUR),
        "{refused:?}"
    );
    let refused = store
        .latency_percentiles(cut, UsageDimension::Model, 10)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, StoreError::KeptByDay { .. }),
        "{refused:?}"
    );
    for selection in [0, 2] {
        let read = reports_or_refusals(store, &selections(f.acme)[selection]).await;
        for (index, report) in read.into_iter().enumerate() {
            match index {
                // By hour and at other midnights, the first day is cut.
                4 | 6 => assert!(
                    matches!(report, Err(StoreError::KeptByDay { .. })),
                    "report {index}: {report:?}"
                ),
                _ => assert_eq!(report.unwrap(), before[selection][index], "report {index}"),
            }
        }
    }
    assert_eq!(latency_by_model(store, whole).await, latency);
}

/// The first day summed and its hourly rows deleted, then a record of that day stored late (a
/// journal replayed after a long outage): the day is not summed again, its hours not rolled up
/// again, yet every report counts the record once — those that read the day from its daily rows
/// as those that cut it and read its hours from raw records — and still do once the day's raw
/// records are deleted. The latency histograms count it too.
async fn a_record_stored_late_for_a_day_kept_by_day_counts_in_every_report(db: &TestDb) {
    let store = &db.store;
    let f = fixture(store).await;
    store.roll_up_usage(T0 + 48 * HOUR).await.unwrap();
    store.roll_up_day(T0, T0 + 24 * HOUR).await.unwrap();
    store
        .roll_up_day(T0 + 24 * HOUR, T0 + 48 * HOUR)
        .await
        .unwrap();
    store.delete_hourly_rollups(T0 + 24 * HOUR).await.unwrap();
    let whole = &selections(f.acme)[0];
    let latency = latency_by_model(store, whole).await;

    // In time, without error, with a time to first token.
    let late = UsageRecord {
        request_id: "late".to_owned(),
        started_at: T0 + 5 * HOUR + MINUTE,
        ttft_ms: Some(42),
        ..f.records[0].clone()
    };
    assert!(late.error_code.is_none());
    store
        .insert_usage(std::slice::from_ref(&late))
        .await
        .unwrap();
    let marks = store.rollup_marks().await.unwrap();
    assert_eq!(marks.rolled_up, Some(T0 + 48 * HOUR));
    assert_eq!(
        store.next_day_to_roll_up().await.unwrap(),
        Some(T0 + 48 * HOUR)
    );
    let mut all: Vec<UsageRecord> = f.records.iter().cloned().chain([late.clone()]).collect();
    let expect_every_report_to_count_it = async |all: &[UsageRecord], deleted: &str| {
        for selection in selections(f.acme) {
            let within = |r: &&UsageRecord| {
                r.started_at >= selection.from
                    && r.started_at < selection.to
                    && selection.entity.is_none_or(|e| r.entity_id == Some(e))
            };
            let expected = sum(all.iter().filter(within));
            let read = reports_or_refusals(store, &selection).await;
            for (index, report) in read.into_iter().enumerate() {
                match report {
                    Ok(groups) => assert_eq!(
                        sum_groups(&groups),
                        expected,
                        "{deleted}: {selection:?}, report {index}"
                    ),
                    // Only a report cutting the first day once its raw records are gone.
                    Err(error) => assert!(
                        deleted.starts_with("raw records")
                            && matches!(error, StoreError::KeptByDay { .. }),
                        "{deleted}: {selection:?}, report {index}: {error:?}"
                    ),
                }
            }
        }
        let first_day = UsageSelection {
            from: T0,
            to: T0 + 24 * HOUR,
            entity: None,
        };
        let by_day = store.usage_groups(&first_day, &[], None, 1).await.unwrap();
        let in_first_day = all.iter().filter(|r| r.started_at < T0 + 24 * HOUR);
        assert_eq!(by_day[0].totals, sum(in_first_day), "{deleted}: the day");
        let counted = latency_by_model(store, whole).await;
        assert_eq!(counted.len(), latency.len());
        let late = &all[f.records.len()..];
        for now in &counted {
            let before = latency.iter().find(|b| b.key == now.key).unwrap();
            let added = late.iter().filter(|r| Some(&r.model) == now.key.as_ref());
            let added = added.count() as u64;
            assert_eq!(
                now.duration.count,
                before.duration.count + added,
                "{deleted}"
            );
            let ttft = |group: &LatencyGroup| group.ttft.as_ref().map_or(0, |t| t.count);
            assert_eq!(ttft(now), ttft(before) + added, "{deleted}");
        }
    };
    expect_every_report_to_count_it(&all, "hourly rows").await;
    store.delete_raw_usage(T0 + 24 * HOUR).await.unwrap();
    expect_every_report_to_count_it(&all, "raw records").await;

    // Raw records deleted beyond the first day: a record stored late for the second day, whose
    // hours are kept but never rolled up again, is added to its hour's rows and its day's.
    store.delete_raw_usage(T0 + 30 * HOUR).await.unwrap();
    let later = UsageRecord {
        request_id: "later".to_owned(),
        started_at: T0 + 26 * HOUR + MINUTE,
        ..late.clone()
    };
    store
        .insert_usage(std::slice::from_ref(&later))
        .await
        .unwrap();
    all.push(later);
    expect_every_report_to_count_it(&all, "raw records beyond").await;
}

fn sum_groups(groups: &[UsageGroup]) -> UsageTotals {
    let mut totals = UsageTotals::default();
    for group in groups {
        totals.add(&group.totals);
    }
    totals
}

async fn latency_by_model(store: &Store, selection: &UsageSelection) -> Vec<LatencyGroup> {
    store
        .latency_percentiles(selection, UsageDimension::Model, 10)
        .await
        .unwrap()
}
