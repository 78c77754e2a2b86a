//! Tests of `gcra`: smoothness, exact waits, limits changed under load.

use std::time::Duration;

use super::*;

const T0: UnixMillis = 1_750_000_000_000;

/// Charges one unit per call while admitted; returns how many passed.
fn drain(gcra: &mut Gcra, now: UnixMillis) -> u64 {
    let mut passed = 0;
    while gcra.check(1, now).is_ok() {
        gcra.charge(1, now);
        passed += 1;
    }
    passed
}

#[test]
fn a_full_bucket_admits_one_minute_of_burst() {
    let mut gcra = Gcra::new(60);
    assert_eq!(drain(&mut gcra, T0), 60);
    assert_eq!(
        gcra.check(1, T0),
        Err(Shortfall::RetryAfter(Duration::from_secs(1)))
    );
}

#[test]
fn after_the_burst_sixty_per_minute_is_one_per_second() {
    let mut gcra = Gcra::new(60);
    drain(&mut gcra, T0);
    for second in 1..=120 {
        let now = T0 + second * 1000;
        // One millisecond early is refused, with a wait of exactly that millisecond.
        assert_eq!(
            gcra.check(1, now - 1),
            Err(Shortfall::RetryAfter(Duration::from_millis(1)))
        );
        assert_eq!(drain(&mut gcra, now), 1, "second {second}");
    }
}

#[test]
fn the_wait_is_exact_for_limits_that_do_not_divide_a_minute() {
    let mut gcra = Gcra::new(7);
    assert_eq!(drain(&mut gcra, T0), 7);
    // 60 s / 7 = 8.571428571… s, rounded up to the nanosecond.
    assert_eq!(
        gcra.check(1, T0),
        Err(Shortfall::RetryAfter(Duration::from_nanos(8_571_428_572)))
    );
    // Over an hour the rate never drifts: exactly 7 × 60 more units pass.
    let mut passed = 0;
    for ms in (T0..=T0 + 3_600_000).step_by(100) {
        passed += drain(&mut gcra, ms);
    }
    assert_eq!(passed, 7 * 60);
}

#[test]
fn waiting_the_retry_after_is_enough_and_waiting_less_is_not() {
    let mut gcra = Gcra::new(1_000);
    gcra.charge(1_000, T0);
    let Err(Shortfall::RetryAfter(wait)) = gcra.check(250, T0 + 10) else {
        panic!("expected a wait");
    };
    assert_eq!(wait, Duration::from_millis(15_000 - 10));
    let at = T0 + 10 + wait.as_millis() as i64;
    assert!(gcra.check(250, at).is_ok());
    assert!(gcra.check(250, at - 1).is_err());
}

#[test]
fn more_than_the_limit_at_once_is_never_admitted() {
    let gcra = Gcra::new(100);
    assert_eq!(gcra.check(101, T0), Err(Shortfall::TooLarge));
    assert_eq!(gcra.check(100, T0), Ok(()));
}

#[test]
fn status_counts_remaining_units_and_time_to_full() {
    let mut gcra = Gcra::new(60);
    let full = gcra.status(T0);
    assert_eq!(
        (full.limit, full.remaining, full.reset()),
        (60, 60, Duration::ZERO)
    );
    gcra.charge(3, T0);
    assert_eq!(gcra.status(T0).remaining, 57);
    assert_eq!(gcra.status(T0).reset(), Duration::from_secs(3));
    // Half a unit refilled still leaves the unit unavailable.
    assert_eq!(gcra.status(T0 + 500).remaining, 57);
    assert_eq!(gcra.status(T0 + 1_000).remaining, 58);
    assert_eq!(gcra.status(T0 + 1_000).reset(), Duration::from_secs(2));
}

#[test]
fn usage_recorded_beyond_the_limit_shows_zero_remaining() {
    let mut gcra = Gcra::new(10);
    gcra.charge(25, T0);
    assert_eq!(gcra.status(T0).remaining, 0);
    assert_eq!(gcra.status(T0).reset(), Duration::from_secs(150));
}

#[test]
fn a_refund_cannot_bank_credit_beyond_a_full_bucket() {
    let mut gcra = Gcra::new(60);
    gcra.charge(1, T0);
    gcra.refund(30);
    assert_eq!(gcra.status(T0).remaining, 60);
    assert_eq!(drain(&mut gcra, T0), 60);
}

#[test]
fn a_changed_limit_keeps_the_share_of_the_minute_used() {
    let mut gcra = Gcra::new(60);
    gcra.charge(30, T0);
    gcra.set_limit(120);
    assert_eq!(gcra.status(T0).remaining, 60);
    assert_eq!(gcra.status(T0).reset(), Duration::from_secs(30));
    gcra.set_limit(7);
    assert_eq!(gcra.status(T0).reset(), Duration::from_secs(30));
    assert_eq!(gcra.status(T0).remaining, 3);
}

#[test]
fn very_large_limits_do_not_overflow() {
    let mut gcra = Gcra::new(MAX_LIMIT_PER_MINUTE);
    gcra.charge(MAX_LIMIT_PER_MINUTE, T0);
    // One unit takes 0.06 ns, rounded up to a whole nanosecond.
    assert_eq!(
        gcra.check(1, T0),
        Err(Shortfall::RetryAfter(Duration::from_nanos(1)))
    );
    assert_eq!(
        gcra.check(1_000_000, T0),
        Err(Shortfall::RetryAfter(Duration::from_nanos(60_000)))
    );
    gcra.set_limit(1);
    assert_eq!(gcra.status(T0).reset(), Duration::from_secs(60));
}
