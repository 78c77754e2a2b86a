//! Tests of `budget`: the admission rule with reservations, settlement, warnings and rollover.

use super::*;

const T0: UnixMillis = 1_750_000_000_000;

fn tokens(n: u64) -> Consumption {
    Consumption {
        tokens: n,
        cost_micros: 0,
    }
}

fn state(hard_limit: u64, soft: Option<u8>) -> BudgetState {
    let mut state = BudgetState::new(
        Budget {
            period: Period::Day,
            unit: BudgetUnit::Tokens,
            hard_limit,
            soft_threshold_percent: soft,
        },
        1,
    );
    state.roll_over(&Calendar::utc(), T0);
    state
}

#[test]
fn reservations_count_against_the_hard_limit() {
    let mut budget = state(1_000, None);
    for _ in 0..3 {
        assert!(budget.admits(tokens(300)));
        budget.reserve(tokens(300));
    }
    assert!(!budget.admits(tokens(300)));
    assert!(budget.admits(tokens(100)));
    assert_eq!((budget.spent, budget.reserved), (0, 900));
}

#[test]
fn settlement_replaces_the_reservation_with_the_actual_amount() {
    let mut budget = state(1_000, None);
    budget.reserve(tokens(300));
    budget.settle(tokens(300), tokens(120));
    assert_eq!((budget.spent, budget.reserved), (120, 0));
}

#[test]
fn the_unit_picks_tokens_or_money() {
    let mut budget = state(1_000, None);
    budget.config.unit = BudgetUnit::MoneyMicros;
    let request = Consumption {
        tokens: 5_000,
        cost_micros: 700,
    };
    assert!(budget.admits(request));
    budget.reserve(request);
    assert_eq!(budget.reserved, 700);
}

#[test]
fn a_zero_budget_admits_only_free_requests() {
    let budget = state(0, None);
    assert!(budget.admits(tokens(0)));
    assert!(!budget.admits(tokens(1)));
}

#[test]
fn amounts_near_the_integer_limit_do_not_wrap() {
    let mut budget = state(u64::MAX, None);
    budget.reserve(tokens(u64::MAX - 1));
    assert!(budget.admits(tokens(1)));
    assert!(!budget.admits(tokens(2)));
}

#[test]
fn the_soft_threshold_warns_from_its_percentage() {
    let mut budget = state(1_000, Some(80));
    budget.reserve(tokens(799));
    assert_eq!(budget.warning_level(), None);
    budget.reserve(tokens(1));
    assert_eq!(budget.warning_level(), Some(800_000));
    assert_eq!(state(1_000, None).warning_level(), None);
}

#[test]
fn a_new_period_zeroes_spent_but_keeps_reservations_in_flight() {
    let mut budget = state(1_000, None);
    budget.spent = 600;
    budget.reserve(tokens(100));
    let next_day = budget.resets_at;
    budget.roll_over(&Calendar::utc(), next_day - 1);
    assert_eq!(budget.spent, 600);
    budget.roll_over(&Calendar::utc(), next_day);
    assert_eq!((budget.spent, budget.reserved), (0, 100));
    assert_eq!(budget.period_start, next_day);
    assert_eq!(budget.resets_at, next_day + 86_400_000);
}

#[test]
fn soft_thresholds_are_percentages() {
    let budget = |soft| Budget {
        period: Period::Month,
        unit: BudgetUnit::MoneyMicros,
        hard_limit: 1,
        soft_threshold_percent: soft,
    };
    assert_eq!(
        budget(Some(0)).validate(),
        Err(InvalidLimit::SoftThreshold(0))
    );
    assert_eq!(
        budget(Some(101)).validate(),
        Err(InvalidLimit::SoftThreshold(101))
    );
    assert_eq!(budget(Some(100)).validate(), Ok(()));
    assert_eq!(budget(None).validate(), Ok(()));
}

#[test]
fn slots_are_distinct_per_period_and_unit() {
    let mut slots = std::collections::HashSet::new();
    for period in [Period::Day, Period::Month] {
        for unit in [BudgetUnit::Tokens, BudgetUnit::MoneyMicros] {
            assert!(slots.insert(BudgetSlots::slot(period, unit)));
        }
    }
    assert_eq!(slots.len(), 4);
}
