//! The rules read for shared counting, and headers from debts counted elsewhere.

use std::time::Duration;

use domain::{EntityId, KeyId};

use crate::{
    Admission, Budget, BudgetUnit, Calendar, LimitKind, Limits, Period, RateHeaders, Scope,
};

use super::Debt;

const NOON: i64 = 1_700_000_000_000;

#[test]
fn rules_name_each_limited_scope_once_with_its_budgets_in_the_current_period() {
    let admission = Admission::new(Calendar::utc());
    let key = Scope::Key(KeyId::generate());
    let entity = Scope::Entity(EntityId::generate());
    let limits = Limits {
        requests_per_minute: Some(5),
        tokens_per_minute: None,
    };
    admission.set_limit(key.clone(), limits).unwrap();
    let budget = Budget {
        period: Period::Day,
        unit: BudgetUnit::MoneyMicros,
        hard_limit: 1_000,
        soft_threshold_percent: None,
    };
    admission.set_budget(entity.clone(), budget).unwrap();
    let unlimited = Scope::Key(KeyId::generate());

    let rules = admission.rules(&[key.clone(), unlimited, entity.clone(), key.clone()], NOON);

    assert_eq!(rules.len(), 2);
    assert_eq!((&rules[0].scope, rules[0].limits), (&key, limits));
    assert!(rules[0].budgets.is_empty());
    assert_eq!(rules[1].scope, entity);
    let day = &rules[1].budgets[0];
    assert_eq!(day.budget, budget);
    assert!(day.period_start <= NOON && NOON < day.resets_at);
    assert_eq!(day.resets_at - day.period_start, 86_400_000);
}

#[test]
fn headers_from_debts_report_the_tightest_personal_scope() {
    let key = Scope::Key(KeyId::generate());
    let entity = Scope::Entity(EntityId::generate());
    let debts = [
        // Two of ten used: a full window's ticks per unit.
        (
            &key,
            Debt {
                kind: LimitKind::Requests,
                limit: 10,
                debt: 2 * 60_000,
            },
        ),
        // Shared scopes never show, however tight.
        (
            &entity,
            Debt {
                kind: LimitKind::Requests,
                limit: 3,
                debt: 3 * 60_000,
            },
        ),
    ];
    let headers = RateHeaders::from_debts(debts);
    let requests = headers.requests.unwrap();
    assert_eq!(
        (requests.scope, requests.limit, requests.remaining),
        (key, 10, 8)
    );
    // Two units of a tenth of a minute each.
    assert_eq!(requests.reset, Duration::from_secs(12));
    assert_eq!(headers.tokens, None);
}
