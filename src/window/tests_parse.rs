//! Parser tests: accepted specs become the expected values, rejected ones report each problem
//! at its byte range with the expected help.

use super::*;

fn rule(spec: &str) -> Rule {
    let parsed = WindowSpec::parse(spec).unwrap_or_else(|e| panic!("{spec}: {e:?}"));
    match &parsed.alternatives()[0] {
        Alternative::Rule(r) => r.clone(),
        Alternative::Always => panic!("{spec}: always"),
    }
}

fn errors(spec: &str) -> Vec<(String, &str, Option<String>)> {
    match WindowSpec::parse(spec) {
        Ok(v) => panic!("{spec} parsed as {v:?}"),
        Err(errors) => errors
            .into_iter()
            .map(|e| (e.message, &spec[e.span], e.help))
            .collect(),
    }
}

const MON: u8 = 1;
const TUE: u8 = 2;
const FRI: u8 = 16;
const SAT: u8 = 32;
const SUN: u8 = 64;

#[test]
fn days_ranges_lists_and_daily() {
    assert_eq!(rule("Sun 01:00-03:00").days.weekdays, SUN);
    assert_eq!(rule("Mon-Fri 09:00-17:00").days.weekdays, 0x1f);
    assert_eq!(
        rule("Fri-Mon 22:00-02:00").days.weekdays,
        FRI | SAT | SUN | MON
    );
    assert_eq!(rule("Sat,Sun 10:00-12:00").days.weekdays, SAT | SUN);
    assert_eq!(rule("Sat, Sun 10:00-12:00").days.weekdays, SAT | SUN);
    assert_eq!(rule("mon,Tuesday 10:00-12:00").days.weekdays, MON | TUE);
    assert_eq!(rule("daily 00:00-06:00").days.weekdays, 0x7f);
    let r = rule("2026-12-06,Sat 01:00-03:00");
    assert_eq!(r.days.weekdays, SAT);
    assert_eq!(
        r.days.dates,
        vec![NaiveDate::from_ymd_opt(2026, 12, 6).unwrap()]
    );
    assert_eq!(r.date_spans[0].1, 0..10);
}

#[test]
fn times_zones_and_alternatives() {
    let r = rule("Sat 23:00-24:00 Europe/Berlin");
    assert_eq!((r.start.minutes(), r.end.minutes()), (23 * 60, 24 * 60));
    assert_eq!(r.tz, chrono_tz::Europe::Berlin);
    assert_eq!(rule("Sun 1:00-3:30").tz, chrono_tz::UTC);
    assert_eq!(rule("Sun 01:00 - 03:30 UTC").end.minutes(), 210);
    let spec = WindowSpec::parse("Sat 22:00-02:00 UTC | Sun 10:00-12:00 America/New_York").unwrap();
    assert_eq!(spec.alternatives().len(), 2);
    assert_eq!(spec.rules().nth(1).unwrap().span, 22..54);
    assert!(WindowSpec::parse("always").unwrap().is_always());
    assert!(WindowSpec::parse(" Always ").unwrap().is_always());
}

#[test]
fn serde_round_trip_keeps_the_source() {
    let spec = WindowSpec::parse("Mon-Fri 09:00-17:00 Europe/Berlin").unwrap();
    let json = serde_json::to_string(&spec).unwrap();
    assert_eq!(json, "\"Mon-Fri 09:00-17:00 Europe/Berlin\"");
    let back: WindowSpec = serde_json::from_str(&json).unwrap();
    assert_eq!(back, spec);
    assert!(serde_json::from_str::<WindowSpec>("\"Mon 25:00-26:00\"").is_err());
}

#[test]
fn misspelt_day_points_at_the_day() {
    assert_eq!(
        errors("Tues 01:00-03:00"),
        vec![(
            "unknown day `Tues`".into(),
            "Tues",
            Some("did you mean `Tue`?".into())
        )]
    );
    assert_eq!(errors("Mon-Fir 01:00-03:00")[0].1, "Fir");
    assert_eq!(
        errors("dialy 01:00-03:00")[0].2.as_deref(),
        Some("did you mean `daily`?")
    );
}

#[test]
fn bad_hours_minutes_and_dates() {
    assert_eq!(
        errors("Sun 25:00-03:00"),
        vec![(
            "hour `25` out of range".into(),
            "25",
            Some("hours are 00-23".into())
        )]
    );
    assert_eq!(errors("Sun 01:00-03:75")[0].1, "75");
    assert_eq!(errors("Sun 24:00-03:00")[0].1, "24:00");
    assert_eq!(errors("Sun 0100-0300")[0].1, "0100");
    assert_eq!(
        errors("Sun 01:00")[0].0,
        "expected a time range `HH:MM-HH:MM`, found `01:00`"
    );
    assert_eq!(
        errors("2026-02-30 01:00-03:00")[0].0,
        "no such date `2026-02-30`"
    );
    assert_eq!(errors("2026-2 01:00-03:00")[0].1, "2026-2");
    assert_eq!(
        errors("Sun 03:00-03:00")[0].0,
        "the window opens and closes at the same time"
    );
}

#[test]
fn unknown_zone_suggests_the_closest() {
    assert_eq!(
        errors("Sun 01:00-03:00 Europe/Berln"),
        vec![(
            "unknown time zone `Europe/Berln`".into(),
            "Europe/Berln",
            Some("did you mean `Europe/Berlin`?".into())
        )]
    );
    assert_eq!(
        errors("Sun 01:00-03:00 europe/berlin")[0].2.as_deref(),
        Some("did you mean `Europe/Berlin`?")
    );
    assert_eq!(
        errors("Sun 01:00-03:00 Mars/Olympus")[0].2.as_deref(),
        Some("time zones are IANA names such as `Europe/Berlin`, or `UTC`")
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let found = errors("Mnday 01:00-25:00 UTC | Sun 01:00-03:00 Europe/Berln | | ");
    let spans: Vec<&str> = found.iter().map(|e| e.1).collect();
    assert_eq!(spans, vec!["Mnday", "25", "Europe/Berln", "|", "|"]);
}

#[test]
fn structural_mistakes() {
    assert_eq!(errors("")[0].0, "empty window spec");
    assert_eq!(errors("Sun")[0].0, "missing time range");
    assert_eq!(
        errors("01:00-03:00")[0].0,
        "missing days before the time range"
    );
    assert_eq!(errors("Sat Sun 01:00-03:00")[0].1, "Sun");
    assert_eq!(
        errors("Sat,,Sun 01:00-03:00")[0].0,
        "empty item in the day list"
    );
    assert_eq!(
        errors("Sun 01:00-03:00 UTC Mon 01:00-02:00")[0].0,
        "unexpected `Mon` after the time zone"
    );
    assert_eq!(errors("always daily")[0].1, "daily");
}
