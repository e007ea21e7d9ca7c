//! Property tests over generated window sets: `next_open` is open, occurrences are ordered,
//! disjoint and clear of blackouts, queries agree with occurrences, and specs and instants
//! round-trip through text and across zones.

use super::*;
use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;

const ZONES: [&str; 7] = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "America/Santiago",
];
const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

/// A day list item: a day, a range, `daily`, or a one-off date within two years.
fn day_item() -> impl Strategy<Value = String> {
    prop_oneof![
        (0usize..7).prop_map(|d| DAYS[d].to_string()),
        (0usize..7, 0usize..7).prop_map(|(a, b)| format!("{}-{}", DAYS[a], DAYS[b])),
        Just("daily".to_string()),
        (0i64..730).prop_map(|n| (NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
            + TimeDelta::days(n))
        .to_string()),
    ]
}

/// A window spec: one or two alternatives sharing one zone (so blackouts are in that zone).
fn spec() -> impl Strategy<Value = String> {
    let alternative = (prop::collection::vec(day_item(), 1..3), 0u16..96, 1u16..97);
    (
        prop::collection::vec(alternative, 1..3),
        0usize..ZONES.len(),
    )
        .prop_map(|(alts, z)| {
            alts.into_iter()
                .map(|(days, a, b)| {
                    // Quarter hours; equal ends would be rejected, so nudge the end.
                    let end = if a == b { (b + 1) % 97 } else { b };
                    let end = if end == 0 && a == 0 { 1 } else { end };
                    let fmt = |q: u16| format!("{:02}:{:02}", q / 4, (q % 4) * 15);
                    format!("{} {}-{} {}", days.join(","), fmt(a), fmt(end), ZONES[z])
                })
                .collect::<Vec<_>>()
                .join(" | ")
        })
}

fn window_set() -> impl Strategy<Value = (WindowSet, Vec<String>)> {
    (
        prop::collection::vec(spec(), 1..3),
        prop::collection::vec(0i64..760, 0..4),
    )
        .prop_map(|(specs, blackouts)| {
            let windows = specs
                .iter()
                .map(|s| WindowSpec::parse(s).unwrap_or_else(|e| panic!("{s}: {e:?}")))
                .collect();
            let dates = blackouts
                .iter()
                .map(|n| NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + TimeDelta::days(*n))
                .collect();
            (WindowSet::new(windows, dates), specs)
        })
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..(730 * 24 * 60)).prop_map(|m| base() + TimeDelta::minutes(m))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn next_open_is_open((set, _) in window_set(), t in instant()) {
        if let Some(open) = set.next_open(t) {
            prop_assert!(open >= t);
            prop_assert!(set.is_open(open), "not open at {open}");
            prop_assert!(set.remaining(open).is_some_and(|r| r > TimeDelta::zero()));
        }
    }

    #[test]
    fn occurrences_ordered_disjoint_and_clear_of_blackouts(
        (set, _) in window_set(),
        t in instant(),
    ) {
        let list: Vec<Interval> = set.occurrences(t).take(12).collect();
        for iv in &list {
            prop_assert!(iv.start >= t && iv.start < iv.end);
            for w in &set.windows {
                for tz in w.zones() {
                    for cut in occur::blackout_intervals(&set.blackouts, tz) {
                        prop_assert!(
                            iv.end <= cut.start || cut.end <= iv.start,
                            "{iv:?} overlaps blackout {cut:?}"
                        );
                    }
                }
            }
        }
        for pair in list.windows(2) {
            prop_assert!(pair[0].end <= pair[1].start, "{pair:?}");
        }
    }

    #[test]
    fn queries_agree_with_occurrences((set, _) in window_set(), t in instant()) {
        let list: Vec<Interval> = set.occurrences(t).take(4).collect();
        for iv in &list {
            let mid = iv.start + (iv.end - iv.start) / 2;
            prop_assert!(set.is_open(iv.start) && set.is_open(mid));
            if iv.duration() < TimeDelta::days(300) {
                prop_assert_eq!(set.remaining(mid), Some(iv.end - mid));
            }
        }
        for pair in list.windows(2) {
            if pair[0].end < pair[1].start {
                prop_assert!(!set.is_open(pair[0].end));
                prop_assert_eq!(set.next_open(pair[0].end), Some(pair[1].start));
            }
        }
    }

    #[test]
    fn round_trips_across_zones((set, specs) in window_set(), t in instant()) {
        for (spec, text) in set.windows.iter().zip(&specs) {
            prop_assert_eq!(&WindowSpec::parse(&spec.to_string()).unwrap(), spec);
            let json = serde_json::to_string(spec).unwrap();
            prop_assert_eq!(&serde_json::from_str::<WindowSpec>(&json).unwrap(), spec);
            prop_assert_eq!(spec.source(), text.as_str());
        }
        // A single-rule window opens at its wall-clock start in its own zone, unless that
        // time fell in a gap, in which case it opens exactly at a change of offset.
        let single = WindowSet::single(set.windows[0].clone());
        if let [Alternative::Rule(rule)] = set.windows[0].alternatives() {
            for iv in single.occurrences(t).take(6) {
                if iv.start == t {
                    continue;
                }
                let local = iv.start.with_timezone(&rule.tz);
                let wall = u16::try_from(local.time().signed_duration_since(
                    chrono::NaiveTime::MIN).num_minutes()).unwrap();
                let before = (iv.start - TimeDelta::minutes(1)).with_timezone(&rule.tz);
                let shifted = before.offset().to_string() != local.offset().to_string();
                prop_assert!(
                    wall == rule.start.minutes() || shifted,
                    "{} opened at local {local}", set.windows[0]
                );
                let back = resolve_local(rule.tz, local.naive_local());
                prop_assert!(back <= iv.start, "{back} after {}", iv.start);
            }
        }
    }
}

/// Strings made of the pieces specs are made of, plus noise (multibyte characters included).
fn spec_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("Mon".to_string()),
        Just("Sun".to_string()),
        Just("daily".to_string()),
        Just("always".to_string()),
        Just("-".to_string()),
        Just(",".to_string()),
        Just(" ".to_string()),
        Just(" | ".to_string()),
        Just(":".to_string()),
        Just("2026-12-06".to_string()),
        Just("Europe/Berlin".to_string()),
        Just("é".to_string()),
        "[0-9]{1,3}",
        "[0-9]{1,2}:[0-9]{1,2}",
        "\\PC{0,3}",
    ];
    prop::collection::vec(piece, 0..10).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsing_never_panics_and_spans_stay_inside(text in spec_like()) {
        match WindowSpec::parse(&text) {
            Ok(spec) => prop_assert_eq!(spec.source(), text.as_str()),
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                for e in errors {
                    prop_assert!(e.span.start <= e.span.end && e.span.end <= text.len(), "{e:?}");
                    prop_assert!(text.is_char_boundary(e.span.start), "{e:?}");
                    prop_assert!(text.is_char_boundary(e.span.end), "{e:?}");
                    prop_assert!(!e.message.is_empty());
                }
            }
        }
    }
}
