//! Tests of `admit`: the request-level behaviour across scopes — tightest scope, all-or-nothing,
//! settlement, budgets over calendar periods, reservations in flight, reset, snapshot and restore.

use std::time::Duration;

use domain::{EntityId, KeyId, TeamId, UserId};

use super::*;

/// Sunday 15 June 2025, 10:00 in Paris.
const T0: UnixMillis = 1_749_974_400_000;

fn at(text: &str) -> UnixMillis {
    text.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

fn paris() -> Admission {
    Admission::new(Calendar::new("Europe/Paris").unwrap())
}

/// The scopes of one caller.
struct Caller {
    key: Scope,
    user: Scope,
    team: Scope,
    entity: Scope,
}

impl Caller {
    fn new() -> Self {
        Caller {
            key: Scope::Key(KeyId::generate()),
            user: Scope::User(UserId::generate()),
            team: Scope::Team(TeamId::generate()),
            entity: Scope::Entity(EntityId::generate()),
        }
    }

    fn request(&self, tokens: u64) -> Request {
        self.request_costing(tokens, 0)
    }

    fn request_costing(&self, tokens: u64, cost_micros: u64) -> Request {
        Request {
            scopes: vec![
                self.key.clone(),
                self.user.clone(),
                self.team.clone(),
                self.entity.clone(),
            ],
            estimate: Consumption {
                tokens,
                cost_micros,
            },
            counted: false,
        }
    }
}

fn rpm(n: u32) -> Limits {
    Limits {
        requests_per_minute: Some(n),
        tokens_per_minute: None,
    }
}

fn tpm(n: u64) -> Limits {
    Limits {
        requests_per_minute: None,
        tokens_per_minute: Some(n),
    }
}

fn budget(period: Period, unit: BudgetUnit, hard_limit: u64) -> Budget {
    Budget {
        period,
        unit,
        hard_limit,
        soft_threshold_percent: None,
    }
}

fn tokens(n: u64) -> Consumption {
    Consumption {
        tokens: n,
        cost_micros: 0,
    }
}

#[test]
fn a_request_without_limits_is_admitted_with_no_headers() {
    let admission = paris();
    let admitted = admission
        .check_and_charge(Caller::new().request(10), T0)
        .unwrap();
    assert_eq!(admitted.rate, RateHeaders::default());
    assert_eq!(admitted.budget_warning, None);
    assert_eq!(admission.scope_count(), 0);
}

#[test]
fn a_request_counted_first_is_counted_once_and_its_tokens_still_limited() {
    let admission = paris();
    let caller = Caller::new();
    admission.set_limit(caller.key.clone(), rpm(2)).unwrap();
    admission
        .set_limit(caller.entity.clone(), tpm(100))
        .unwrap();
    let scopes = caller.request(0).scopes;
    // Counted, then refused later for its tokens: it has used one of the two requests all the same.
    admission.count_request(&scopes, T0).unwrap();
    let counted = |tokens| Request {
        counted: true,
        ..caller.request(tokens)
    };
    let refused = admission.check_and_charge(counted(1_000), T0).unwrap_err();
    assert!(
        matches!(refused.refusal, Refusal::RequestTooLarge { .. }),
        "{refused:?}"
    );
    admission.count_request(&scopes, T0).unwrap();
    let admitted = admission.check_and_charge(counted(10), T0).unwrap();
    let requests = admitted.rate.requests.unwrap();
    assert_eq!(
        requests.remaining, 0,
        "counted once each, not again at admission"
    );
    let refused = admission.count_request(&scopes, T0).unwrap_err();
    assert_eq!(
        refused.refusal,
        Refusal::RateLimited {
            scope: caller.key.clone(),
            kind: LimitKind::Requests,
            retry_after: Duration::from_secs(30),
        }
    );
    // A refused count charges nothing: the next request waits no longer than the refusal said.
    let later = T0 + 30_000;
    admission.count_request(&scopes, later).unwrap();
}

#[test]
fn sixty_per_minute_is_a_burst_of_sixty_then_one_per_second() {
    let admission = paris();
    let caller = Caller::new();
    admission.set_limit(caller.key.clone(), rpm(60)).unwrap();
    for _ in 0..60 {
        let _in_flight = admission.check_and_charge(caller.request(0), T0).unwrap();
    }
    let refused = admission
        .check_and_charge(caller.request(0), T0)
        .unwrap_err();
    assert_eq!(
        refused.refusal,
        Refusal::RateLimited {
            scope: caller.key.clone(),
            kind: LimitKind::Requests,
            retry_after: Duration::from_secs(1),
        }
    );
    assert_eq!(refused.code(), "rate_limit_exceeded");
    for second in 1..=10 {
        let now = T0 + second * 1_000;
        let err = admission
            .check_and_charge(caller.request(0), now - 250)
            .unwrap_err();
        assert_eq!(
            err.refusal.retry_after(now - 250),
            Some(Duration::from_millis(250))
        );
        let _in_flight = admission.check_and_charge(caller.request(0), now).unwrap();
        admission
            .check_and_charge(caller.request(0), now)
            .unwrap_err();
    }
}

#[test]
fn the_tightest_scope_sets_the_headers_for_each_kind_separately() {
    let admission = paris();
    let caller = Caller::new();
    admission
        .set_limit(
            caller.key.clone(),
            Limits {
                requests_per_minute: Some(100),
                tokens_per_minute: Some(1_000),
            },
        )
        .unwrap();
    admission.set_limit(caller.user.clone(), rpm(10)).unwrap();
    admission
        .set_limit(caller.entity.clone(), tpm(100_000))
        .unwrap();

    let admitted = admission.check_and_charge(caller.request(250), T0).unwrap();
    assert_eq!(
        admitted.rate.requests,
        Some(RateStatus {
            scope: caller.user.clone(),
            limit: 10,
            remaining: 9,
            reset: Duration::from_secs(6),
        })
    );
    assert_eq!(
        admitted.rate.tokens,
        Some(RateStatus {
            scope: caller.key.clone(),
            limit: 1_000,
            remaining: 750,
            reset: Duration::from_secs(15),
        })
    );
    admission.settle(admitted.ticket, tokens(250), T0);
}

#[test]
fn the_headers_tell_only_of_the_callers_own_key_and_user() {
    // A team's or an entity's figures would tell every member how much the others use.
    let admission = paris();
    let caller = Caller::new();
    admission.set_limit(caller.key.clone(), rpm(100)).unwrap();
    admission.set_limit(caller.team.clone(), rpm(10)).unwrap();
    admission
        .set_limit(caller.entity.clone(), tpm(1_000))
        .unwrap();
    let warn_at_once = Budget {
        soft_threshold_percent: Some(1),
        ..budget(Period::Day, BudgetUnit::Tokens, 10_000)
    };
    admission
        .set_budget(caller.entity.clone(), warn_at_once)
        .unwrap();

    let admitted = admission.check_and_charge(caller.request(250), T0).unwrap();
    let requests = admitted.rate.requests.clone().unwrap();
    assert_eq!(
        (requests.scope, requests.remaining),
        (caller.key.clone(), 99)
    );
    assert_eq!(admitted.rate.tokens, None, "only the entity limits tokens");
    assert_eq!(
        admitted.budget_warning, None,
        "only the entity's budget warns"
    );
    assert_eq!(
        admitted.thresholds_crossed.len(),
        1,
        "the entity's crossing is still announced (as an audit event, not to the caller)"
    );
    admission.settle(admitted.ticket, tokens(250), T0);

    for _ in 1..10 {
        let admitted = admission.check_and_charge(caller.request(0), T0).unwrap();
        admission.settle(admitted.ticket, tokens(0), T0);
    }
    let refused = admission
        .check_and_charge(caller.request(0), T0)
        .unwrap_err();
    assert_eq!(refused.refusal.scope(), &caller.team);
    let requests = refused.rate.requests.unwrap();
    assert_eq!(
        (requests.scope, requests.remaining),
        (caller.key.clone(), 90)
    );
}

#[test]
fn the_scope_with_the_longest_wait_is_the_one_refusing() {
    let admission = paris();
    let caller = Caller::new();
    admission.set_limit(caller.key.clone(), rpm(60)).unwrap();
    admission.set_limit(caller.team.clone(), rpm(30)).unwrap();
    for _ in 0..30 {
        let _in_flight = admission.check_and_charge(caller.request(0), T0).unwrap();
    }
    // The team allows one request every 2 s; the key would allow one now.
    let refused = admission
        .check_and_charge(caller.request(0), T0)
        .unwrap_err();
    assert_eq!(
        refused.refusal,
        Refusal::RateLimited {
            scope: caller.team.clone(),
            kind: LimitKind::Requests,
            retry_after: Duration::from_secs(2),
        }
    );
    // The headers of a refusal show the state as it stands, of the caller's own scopes.
    let requests = refused.rate.requests.unwrap();
    assert_eq!(
        (requests.scope, requests.remaining),
        (caller.key.clone(), 30)
    );
    let _in_flight = admission
        .check_and_charge(caller.request(0), T0 + 2_000)
        .unwrap();
}

#[test]
fn a_refusal_by_one_scope_charges_no_other() {
    let admission = paris();
    let caller = Caller::new();
    admission
        .set_limit(
            caller.key.clone(),
            Limits {
                requests_per_minute: Some(100),
                tokens_per_minute: Some(10_000),
            },
        )
        .unwrap();
    admission.set_limit(caller.user.clone(), rpm(1)).unwrap();
    admission
        .set_budget(
            caller.entity.clone(),
            budget(Period::Day, BudgetUnit::Tokens, 1_000_000),
        )
        .unwrap();
    let first = admission.check_and_charge(caller.request(100), T0).unwrap();
    admission.settle(first.ticket, tokens(100), T0);

    for _ in 0..5 {
        let refused = admission
            .check_and_charge(caller.request(100), T0)
            .unwrap_err();
        assert_eq!(refused.refusal.scope(), &caller.user);
    }
    let key = admission.rate_status(&caller.key, T0);
    assert_eq!(key.requests.unwrap().remaining, 99);
    assert_eq!(key.tokens.unwrap().remaining, 9_900);
    let entity = admission
        .budget(&caller.entity, Period::Day, BudgetUnit::Tokens, T0)
        .unwrap();
    assert_eq!((entity.spent, entity.reserved), (100, 0));
}

#[test]
fn a_budget_refusal_leaves_the_rate_limits_uncharged() {
    let admission = paris();
    let caller = Caller::new();
    admission.set_limit(caller.key.clone(), rpm(10)).unwrap();
    admission
        .set_budget(
            caller.user.clone(),
            budget(Period::Day, BudgetUnit::Tokens, 50),
        )
        .unwrap();
    let refused = admission
        .check_and_charge(caller.request(51), T0)
        .unwrap_err();
    assert_eq!(refused.code(), "budget_exceeded");
    assert_eq!(
        admission
            .rate_status(&caller.key, T0)
            .requests
            .unwrap()
            .remaining,
        10
    );
}

#[test]
fn an_exhausted_budget_is_reported_before_a_rate_limit_wait() {
    let admission = paris();
    let caller = Caller::new();
    admission.set_limit(caller.key.clone(), rpm(1)).unwrap();
    admission
        .set_budget(
            caller.entity.clone(),
            budget(Period::Month, BudgetUnit::Tokens, 100),
        )
        .unwrap();
    let admitted = admission.check_and_charge(caller.request(100), T0).unwrap();
    admission.settle(admitted.ticket, tokens(100), T0);
    let refused = admission
        .check_and_charge(caller.request(1), T0)
        .unwrap_err();
    assert_eq!(
        refused.refusal,
        Refusal::BudgetExceeded {
            scope: caller.entity.clone(),
            period: Period::Month,
            unit: BudgetUnit::Tokens,
            resets_at: at("2025-06-30T22:00:00Z"),
        }
    );
}

#[test]
fn a_request_larger_than_a_token_limit_is_refused_for_good() {
    let admission = paris();
    let caller = Caller::new();
    admission
        .set_limit(caller.team.clone(), tpm(4_000))
        .unwrap();
    let refused = admission
        .check_and_charge(caller.request(4_001), T0)
        .unwrap_err();
    assert_eq!(
        refused.refusal,
        Refusal::RequestTooLarge {
            scope: caller.team.clone(),
            kind: LimitKind::Tokens,
            limit: 4_000,
            requested: 4_001,
        }
    );
    assert_eq!(refused.code(), "rate_limit_exceeded");
    assert_eq!(refused.refusal.retry_after(T0), None);
}

#[test]
fn settlement_refunds_an_over_estimate_and_debits_an_under_estimate() {
    let admission = paris();
    let caller = Caller::new();
    admission.set_limit(caller.key.clone(), tpm(1_000)).unwrap();
    let remaining = |now| {
        admission
            .rate_status(&caller.key, now)
            .tokens
            .unwrap()
            .remaining
    };

    let admitted = admission.check_and_charge(caller.request(600), T0).unwrap();
    assert_eq!(admitted.rate.tokens.as_ref().unwrap().remaining, 400);
    // 600 estimated, 100 used: 500 come back.
    admission.settle(admitted.ticket, tokens(100), T0);
    assert_eq!(remaining(T0), 900);

    let admitted = admission.check_and_charge(caller.request(300), T0).unwrap();
    assert_eq!(remaining(T0), 600);
    // 300 estimated, 700 used: 400 more are taken.
    admission.settle(admitted.ticket, tokens(700), T0);
    assert_eq!(remaining(T0), 200);
    let refused = admission
        .check_and_charge(caller.request(260), T0)
        .unwrap_err();
    assert_eq!(
        refused.refusal,
        Refusal::RateLimited {
            scope: caller.key.clone(),
            kind: LimitKind::Tokens,
            retry_after: Duration::from_millis(3_600),
        }
    );
}

#[test]
fn settlement_leaves_alone_limits_and_budgets_created_after_admission() {
    let admission = paris();
    let caller = Caller::new();
    let admitted = admission.check_and_charge(caller.request(500), T0).unwrap();

    admission.set_limit(caller.key.clone(), tpm(1_000)).unwrap();
    admission
        .set_budget(
            caller.entity.clone(),
            budget(Period::Day, BudgetUnit::Tokens, 10_000),
        )
        .unwrap();
    let later = admission.check_and_charge(caller.request(400), T0).unwrap();

    // Settling the first request must not refund or release what the second one holds.
    admission.settle(admitted.ticket, tokens(0), T0);
    assert_eq!(
        admission
            .rate_status(&caller.key, T0)
            .tokens
            .unwrap()
            .remaining,
        600
    );
    let entity = admission
        .budget(&caller.entity, Period::Day, BudgetUnit::Tokens, T0)
        .unwrap();
    assert_eq!((entity.spent, entity.reserved), (0, 400));

    admission.settle(later.ticket, tokens(400), T0);
    let entity = admission
        .budget(&caller.entity, Period::Day, BudgetUnit::Tokens, T0)
        .unwrap();
    assert_eq!((entity.spent, entity.reserved), (400, 0));
}

#[test]
fn a_scope_named_twice_is_charged_once() {
    let admission = paris();
    let caller = Caller::new();
    admission.set_limit(caller.key.clone(), rpm(2)).unwrap();
    let mut request = caller.request(0);
    request.scopes.push(caller.key.clone());
    request.scopes.insert(0, caller.key.clone());
    let admitted = admission.check_and_charge(request.clone(), T0).unwrap();
    assert_eq!(admitted.ticket.scopes().len(), 4);
    let _in_flight = admission.check_and_charge(request.clone(), T0).unwrap();
    admission.check_and_charge(request, T0).unwrap_err();
}

#[test]
fn limits_change_and_disappear_at_run_time() {
    let admission = paris();
    let caller = Caller::new();
    admission.set_limit(caller.key.clone(), rpm(1)).unwrap();
    let _in_flight = admission.check_and_charge(caller.request(0), T0).unwrap();
    admission
        .check_and_charge(caller.request(0), T0)
        .unwrap_err();

    admission.set_limit(caller.key.clone(), rpm(120)).unwrap();
    assert_eq!(admission.limits(&caller.key), rpm(120));
    // The share of the minute used is kept (all of it), but it now refills at 120 a minute: the
    // next request passes after half a second instead of a minute.
    let refused = admission
        .check_and_charge(caller.request(0), T0)
        .unwrap_err();
    assert_eq!(
        refused.refusal.retry_after(T0),
        Some(Duration::from_millis(500))
    );
    let admitted = admission
        .check_and_charge(caller.request(0), T0 + 500)
        .unwrap();
    assert_eq!(admitted.rate.requests.unwrap().remaining, 0);
    assert_eq!(
        admission
            .rate_status(&caller.key, T0 + 30_500)
            .requests
            .unwrap()
            .remaining,
        60
    );

    admission
        .set_limit(caller.key.clone(), Limits::default())
        .unwrap();
    assert_eq!(admission.limits(&caller.key), Limits::default());
    assert_eq!(admission.scope_count(), 0);
    assert_eq!(
        admission.set_limit(caller.key.clone(), rpm(0)),
        Err(InvalidLimit::Zero(LimitKind::Requests))
    );
}

#[test]
fn a_daily_budget_resets_at_local_midnight_in_paris() {
    let admission = paris();
    let caller = Caller::new();
    admission
        .set_budget(
            caller.key.clone(),
            budget(Period::Day, BudgetUnit::Tokens, 1_000),
        )
        .unwrap();
    // 23:30 in Paris (UTC+2).
    let late = at("2025-06-15T21:30:00Z");
    let admitted = admission
        .check_and_charge(caller.request(1_000), late)
        .unwrap();
    admission.settle(admitted.ticket, tokens(1_000), late);

    let midnight = at("2025-06-15T22:00:00Z");
    let refused = admission
        .check_and_charge(caller.request(1), midnight - 1)
        .unwrap_err();
    assert_eq!(
        refused.refusal,
        Refusal::BudgetExceeded {
            scope: caller.key.clone(),
            period: Period::Day,
            unit: BudgetUnit::Tokens,
            resets_at: midnight,
        }
    );
    assert_eq!(
        refused.refusal.retry_after(midnight - 1),
        Some(Duration::from_millis(1))
    );
    let _in_flight = admission
        .check_and_charge(caller.request(1_000), midnight)
        .unwrap();
    let status = admission
        .budget(&caller.key, Period::Day, BudgetUnit::Tokens, midnight)
        .unwrap();
    assert_eq!(status.period_start, midnight);
    assert_eq!(status.resets_at, at("2025-06-16T22:00:00Z"));
    assert_eq!(
        (status.spent, status.reserved, status.limit),
        (0, 1_000, 1_000)
    );
}

#[test]
fn on_the_spring_dst_day_the_daily_budget_resets_after_23_hours() {
    let admission = paris();
    let caller = Caller::new();
    admission
        .set_budget(
            caller.entity.clone(),
            budget(Period::Day, BudgetUnit::Tokens, 10),
        )
        .unwrap();
    // 00:30 on Sunday 30 March 2025, still in winter time (UTC+1).
    let early = at("2025-03-29T23:30:00Z");
    let admitted = admission
        .check_and_charge(caller.request(10), early)
        .unwrap();
    admission.settle(admitted.ticket, tokens(10), early);
    let refused = admission
        .check_and_charge(caller.request(1), early)
        .unwrap_err();
    let next_midnight = at("2025-03-30T22:00:00Z");
    assert!(matches!(
        refused.refusal,
        Refusal::BudgetExceeded { resets_at, .. } if resets_at == next_midnight
    ));
    // At what UTC+1 would call 23:00, the day is not over: clocks moved forward at 02:00.
    admission
        .check_and_charge(caller.request(1), at("2025-03-30T21:59:59.999Z"))
        .unwrap_err();
    let _in_flight = admission
        .check_and_charge(caller.request(10), next_midnight)
        .unwrap();
}

#[test]
fn on_the_autumn_dst_day_the_daily_budget_lasts_25_hours() {
    let admission = paris();
    let caller = Caller::new();
    admission
        .set_budget(
            caller.user.clone(),
            budget(Period::Day, BudgetUnit::Tokens, 10),
        )
        .unwrap();
    let start = at("2025-10-25T22:00:00Z");
    let admitted = admission
        .check_and_charge(caller.request(10), start)
        .unwrap();
    admission.settle(admitted.ticket, tokens(10), start);
    // 24 hours later it is only 23:00 in Paris: still the same day.
    admission
        .check_and_charge(caller.request(1), start + 24 * 3_600_000)
        .unwrap_err();
    let _in_flight = admission
        .check_and_charge(caller.request(10), start + 25 * 3_600_000)
        .unwrap();
}

#[test]
fn a_monthly_money_budget_resets_on_the_first_at_local_midnight() {
    let admission = paris();
    let caller = Caller::new();
    admission
        .set_budget(
            caller.entity.clone(),
            budget(Period::Month, BudgetUnit::MoneyMicros, 5_000_000),
        )
        .unwrap();
    let october = at("2025-10-10T12:00:00Z");
    let admitted = admission
        .check_and_charge(caller.request_costing(100, 5_000_000), october)
        .unwrap();
    admission.settle(
        admitted.ticket,
        Consumption {
            tokens: 80,
            cost_micros: 4_200_000,
        },
        october,
    );
    let refused = admission
        .check_and_charge(caller.request_costing(10, 900_000), october)
        .unwrap_err();
    // 1 November 00:00 in Paris is 23:00 UTC: winter time began on 26 October.
    let november = at("2025-10-31T23:00:00Z");
    assert_eq!(
        refused.refusal,
        Refusal::BudgetExceeded {
            scope: caller.entity.clone(),
            period: Period::Month,
            unit: BudgetUnit::MoneyMicros,
            resets_at: november,
        }
    );
    let _in_flight = admission
        .check_and_charge(caller.request_costing(10, 800_000), october)
        .unwrap();
    let _in_flight = admission
        .check_and_charge(caller.request_costing(10, 900_000), november)
        .unwrap();
}

#[test]
fn reservations_in_flight_keep_concurrent_requests_under_the_hard_limit() {
    let admission = paris();
    let caller = Caller::new();
    admission
        .set_budget(
            caller.entity.clone(),
            budget(Period::Day, BudgetUnit::Tokens, 1_000),
        )
        .unwrap();
    // Eight requests of 300 arrive before any is settled: only three fit.
    let results: Vec<_> = (0..8)
        .map(|_| admission.check_and_charge(caller.request(300), T0))
        .collect();
    let admitted: Vec<Admitted> = results.into_iter().filter_map(Result::ok).collect();
    assert_eq!(admitted.len(), 3);
    let status = admission
        .budget(&caller.entity, Period::Day, BudgetUnit::Tokens, T0)
        .unwrap();
    assert_eq!((status.spent, status.reserved), (0, 900));

    // Settled at or under their estimates, the total stays under the limit…
    let mut tickets = admitted.into_iter().map(|a| a.ticket);
    admission.settle(tickets.next().unwrap(), tokens(300), T0);
    admission.settle(tickets.next().unwrap(), tokens(250), T0);
    // …and over them, it exceeds it by no more than the sum of the excesses (here 150).
    admission.settle(tickets.next().unwrap(), tokens(450), T0);
    let status = admission
        .budget(&caller.entity, Period::Day, BudgetUnit::Tokens, T0)
        .unwrap();
    assert_eq!((status.spent, status.reserved), (1_000, 0));
    admission
        .check_and_charge(caller.request(1), T0)
        .unwrap_err();
}

#[test]
fn threads_racing_for_a_budget_never_reserve_past_it() {
    let admission = paris();
    let caller = Caller::new();
    admission
        .set_budget(
            caller.entity.clone(),
            budget(Period::Day, BudgetUnit::Tokens, 1_000),
        )
        .unwrap();
    let admitted = std::thread::scope(|threads| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                threads.spawn(|| {
                    (0..500)
                        .filter_map(|_| admission.check_and_charge(caller.request(7), T0).ok())
                        .map(|a| a.ticket)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert_eq!(admitted.len(), 1_000 / 7);
    let status = admission
        .budget(&caller.entity, Period::Day, BudgetUnit::Tokens, T0)
        .unwrap();
    assert_eq!(status.reserved, 7 * (1_000 / 7));
    for ticket in admitted {
        admission.settle(ticket, tokens(7), T0);
    }
    let status = admission
        .budget(&caller.entity, Period::Day, BudgetUnit::Tokens, T0)
        .unwrap();
    assert_eq!((status.spent, status.reserved), (994, 0));
}

#[test]
fn a_request_in_flight_at_midnight_is_settled_into_the_new_day() {
    let admission = paris();
    let caller = Caller::new();
    admission
        .set_budget(
            caller.key.clone(),
            budget(Period::Day, BudgetUnit::Tokens, 1_000),
        )
        .unwrap();
    let midnight = at("2025-06-15T22:00:00Z");
    let admitted = admission
        .check_and_charge(caller.request(400), midnight - 10)
        .unwrap();
    // The reservation still counts after midnight, until settlement releases it.
    admission
        .check_and_charge(caller.request(601), midnight)
        .unwrap_err();
    admission.settle(admitted.ticket, tokens(300), midnight + 10);
    let status = admission
        .budget(&caller.key, Period::Day, BudgetUnit::Tokens, midnight + 10)
        .unwrap();
    assert_eq!((status.spent, status.reserved), (300, 0));
    assert_eq!(status.period_start, midnight);
}

#[test]
fn the_most_used_budget_past_its_soft_threshold_warns() {
    let admission = paris();
    let caller = Caller::new();
    let soft = |period, limit, percent| Budget {
        soft_threshold_percent: Some(percent),
        ..budget(period, BudgetUnit::Tokens, limit)
    };
    admission
        .set_budget(caller.user.clone(), soft(Period::Day, 1_000, 50))
        .unwrap();
    admission
        .set_budget(caller.entity.clone(), soft(Period::Month, 10_000, 80))
        .unwrap();

    let admitted = admission.check_and_charge(caller.request(400), T0).unwrap();
    assert_eq!(admitted.budget_warning, None);
    let admitted = admission.check_and_charge(caller.request(200), T0).unwrap();
    assert_eq!(
        admitted.budget_warning,
        Some(BudgetWarning {
            scope: caller.user.clone(),
            period: Period::Day,
            unit: BudgetUnit::Tokens,
            committed: 600,
            limit: 1_000,
        })
    );
    assert_eq!(
        admitted.thresholds_crossed,
        vec![BudgetWarning {
            scope: caller.user.clone(),
            period: Period::Day,
            unit: BudgetUnit::Tokens,
            committed: 600,
            limit: 1_000,
        }],
        "the crossing is announced by the request that made it"
    );
    let admitted = admission.check_and_charge(caller.request(100), T0).unwrap();
    assert!(admitted.budget_warning.is_some());
    assert!(
        admitted.thresholds_crossed.is_empty(),
        "once per period: later requests only carry the header"
    );
    // A reset zeroes what was spent; the 700 still reserved keep the budget past its threshold.
    admission.reset(&caller.user, T0);
    let admitted = admission.check_and_charge(caller.request(300), T0).unwrap();
    assert_eq!(
        admitted.thresholds_crossed.len(),
        1,
        "after a reset the threshold is announced again"
    );
}

#[test]
fn reset_zeroes_spent_amounts_and_refills_rate_limits() {
    let admission = paris();
    let caller = Caller::new();
    admission.set_limit(caller.key.clone(), rpm(1)).unwrap();
    admission
        .set_budget(
            caller.key.clone(),
            budget(Period::Day, BudgetUnit::Tokens, 100),
        )
        .unwrap();
    let admitted = admission.check_and_charge(caller.request(100), T0).unwrap();
    admission.settle(admitted.ticket, tokens(100), T0);
    let in_flight_budget_free = admission.check_and_charge(caller.request(0), T0);
    assert!(in_flight_budget_free.is_err());

    admission.reset(&caller.key, T0);
    let status = admission
        .budget(&caller.key, Period::Day, BudgetUnit::Tokens, T0)
        .unwrap();
    assert_eq!((status.spent, status.reserved), (0, 0));
    let _in_flight = admission.check_and_charge(caller.request(100), T0).unwrap();
}

#[test]
fn snapshot_and_restore_carry_spent_amounts_across_a_restart() {
    let configure = |admission: &Admission, caller: &Caller| {
        admission
            .set_budget(
                caller.entity.clone(),
                budget(Period::Day, BudgetUnit::Tokens, 10_000),
            )
            .unwrap();
        admission
            .set_budget(
                caller.entity.clone(),
                budget(Period::Month, BudgetUnit::MoneyMicros, 9_000_000),
            )
            .unwrap();
        admission
            .set_budget(
                caller.team.clone(),
                budget(Period::Month, BudgetUnit::Tokens, 50_000),
            )
            .unwrap();
    };
    let caller = Caller::new();
    let before = paris();
    configure(&before, &caller);
    let admitted = before
        .check_and_charge(caller.request_costing(1_000, 2_000_000), T0)
        .unwrap();
    before.settle(
        admitted.ticket,
        Consumption {
            tokens: 700,
            cost_micros: 1_500_000,
        },
        T0,
    );
    let mut saved = before.snapshot(T0);
    saved.sort_by(|a, b| (&a.scope, a.period, a.unit).cmp(&(&b.scope, b.period, b.unit)));
    assert_eq!(saved.len(), 3);
    assert!(saved.iter().all(|r| r.spent == 700 || r.spent == 1_500_000));

    let after = paris();
    configure(&after, &caller);
    assert_eq!(after.restore(saved.clone(), T0 + 60_000), 3);
    let mut reloaded = after.snapshot(T0 + 60_000);
    reloaded.sort_by(|a, b| (&a.scope, a.period, a.unit).cmp(&(&b.scope, b.period, b.unit)));
    assert_eq!(reloaded, saved);

    // The next day, the daily record is stale and skipped; the monthly ones still apply.
    let fresh = paris();
    configure(&fresh, &caller);
    assert_eq!(fresh.restore(saved, T0 + 86_400_000), 2);
    let day = fresh
        .budget(
            &caller.entity,
            Period::Day,
            BudgetUnit::Tokens,
            T0 + 86_400_000,
        )
        .unwrap();
    assert_eq!(day.spent, 0);
}

#[test]
fn snapshot_records_serialize_with_readable_scopes() {
    let team: TeamId = "team_0190a6e2f1c27d3e8a4b5c6d7e8f9a0b".parse().unwrap();
    let record = SpentRecord {
        scope: Scope::Team(team),
        period: Period::Month,
        unit: BudgetUnit::MoneyMicros,
        period_start: 1_748_728_800_000,
        spent: 5,
    };
    let json = serde_json::to_string(&record).unwrap();
    assert_eq!(
        json,
        r#"{"scope":{"kind":"team","id":"team_0190a6e2f1c27d3e8a4b5c6d7e8f9a0b"},"period":"month","unit":"money_micros","period_start":1748728800000,"spent":5}"#
    );
    assert_eq!(serde_json::from_str::<SpentRecord>(&json).unwrap(), record);
    let key = Scope::Key(KeyId::generate());
    let json = serde_json::to_string(&key).unwrap();
    assert_eq!(serde_json::from_str::<Scope>(&json).unwrap(), key);
}

#[test]
fn removing_a_budget_forgets_it() {
    let admission = paris();
    let caller = Caller::new();
    admission
        .set_budget(
            caller.user.clone(),
            budget(Period::Day, BudgetUnit::Tokens, 1),
        )
        .unwrap();
    admission
        .check_and_charge(caller.request(2), T0)
        .unwrap_err();
    assert!(admission.remove_budget(&caller.user, Period::Day, BudgetUnit::Tokens));
    assert!(!admission.remove_budget(&caller.user, Period::Day, BudgetUnit::Tokens));
    assert_eq!(admission.budgets(&caller.user, T0), vec![]);
    assert_eq!(admission.scope_count(), 0);
    let _in_flight = admission.check_and_charge(caller.request(2), T0).unwrap();
}

#[test]
fn scopes_in_many_shards_are_locked_without_deadlock() {
    let admission = Admission::with_shards(Calendar::utc(), 4);
    let callers: Vec<Caller> = (0..16).map(|_| Caller::new()).collect();
    for caller in &callers {
        for scope in [&caller.key, &caller.user, &caller.entity] {
            admission.set_limit(scope.clone(), rpm(1_000)).unwrap();
        }
    }
    std::thread::scope(|threads| {
        for _ in 0..2 {
            threads.spawn(|| {
                for round in 0..500 {
                    let caller = &callers[round % callers.len()];
                    let mut request = caller.request(1);
                    if round % 2 == 0 {
                        request.scopes.reverse();
                    }
                    let admitted = admission.check_and_charge(request, T0).unwrap();
                    admission.settle(admitted.ticket, tokens(1), T0);
                }
            });
        }
    });
    let used: u64 = callers
        .iter()
        .map(|c| {
            1_000
                - admission
                    .rate_status(&c.key, T0)
                    .requests
                    .unwrap()
                    .remaining
        })
        .sum();
    assert_eq!(used, 1_000);
}
