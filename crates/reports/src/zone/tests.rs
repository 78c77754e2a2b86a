//! Instants, days and months read in the group's time zone, daylight saving time included.

use super::*;

fn at(text: &str) -> UnixMillis {
    text.parse::<Timestamp>().unwrap().as_millisecond()
}

fn paris() -> Zone {
    Zone::new("Europe/Paris").unwrap()
}

#[test]
fn instants_are_read_as_rfc_3339_or_as_local_midnight() {
    let zone = paris();
    assert_eq!(
        zone.parse_instant("2026-11-01T00:00:00Z"),
        Ok(at("2026-11-01T00:00:00Z"))
    );
    assert_eq!(
        zone.parse_instant("2026-11-01"),
        Ok(at("2026-10-31T23:00:00Z"))
    );
    assert!(matches!(
        zone.parse_instant("yesterday"),
        Err(ReportError::BadInstant(_))
    ));
    assert_eq!(
        zone.format(at("2026-10-31T23:00:00Z")),
        "2026-11-01T00:00:00+01:00"
    );
}

#[test]
fn a_month_runs_from_local_midnight_on_the_first() {
    let zone = paris();
    let month = Month::parse("2026-03").unwrap();
    assert_eq!(month.to_string(), "2026-03");
    assert_eq!(
        zone.month_bounds(month),
        Ok((at("2026-02-28T23:00:00Z"), at("2026-03-31T22:00:00Z")))
    );
    assert_eq!(
        zone.month_of(at("2026-03-31T22:30:00Z"))
            .map(|m| m.to_string()),
        Some("2026-04".to_owned())
    );
    for bad in ["2026-13", "2026-3", "26-03", "2026/03", "1969-12", ""] {
        assert!(Month::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn days_follow_daylight_saving_time() {
    let zone = paris();
    // Sunday 25 October 2026 lasts 25 hours in Paris.
    let buckets = zone
        .buckets(
            Interval::Day,
            zone.parse_instant("2026-10-24").unwrap(),
            zone.parse_instant("2026-10-27").unwrap(),
        )
        .unwrap();
    assert_eq!(
        buckets,
        vec![
            at("2026-10-23T22:00:00Z"),
            at("2026-10-24T22:00:00Z"),
            at("2026-10-25T23:00:00Z"),
            at("2026-10-26T23:00:00Z"),
        ]
    );
    assert_eq!(buckets[2] - buckets[1], 25 * 3_600_000);
}

#[test]
fn the_repeated_autumn_hour_is_two_buckets() {
    let zone = paris();
    let buckets = zone
        .buckets(
            Interval::Hour,
            at("2026-10-25T00:00:00Z"),
            at("2026-10-25T02:00:00Z"),
        )
        .unwrap();
    let labels: Vec<String> = buckets.iter().map(|&b| zone.format(b)).collect();
    assert_eq!(
        labels,
        [
            "2026-10-25T02:00:00+02:00",
            "2026-10-25T02:00:00+01:00",
            "2026-10-25T03:00:00+01:00",
        ]
    );
}

#[test]
fn partial_buckets_start_at_from_and_end_at_to() {
    let zone = Zone::utc();
    let buckets = zone
        .buckets(
            Interval::Month,
            at("2026-01-15T12:00:00Z"),
            at("2026-03-02T00:00:00Z"),
        )
        .unwrap();
    assert_eq!(
        buckets,
        vec![
            at("2026-01-15T12:00:00Z"),
            at("2026-02-01T00:00:00Z"),
            at("2026-03-01T00:00:00Z"),
            at("2026-03-02T00:00:00Z"),
        ]
    );
}

#[test]
fn too_many_buckets_and_empty_ranges_are_refused() {
    let zone = Zone::utc();
    let year = (at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z"));
    assert!(matches!(
        zone.buckets(Interval::Hour, year.0, year.1),
        Err(ReportError::TooManyBuckets { .. })
    ));
    assert_eq!(
        zone.buckets(Interval::Day, year.0, year.1).unwrap().len(),
        366
    );
    assert_eq!(
        zone.buckets(Interval::Day, year.1, year.0),
        Err(ReportError::EmptyRange)
    );
}

#[test]
fn whole_days_lie_inside_the_range_and_follow_daylight_saving_time() {
    let paris = paris();
    let days = paris.whole_days(
        at("2026-03-27T12:00:00Z"),
        at("2026-03-31T00:00:00+02:00"),
        10,
    );
    let expected = [
        ("2026-03-28T00:00:00+01:00", "2026-03-29T00:00:00+01:00"),
        ("2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00"),
        ("2026-03-30T00:00:00+02:00", "2026-03-31T00:00:00+02:00"),
    ];
    let expected: Vec<_> = expected.iter().map(|(a, b)| (at(a), at(b))).collect();
    assert_eq!(days, expected);
    assert_eq!(
        days[1].1 - days[1].0,
        23 * 3_600_000,
        "the spring day is 23 hours"
    );
    assert_eq!(
        paris.whole_days(expected[0].0, expected[2].1, 2),
        expected[..2]
    );
    assert!(
        paris
            .whole_days(expected[0].0, expected[0].1 - 1, 10)
            .is_empty()
    );
}
