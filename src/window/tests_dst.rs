//! Table tests of window semantics at daylight-saving transitions (Europe/Berlin,
//! America/New_York, Australia/Sydney in 2026 and 2027), blackouts, intersections and one-off
//! dates. Every expected instant is derived by hand in the comment beside it.

use super::*;
use chrono::{DateTime, TimeDelta, Utc};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

fn set(specs: &[&str], blackouts: &[&str]) -> WindowSet {
    WindowSet::new(
        specs
            .iter()
            .map(|s| WindowSpec::parse(s).unwrap_or_else(|e| panic!("{s}: {e:?}")))
            .collect(),
        blackouts.iter().map(|d| d.parse().unwrap()).collect(),
    )
}

/// The first `n` occurrences from `from`, as RFC 3339 pairs.
fn occ(set: &WindowSet, from: &str, n: usize) -> Vec<(String, String)> {
    set.occurrences(utc(from))
        .take(n)
        .map(|iv| {
            (
                iv.start.format("%Y-%m-%dT%H:%MZ").to_string(),
                iv.end.format("%Y-%m-%dT%H:%MZ").to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn berlin_2026_spring_forward_shortens_never_shifts() {
    // 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00Z). 02:30 does not exist: the window
    // opens at the end of the gap, 03:00 CEST = 01:00Z, and still closes at 04:00 CEST = 02:00Z.
    let w = set(&["Sun 02:30-04:00 Europe/Berlin"], &[]);
    assert_eq!(
        occ(&w, "2026-03-28T00:00:00Z", 2),
        pairs(&[
            ("2026-03-29T01:00Z", "2026-03-29T02:00Z"),
            // A week later, CEST (+2): 02:30 = 00:30Z.
            ("2026-04-05T00:30Z", "2026-04-05T02:00Z"),
        ])
    );
    // Wholly inside the gap: no occurrence that night at all; the next Sunday, 02:00 CEST = 00:00Z.
    let w = set(&["Sun 02:00-02:30 Europe/Berlin"], &[]);
    assert_eq!(
        occ(&w, "2026-03-28T00:00:00Z", 1),
        pairs(&[("2026-04-05T00:00Z", "2026-04-05T00:30Z")])
    );
}

#[test]
fn berlin_2026_autumn_repeat_hour_opens_once() {
    // 2026-10-25: 03:00 CEST falls back to 02:00 CET (01:00Z); 02:00-03:00 happens twice.
    // 02:15 and 02:45 resolve to their first pass (CEST): 00:15Z-00:45Z, and the second pass
    // (01:15Z-01:45Z) does not open again; the next occurrence is a week later in CET (+1).
    let w = set(&["Sun 02:15-02:45 Europe/Berlin"], &[]);
    assert_eq!(
        occ(&w, "2026-10-24T00:00:00Z", 2),
        pairs(&[
            ("2026-10-25T00:15Z", "2026-10-25T00:45Z"),
            ("2026-11-01T01:15Z", "2026-11-01T01:45Z"),
        ])
    );
    assert!(!w.is_open(utc("2026-10-25T01:20:00Z")));
}

#[test]
fn berlin_crossing_midnight_on_dst_nights() {
    // Sat 22:00 CET (21:00Z) to Sun 04:00 CEST (02:00Z): five real hours on 2026-03-28/29.
    // Sat 22:00 CEST (20:00Z) to Sun 04:00 CET (03:00Z): seven real hours on 2026-10-24/25.
    let w = set(&["Sat 22:00-04:00 Europe/Berlin"], &[]);
    assert_eq!(
        occ(&w, "2026-03-27T00:00:00Z", 1),
        pairs(&[("2026-03-28T21:00Z", "2026-03-29T02:00Z")])
    );
    assert_eq!(
        occ(&w, "2026-10-23T00:00:00Z", 1),
        pairs(&[("2026-10-24T20:00Z", "2026-10-25T03:00Z")])
    );
}

#[test]
fn berlin_2027_both_transitions() {
    // 2027-03-28: gap 02:00-03:00 CET; 02:30 -> 03:00 CEST = 01:00Z; 03:30 CEST = 01:30Z.
    // 2027-10-31: repeat 02:00-03:00; 02:30 first pass CEST = 00:30Z; 03:30 CET = 02:30Z.
    let w = set(&["daily 02:30-03:30 Europe/Berlin"], &[]);
    assert_eq!(
        occ(&w, "2027-03-27T12:00:00Z", 2),
        pairs(&[
            ("2027-03-28T01:00Z", "2027-03-28T01:30Z"),
            ("2027-03-29T00:30Z", "2027-03-29T01:30Z"),
        ])
    );
    assert_eq!(
        occ(&w, "2027-10-30T12:00:00Z", 2),
        pairs(&[
            ("2027-10-31T00:30Z", "2027-10-31T02:30Z"),
            ("2027-11-01T01:30Z", "2027-11-01T02:30Z"),
        ])
    );
}

#[test]
fn new_york_2026_and_2027() {
    // 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00Z); 02:30 -> 07:00Z, 03:30 EDT = 07:30Z.
    let w = set(&["Sun 02:30-03:30 America/New_York"], &[]);
    assert_eq!(
        occ(&w, "2026-03-07T00:00:00Z", 1),
        pairs(&[("2026-03-08T07:00Z", "2026-03-08T07:30Z")])
    );
    // 2026-11-01: 02:00 EDT falls back to 01:00 EST (06:00Z); 01:30 first pass EDT = 05:30Z,
    // 02:30 EST = 07:30Z.
    let w = set(&["Sun 01:30-02:30 America/New_York"], &[]);
    assert_eq!(
        occ(&w, "2026-10-31T00:00:00Z", 1),
        pairs(&[("2026-11-01T05:30Z", "2026-11-01T07:30Z")])
    );
    // Crossing midnight, 2027: Sat 2027-03-13 23:00 EST = 03-14 04:00Z to Sun 03:00 EDT = 07:00Z;
    // Sat 2027-11-06 23:00 EDT = 11-07 03:00Z to Sun 03:00 EST = 08:00Z.
    let w = set(&["Sat 23:00-03:00 America/New_York"], &[]);
    assert_eq!(
        occ(&w, "2027-03-12T00:00:00Z", 1),
        pairs(&[("2027-03-14T04:00Z", "2027-03-14T07:00Z")])
    );
    assert_eq!(
        occ(&w, "2027-11-05T00:00:00Z", 1),
        pairs(&[("2027-11-07T03:00Z", "2027-11-07T08:00Z")])
    );
}

#[test]
fn sydney_2026_and_2027() {
    // 2026-04-05: 03:00 AEDT (+11) falls back to 02:00 AEST (+10) at 16:00Z on 04-04.
    // 02:00 first pass AEDT = 04-04 15:00Z; 04:00 AEST = 04-04 18:00Z.
    let w = set(&["Sun 02:00-04:00 Australia/Sydney"], &[]);
    assert_eq!(
        occ(&w, "2026-04-03T00:00:00Z", 1),
        pairs(&[("2026-04-04T15:00Z", "2026-04-04T18:00Z")])
    );
    // 2026-10-04: 02:00 AEST jumps to 03:00 AEDT at 16:00Z on 10-03. The window keeps its local
    // Sunday: 03:00 AEDT = 10-03 16:00Z to 04:00 AEDT = 10-03 17:00Z.
    assert_eq!(
        occ(&w, "2026-10-02T00:00:00Z", 1),
        pairs(&[("2026-10-03T16:00Z", "2026-10-03T17:00Z")])
    );
    // 2027-10-03 (gap 02:00-03:00): 02:30-02:45 lies in the gap, so that day has no occurrence.
    // 10-02 02:30 AEST = 10-01 16:30Z; 10-04 02:30 AEDT = 10-03 15:30Z.
    let w = set(&["daily 02:30-02:45 Australia/Sydney"], &[]);
    assert_eq!(
        occ(&w, "2027-10-01T12:00:00Z", 2),
        pairs(&[
            ("2027-10-01T16:30Z", "2027-10-01T16:45Z"),
            ("2027-10-03T15:30Z", "2027-10-03T15:45Z"),
        ])
    );
    // 2027-04-04 (repeat 02:00-03:00): 02:30 first pass AEDT = 04-03 15:30Z, once; 04-05 02:30
    // AEST = 04-04 16:30Z.
    assert_eq!(
        occ(&w, "2027-04-03T12:00:00Z", 2),
        pairs(&[
            ("2027-04-03T15:30Z", "2027-04-03T15:45Z"),
            ("2027-04-04T16:30Z", "2027-04-04T16:45Z"),
        ])
    );
}

#[test]
fn blackouts_remove_whole_local_days() {
    // Nights in Berlin (CET, +1): 12-23 00:00-06:00 = 12-22 23:00Z-12-23 05:00Z; 12-24 is
    // blacked out (12-23 23:00Z-12-24 23:00Z); then 12-25 = 12-24 23:00Z-12-25 05:00Z.
    let w = set(&["daily 00:00-06:00 Europe/Berlin"], &["2026-12-24"]);
    assert_eq!(
        occ(&w, "2026-12-22T12:00:00Z", 2),
        pairs(&[
            ("2026-12-22T23:00Z", "2026-12-23T05:00Z"),
            ("2026-12-24T23:00Z", "2026-12-25T05:00Z"),
        ])
    );
    // A window crossing into a blackout day is cut at its midnight.
    let w = set(&["Wed 22:00-02:00 UTC"], &["2026-12-24"]);
    assert_eq!(
        occ(&w, "2026-12-23T00:00:00Z", 1),
        pairs(&[("2026-12-23T22:00Z", "2026-12-24T00:00Z")])
    );
}

#[test]
fn intersection_across_zones() {
    // Mon 2026-11-30: Berlin 09:00-17:00 CET = 08:00Z-16:00Z; New York 08:00-12:00 EST =
    // 13:00Z-17:00Z; both open 13:00Z-16:00Z.
    let w = set(
        &[
            "Mon-Fri 09:00-17:00 Europe/Berlin",
            "Mon-Fri 08:00-12:00 America/New_York",
        ],
        &[],
    );
    assert_eq!(
        occ(&w, "2026-11-30T00:00:00Z", 1),
        pairs(&[("2026-11-30T13:00Z", "2026-11-30T16:00Z")])
    );
    assert!(w.is_open(utc("2026-11-30T15:00:00Z")));
    assert_eq!(
        w.remaining(utc("2026-11-30T15:00:00Z")),
        Some(TimeDelta::hours(1))
    );
    assert!(!w.is_open(utc("2026-11-30T12:59:00Z")));
    // Windows that never meet: the search ends and says so.
    let never = set(&["Mon 01:00-02:00 UTC", "Tue 01:00-02:00 UTC"], &[]);
    assert!(!never.can_ever_open(utc("2026-11-26T00:00:00Z")));
}

#[test]
fn alternatives_unite_and_always_is_open() {
    let w = set(&["Sat 22:00-02:00 UTC | Sun 01:00-03:00 UTC"], &[]);
    assert_eq!(
        occ(&w, "2026-11-26T00:00:00Z", 1),
        pairs(&[("2026-11-28T22:00Z", "2026-11-29T03:00Z")])
    );
    let t = utc("2026-11-26T10:00:00Z");
    let always = set(&["always"], &[]);
    assert!(always.is_open(t) && always.is_always());
    assert_eq!(always.remaining(t), Some(FOREVER - t));
    assert!(WindowSet::default().is_open(t));
    // Adjacent days count as one run, up to the 400-day cap.
    let daily = set(&["daily 00:00-24:00"], &[]);
    assert!(daily
        .remaining(t)
        .is_some_and(|r| r >= TimeDelta::days(399)));
}

#[test]
fn one_off_dates_in_the_past_never_open_again() {
    let w = set(&["2026-01-10 01:00-03:00 UTC"], &[]);
    assert!(!w.can_ever_open(utc("2026-11-26T00:00:00Z")));
    assert_eq!(w.next_open(utc("2026-11-26T00:00:00Z")), None);
    assert_eq!(
        w.remaining(utc("2026-01-10T02:00:00Z")),
        Some(TimeDelta::hours(1))
    );
    // A one-off date far ahead is still found when it is intersected with a weekly window.
    let w = set(&["2028-06-04 01:00-03:00 UTC", "Sun 02:00-05:00 UTC"], &[]);
    assert_eq!(
        w.next_open(utc("2026-11-26T00:00:00Z")),
        Some(utc("2028-06-04T02:00:00Z"))
    );
}

#[test]
fn longest_occurrence_reflects_dst() {
    // Sat 22:00-04:00 Berlin lasts 6h, 5h on the spring night and 7h on the autumn night.
    let w = set(&["Sat 22:00-04:00 Europe/Berlin"], &[]);
    let from = utc("2026-01-01T00:00:00Z");
    let year = utc("2027-01-01T00:00:00Z");
    assert_eq!(w.longest_occurrence(from, year), Some(TimeDelta::hours(7)));
    let gone = set(&["2026-01-10 01:00-03:00 UTC"], &[]);
    assert_eq!(
        gone.longest_occurrence(utc("2026-02-01T00:00:00Z"), year),
        None
    );
}

#[test]
fn whole_occurrence_for_display() {
    let w = set(&["Sun 01:00-03:00 UTC"], &[]);
    let iv = w
        .occurrence_at_or_after(utc("2026-11-29T02:00:00Z"))
        .unwrap();
    assert_eq!(
        (iv.start, iv.end),
        (utc("2026-11-29T01:00:00Z"), utc("2026-11-29T03:00:00Z"))
    );
    assert_eq!(
        w.current_or_next(utc("2026-11-29T02:00:00Z"))
            .map(|iv| iv.start),
        Some(utc("2026-11-29T02:00:00Z"))
    );
    let always = set(&["always"], &[]);
    let t = utc("2026-11-29T02:00:00Z");
    assert_eq!(always.occurrence_at_or_after(t).map(|iv| iv.start), Some(t));
}
