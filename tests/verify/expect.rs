//! Expectations: every change kind, the value checks, extraction and pairing, and the
//! verdicts for failed or missing samples.

use sflow::verify::expect::extract;
use sflow::verify::{
    evaluate, CaptureOutcome, ChangeKind, ExpectError, Expectation, Pairing, Sample, Verdict,
    VersionScheme,
};

fn out(s: &str) -> Sample {
    Sample::Output(s.to_string())
}

/// Evaluates `expect` on before/after outputs (`None` = no match, via a regex that fails).
fn run(
    expect: &Expectation,
    before: Sample,
    after: Sample,
    scheme: VersionScheme,
) -> CaptureOutcome {
    let compiled = expect.compile().expect("expectation compiles");
    evaluate("cap", &before, &after, Some(&compiled), scheme)
}

/// One row: change kind, before value, after value (`None` = absent), expected verdict.
type Row = (
    ChangeKind,
    Option<&'static str>,
    Option<&'static str>,
    Verdict,
);

fn check_rows(rows: &[Row], scheme: VersionScheme) {
    // With `match`, an absent value is an output where the regex finds nothing.
    let expect = |kind| Expectation {
        match_regex: Some(r"value=(\S+)".into()),
        change: kind,
        ..Expectation::default()
    };
    let text =
        |v: Option<&str>| out(&v.map_or("nothing here\n".into(), |v| format!("value={v}\n")));
    for &(kind, b, a, want) in rows {
        let o = run(&expect(kind), text(b), text(a), scheme);
        assert_eq!(o.verdict, want, "{kind} {b:?} -> {a:?}: {:?}", o.reasons);
        assert_eq!(
            o.verdict == Verdict::Mismatch,
            !o.reasons.is_empty(),
            "{:?}",
            o.reasons
        );
        assert_eq!(o.pairing, Some(Pairing::Single));
        assert_eq!(o.pairs.len(), 1);
        assert_eq!(o.pairs[0].before.as_deref(), b);
        assert_eq!(o.pairs[0].after.as_deref(), a);
        assert_eq!(o.pairs[0].ok, want == Verdict::AsExpected);
    }
}

use ChangeKind::*;
use Verdict::{AsExpected as Ok_, Mismatch as Bad};

#[test]
fn change_kinds_table() {
    let rows: &[Row] = &[
        (Unchanged, Some("a"), Some("a"), Ok_),
        (Unchanged, Some("a"), Some("b"), Bad),
        (Unchanged, None, None, Ok_),
        (Unchanged, None, Some("a"), Bad),
        (Unchanged, Some("a"), None, Bad),
        (Changed, Some("a"), Some("b"), Ok_),
        (Changed, Some("a"), Some("a"), Bad),
        (Changed, None, Some("a"), Ok_),
        (Changed, Some("a"), None, Ok_),
        (Changed, None, None, Bad),
        (Any, Some("a"), Some("b"), Ok_),
        (Any, Some("a"), Some("a"), Ok_),
        (Any, None, None, Ok_),
        (Added, None, Some("a"), Ok_),
        (Added, Some("a"), Some("a"), Bad),
        (Added, Some("a"), Some("b"), Bad),
        (Added, None, None, Bad),
        (Added, Some("a"), None, Bad),
        (Removed, Some("a"), None, Ok_),
        (Removed, None, None, Bad),
        (Removed, Some("a"), Some("a"), Bad),
        (Removed, None, Some("a"), Bad),
        (VersionIncrease, Some("1.2.3"), Some("1.2.4"), Ok_),
        (VersionIncrease, Some("1.2.3"), Some("1.2.3"), Bad),
        (VersionIncrease, Some("1.2.4"), Some("1.2.3"), Bad),
        (VersionIncrease, None, Some("1.2.3"), Bad),
        (VersionIncrease, Some("1.2.3"), None, Bad),
        (VersionDecrease, Some("1.2.4"), Some("1.2.3"), Ok_),
        (VersionDecrease, Some("1.2.3"), Some("1.2.4"), Bad),
        (VersionDecrease, Some("1.2.3"), Some("1.2.3"), Bad),
        (VersionDecrease, None, None, Bad),
    ];
    check_rows(rows, VersionScheme::Semver);
}

#[test]
fn version_kinds_follow_the_scheme() {
    // Debian: `~` sorts before the end, so this is an upgrade to dpkg.
    check_rows(
        &[
            (
                VersionIncrease,
                Some("3.0.11-1~deb12u2"),
                Some("3.0.11-1"),
                Ok_,
            ),
            (VersionIncrease, Some("1:1.0"), Some("2.0"), Bad),
            (VersionDecrease, Some("1:1.0"), Some("2.0"), Ok_),
            (VersionIncrease, Some("1.0"), Some("1.00"), Bad),
        ],
        VersionScheme::Deb,
    );
    check_rows(
        &[
            (
                VersionIncrease,
                Some("3.0.7-25.el9"),
                Some("3.0.7-27.el9"),
                Ok_,
            ),
            (VersionIncrease, Some("1.0^git1"), Some("1.0"), Bad),
        ],
        VersionScheme::Rpm,
    );
    check_rows(
        &[(VersionIncrease, Some("1.9"), Some("1.10"), Ok_)],
        VersionScheme::Numeric,
    );
}

#[test]
fn version_reasons_say_what_happened() {
    let e = Expectation {
        match_regex: Some(r"v=(\S+)".into()),
        change: VersionIncrease,
        ..Expectation::default()
    };
    let reason = |b: &str, a: &str| {
        let o = run(&e, out(b), out(a), VersionScheme::Deb);
        assert_eq!(o.scheme, Some(VersionScheme::Deb));
        o.reasons.join("; ")
    };
    assert_eq!(
        reason("v=2.0", "v=1.0"),
        "expected a version increase (deb), `2.0` → `1.0` is a decrease"
    );
    assert_eq!(
        reason("v=1.0", "v=1.0"),
        "expected a version increase (deb), still `1.0`"
    );
    assert_eq!(
        reason("v=1.0", "v=1.00"),
        "expected a version increase (deb), `1.0` → `1.00` is the same version"
    );
    assert_eq!(
        reason("v=1.0", "none"),
        "expected a version increase, `1.0` disappeared"
    );
    let d = Expectation {
        change: VersionDecrease,
        ..e.clone()
    };
    let o = run(&d, out("v=1.0"), out("v=2.0"), VersionScheme::Deb);
    assert_eq!(
        o.reasons,
        ["expected a version decrease (deb), `1.0` → `2.0` is an increase"]
    );
}

#[test]
fn presence_reasons() {
    let e = |kind| Expectation {
        match_regex: Some(r"v=(\S+)".into()),
        change: kind,
        ..Expectation::default()
    };
    let reasons = |kind, b: &str, a: &str| {
        run(&e(kind), out(b), out(a), VersionScheme::Semver)
            .reasons
            .join("; ")
    };
    assert_eq!(
        reasons(Added, "x", "x"),
        "expected added, absent before and after"
    );
    assert_eq!(
        reasons(Added, "v=1", "v=1"),
        "expected added, present before and after as `1`"
    );
    assert_eq!(
        reasons(Added, "v=1", "v=2"),
        "expected added, present before and after (`1` → `2`)"
    );
    assert_eq!(
        reasons(Removed, "x", "v=2"),
        "expected removed, appeared as `2`"
    );
    assert_eq!(
        reasons(Unchanged, "v=1", "v=2"),
        "expected unchanged, changed from `1` to `2`"
    );
    assert_eq!(
        reasons(Unchanged, "v=1", "x"),
        "expected unchanged, changed from `1` to nothing"
    );
    assert_eq!(
        reasons(Changed, "v=1", "v=1"),
        "expected a change, still `1`"
    );
}

#[test]
fn value_checks_table() {
    // (equals, contains, matches, after value, holds)
    type V = (
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        &'static str,
        bool,
    );
    let rows: &[V] = &[
        (Some("active"), None, None, "active", true),
        (Some("active"), None, None, "inactive", false),
        (
            None,
            Some("pool.ntp.org"),
            None,
            "pool pool.ntp.org iburst",
            true,
        ),
        (None, Some("pool.ntp.org"), None, "server 10.0.0.1", false),
        (None, None, Some(r"^\d+G$"), "16G", true),
        (None, None, Some(r"^\d+G$"), "16 GB", false),
        (Some("16G"), Some("6"), Some("G$"), "16G", true),
        (Some("16G"), Some("7"), Some("G$"), "16G", false),
    ];
    for &(equals, contains, matches, after, holds) in rows {
        let e = Expectation {
            equals: equals.map(Into::into),
            contains: contains.map(Into::into),
            matches: matches.map(Into::into),
            ..Expectation::default()
        };
        let o = run(
            &e,
            out("before\n"),
            out(&format!("{after}\n")),
            VersionScheme::Semver,
        );
        assert_eq!(
            o.verdict == Verdict::AsExpected,
            holds,
            "{after}: {:?}",
            o.reasons
        );
        assert_eq!(
            o.pairs[0].after.as_deref(),
            Some(after),
            "whole output, trimmed"
        );
    }
    let e = Expectation {
        equals: Some("a".into()),
        contains: Some("b".into()),
        matches: Some("c".into()),
        ..Expectation::default()
    };
    let o = run(&e, out("x"), out("z"), VersionScheme::Semver);
    assert_eq!(
        o.reasons,
        [
            "expected `a`, got `z`",
            "expected to contain `b`, got `z`",
            "expected to match `c`, got `z`"
        ]
    );
}

#[test]
fn value_checks_need_an_after_value() {
    let e = Expectation {
        match_regex: Some(r"size=(\S+)".into()),
        equals: Some("16G".into()),
        ..Expectation::default()
    };
    let o = run(&e, out("size=8G"), out("gone"), VersionScheme::Semver);
    assert_eq!(o.verdict, Verdict::Mismatch);
    assert_eq!(o.reasons, ["no value after to check"]);
}

#[test]
fn lists_pair_by_prefix() {
    let e = Expectation {
        match_regex: Some(r"(?m)^pkg\s+\S+\s+(\S+)$".into()),
        change: VersionIncrease,
        ..Expectation::default()
    };
    // Column widths differ between before and after: the keys collapse whitespace.
    let before = "pkg  bash  5.2\npkg  ssl   3.0\npkg  old   1.0\n";
    let after = "pkg ssl     3.1\npkg bash    5.3\npkg new     0.1\n";
    let o = run(&e, out(before), out(after), VersionScheme::Deb);
    assert_eq!(o.pairing, Some(Pairing::ByPrefix));
    let got: Vec<_> = o
        .pairs
        .iter()
        .map(|p| {
            (
                p.key.as_str(),
                p.before.as_deref(),
                p.after.as_deref(),
                p.ok,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("pkg bash", Some("5.2"), Some("5.3"), true),
            ("pkg ssl", Some("3.0"), Some("3.1"), true),
            ("pkg old", Some("1.0"), None, false),
            ("pkg new", None, Some("0.1"), false),
        ]
    );
    assert_eq!(
        o.reasons,
        [
            "pkg old: expected a version increase, `1.0` disappeared",
            "pkg new: expected a version increase, appeared as `0.1`"
        ]
    );
    assert_eq!(o.verdict, Verdict::Mismatch);
}

#[test]
fn lists_with_repeated_prefixes_pair_by_position() {
    let e = Expectation {
        match_regex: Some(r"(?m)^v (\S+)$".into()),
        change: Changed,
        ..Expectation::default()
    };
    let o = run(
        &e,
        out("v 1\nv 2\n"),
        out("v 1\nv 3\nv 4\n"),
        VersionScheme::Semver,
    );
    assert_eq!(o.pairing, Some(Pairing::ByPosition));
    let got: Vec<_> = o
        .pairs
        .iter()
        .map(|p| {
            (
                p.key.as_str(),
                p.before.as_deref(),
                p.after.as_deref(),
                p.ok,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("#1", Some("1"), Some("1"), false),
            ("#2", Some("2"), Some("3"), true),
            ("#3", None, Some("4"), true),
        ]
    );
    assert_eq!(o.reasons, ["#1: expected a change, still `1`"]);
    assert_eq!(Pairing::ByPosition.as_str(), "by position");
    assert_eq!(Pairing::ByPrefix.as_str(), "by prefix");
    assert_eq!(Pairing::Single.as_str(), "single");
}

#[test]
fn extraction() {
    let re = regex::Regex::new(r"(?m)^(\w+)=(\w+)?$").expect("regex");
    // Group 1 always takes part here; the key is the text before it (empty).
    let e = extract(Some(&re), "a=1\nb=\n");
    assert_eq!(e.len(), 2);
    assert_eq!((e[0].key.as_str(), e[0].value.as_str()), ("", "a"));
    let optional = regex::Regex::new(r"x(\d)?y").expect("regex");
    assert!(
        extract(Some(&optional), "xy").is_empty(),
        "group 1 did not take part"
    );
    let whole = extract(None, "  hello \n");
    assert_eq!(
        (whole[0].key.as_str(), whole[0].value.as_str()),
        ("", "hello")
    );
}

#[test]
fn no_expectation_reports_unexpected_changes_with_a_diff() {
    let o = evaluate(
        "conf",
        &out("a\nb\n"),
        &out("a\nc\n"),
        None,
        VersionScheme::Semver,
    );
    assert_eq!(o.verdict, Verdict::UnexpectedChange);
    assert_eq!(o.reasons, ["changed without an expectation"]);
    assert_eq!(
        o.diff.as_deref(),
        Some("--- before\n+++ after\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n")
    );
    assert!(o.pairs.is_empty() && o.pairing.is_none());
    let same = evaluate(
        "conf",
        &out("a\n"),
        &out("a\n"),
        None,
        VersionScheme::Semver,
    );
    assert_eq!(same.verdict, Verdict::AsExpected);
    assert_eq!(same.diff, None);
}

#[test]
fn failed_and_missing_samples() {
    let e = Expectation::change(Unchanged).compile().expect("compiles");
    let failed = Sample::Failed("exit status 1".into());
    for (b, a, want, reason) in [
        (
            failed.clone(),
            out("x"),
            Verdict::Mismatch,
            "capture failed before: exit status 1",
        ),
        (
            out("x"),
            failed.clone(),
            Verdict::Mismatch,
            "capture failed after: exit status 1",
        ),
        (
            Sample::Missing,
            out("x"),
            Verdict::NotCompared,
            "no before capture",
        ),
        (
            out("x"),
            Sample::Missing,
            Verdict::NotCompared,
            "no after capture",
        ),
    ] {
        for exp in [Some(&e), None] {
            let o = evaluate("c", &b, &a, exp, VersionScheme::Semver);
            assert_eq!(o.verdict, want, "{b:?} {a:?}");
            assert_eq!(o.reasons, [reason]);
            assert_eq!(o.diff, None);
        }
    }
    // An audit (no before) still extracts the after value for drift.
    let o = evaluate(
        "c",
        &Sample::Missing,
        &out(" h1 \n"),
        None,
        VersionScheme::Semver,
    );
    assert_eq!(o.after_value.as_deref(), Some("h1"));
    assert_eq!(Sample::Missing.text(), None);
}

#[test]
fn bad_expectations_are_errors() {
    let no_group = Expectation {
        match_regex: Some(r"openssl\s+\S+".into()),
        ..Expectation::default()
    };
    let err = no_group.compile().unwrap_err();
    assert_eq!(err, ExpectError::NoGroup(r"openssl\s+\S+".into()));
    assert_eq!(
        err.to_string(),
        r"`match` regex `openssl\s+\S+` has no capture group"
    );
    let bad = Expectation {
        matches: Some("(".into()),
        ..Expectation::default()
    };
    assert!(matches!(
        bad.compile(),
        Err(ExpectError::BadRegex {
            attribute: "matches",
            ..
        })
    ));
    let bad_match = Expectation {
        match_regex: Some("[".into()),
        ..Expectation::default()
    };
    let err = bad_match.compile().unwrap_err();
    assert!(
        err.to_string().starts_with("invalid regex in `match`: "),
        "{err}"
    );
    let ok = Expectation::change(Changed).compile().expect("compiles");
    assert_eq!(ok.spec().change, Changed);
}

#[test]
fn names_parse() {
    use sflow::verify::OnMismatch;
    for k in ChangeKind::ALL {
        assert_eq!(k.to_string().parse::<ChangeKind>(), Ok(k));
    }
    assert_eq!(ChangeKind::default(), Any);
    assert!("bigger".parse::<ChangeKind>().is_err());
    for (s, m) in [
        ("fail", OnMismatch::Fail),
        ("warn", OnMismatch::Warn),
        ("rollback", OnMismatch::Rollback),
    ] {
        assert_eq!(s.parse::<OnMismatch>(), Ok(m));
    }
    let err = "explode".parse::<OnMismatch>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown on_mismatch `explode`: expected fail, warn or rollback"
    );
    assert_eq!(OnMismatch::default(), OnMismatch::Fail);
}

/// The same values as `captures_iter`, including empty matches next to multi-byte text.
#[test]
fn extraction_agrees_with_captures_iter() {
    let texts = ["", "a=1 b=2\n", "é=1\nx*y\nöö", "key  =  v\n\tother = w\n"];
    let regexes = [
        r"(\w*)",
        r"(\S+)\s*=\s*(\S+)",
        r"(?m)^(\S*)",
        r"x(\*)?",
        r"(é)?",
    ];
    for src in regexes {
        let Ok(re) = regex::Regex::new(src) else {
            panic!("bad regex {src}")
        };
        for text in texts {
            let want: Vec<String> = re
                .captures_iter(text)
                .filter_map(|c| c.get(1).map(|m| m.as_str().to_string()))
                .collect();
            let got: Vec<String> = extract(Some(&re), text)
                .into_iter()
                .map(|e| e.value)
                .collect();
            assert_eq!(got, want, "{src} on {text:?}");
        }
    }
}

/// A capture large enough for the diff to run beside the extraction gives the same outcome
/// as its halves evaluated alone would suggest: every pair checked, one diff.
#[test]
fn large_captures_are_evaluated_whole() {
    let listing = |bump: usize| -> String {
        (0..4000)
            .map(|i| {
                let patch = if i == bump { 2 } else { 1 };
                format!("ii  package-{i:05}    1.{i}.{patch}-1    amd64    package number {i}\n")
            })
            .collect()
    };
    let (before, after) = (listing(usize::MAX), listing(1234));
    assert!(before.len() + after.len() > 256 * 1024, "large enough");
    let expect = Expectation {
        match_regex: Some(r"(?m)^ii\s+\S+\s+(\S+)".into()),
        change: Unchanged,
        ..Expectation::default()
    };
    let o = run(&expect, out(&before), out(&after), VersionScheme::Deb);
    assert_eq!(o.verdict, Bad);
    assert_eq!(o.pairs.len(), 4000);
    assert_eq!(o.pairs.iter().filter(|p| !p.ok).count(), 1);
    let diff = o.diff.unwrap_or_default();
    assert!(diff.contains("@@ -1232,7 +1232,7 @@"), "{diff}");
    assert!(diff.contains("+ii  package-01234    1.1234.2-1"), "{diff}");
}
