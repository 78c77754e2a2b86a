//! Tests of `period`: local midnights in Europe/Paris, DST days, months, zones that skip midnight.

use super::*;

fn at(text: &str) -> UnixMillis {
    text.parse::<Timestamp>().unwrap().as_millisecond()
}

fn paris() -> Calendar {
    Calendar::new("Europe/Paris").unwrap()
}

#[test]
fn a_day_runs_from_local_midnight_to_local_midnight() {
    // 10:00 in Paris in summer (UTC+2).
    let (start, end) = paris().bounds(Period::Day, at("2025-06-15T08:00:00Z"));
    assert_eq!(start, at("2025-06-14T22:00:00Z"));
    assert_eq!(end, at("2025-06-15T22:00:00Z"));
}

#[test]
fn local_midnight_belongs_to_the_new_day() {
    let calendar = paris();
    let midnight = at("2025-06-14T22:00:00Z");
    assert_eq!(calendar.bounds(Period::Day, midnight).0, midnight);
    assert_eq!(calendar.bounds(Period::Day, midnight - 1).1, midnight);
}

#[test]
fn the_spring_dst_day_lasts_23_hours_and_the_autumn_one_25() {
    let calendar = paris();
    let (start, end) = calendar.bounds(Period::Day, at("2025-03-30T12:00:00Z"));
    assert_eq!(start, at("2025-03-29T23:00:00Z"));
    assert_eq!(end, at("2025-03-30T22:00:00Z"));
    assert_eq!(end - start, 23 * 3_600_000);

    let (start, end) = calendar.bounds(Period::Day, at("2025-10-26T12:00:00Z"));
    assert_eq!(start, at("2025-10-25T22:00:00Z"));
    assert_eq!(end, at("2025-10-26T23:00:00Z"));
    assert_eq!(end - start, 25 * 3_600_000);
}

#[test]
fn a_month_runs_from_the_first_to_the_first_across_dst() {
    let calendar = paris();
    // March 2025 starts in winter time and ends in summer time.
    let (start, end) = calendar.bounds(Period::Month, at("2025-03-15T12:00:00Z"));
    assert_eq!(start, at("2025-02-28T23:00:00Z"));
    assert_eq!(end, at("2025-03-31T22:00:00Z"));
    // December rolls into the next year.
    let (start, end) = calendar.bounds(Period::Month, at("2025-12-31T22:59:59.999Z"));
    assert_eq!(start, at("2025-11-30T23:00:00Z"));
    assert_eq!(end, at("2025-12-31T23:00:00Z"));
}

#[test]
fn a_zone_that_skips_midnight_starts_the_day_after_the_gap() {
    // Chile moved clocks from 00:00 to 01:00 on 2024-09-08 (UTC-4 to UTC-3).
    let calendar = Calendar::new("America/Santiago").unwrap();
    let (start, end) = calendar.bounds(Period::Day, at("2024-09-08T12:00:00Z"));
    assert_eq!(start, at("2024-09-08T04:00:00Z"));
    assert_eq!(end, at("2024-09-09T03:00:00Z"));
}

#[test]
fn utc_and_unknown_zones() {
    let (start, end) = Calendar::utc().bounds(Period::Day, at("2025-06-15T08:00:00Z"));
    assert_eq!(
        (start, end),
        (at("2025-06-15T00:00:00Z"), at("2025-06-16T00:00:00Z"))
    );
    assert_eq!(paris().time_zone_name(), Some("Europe/Paris"));
    let err = Calendar::new("Mars/Olympus_Mons").unwrap_err();
    assert_eq!(err, UnknownTimeZone("Mars/Olympus_Mons".into()));
}

#[test]
fn instants_beyond_the_calendar_get_a_period_that_never_ends() {
    let now = UnixMillis::MAX - 1;
    assert_eq!(paris().bounds(Period::Month, now), (now, UnixMillis::MAX));
}
