//! Version ordering against the published test vectors of dpkg and rpm, semver's precedence
//! examples, and the numeric fallback.

use std::cmp::Ordering;

use sflow::verify::version::{
    compare_deb, compare_numeric, compare_rpm, compare_semver, rpmvercmp, DebVersion,
    DebVersionError, VersionScheme, DEFAULT_SCHEME,
};

fn ord(n: i32) -> Ordering {
    n.cmp(&0)
}

/// dpkg `scripts/t/100_Dpkg_Version.t`, its `__DATA__` table: `a b expected`.
const DPKG_PERL_VECTORS: &str = "\
1.0-1 2.0-2 -1
2.2~rc-4 2.2-1 -1
2.2-1 2.2~rc-4 1
1.0000-1 1.0-1 0
1 0:1 0
0 0:0-0 0
2:2.5 1:7.5 1
1:0foo 0foo 1
0:0foo 0foo 0
0foo 0foo 0
0foo- 0foo 0
0foo- 0foo-0 0
0foo 0fo 1
0foo- 0foo+ -1
0foo~1 0foo -1
0foo~foo+Bar 0foo~foo+bar -1
0foo~~ 0foo~ -1
1~ 1 -1
12345+that-really-is-some-ver-0 12345+that-really-is-some-ver-10 -1
0foo-0 0foo-01 -1
0foo.bar 0foobar 1
0foo.bar 0foo1bar 1
0foo.bar 0foo0bar 1
0foo1bar-1 0foobar-1 -1
0foo2.0 0foo2 1
0foo2.0.0 0foo2.10.0 -1
0foo2.0 0foo2.0.0 -1
0foo2.0 0foo2.10 -1
0foo2.1 0foo2.10 -1
1.09 1.9 0
1.0.8+nmu1 1.0.8 1
3.11 3.10+nmu1 1
0.9j-20080306-4 0.9i-20070324-2 1
1.2.0~b7-1 1.2.0~b6-1 1
1.011-1 1.06-2 1
0.0.9+dfsg1-1 0.0.8+dfsg1-3 1
4.6.99+svn6582-1 4.6.99+svn6496-1 1
53 52 1
0.9.9~pre122-1 0.9.9~pre111-1 1
2:2.3.2-2+lenny2 2:2.3.2-2 1
1:3.8.1-1 3.8.GA-1 1
1.0.1+gpl-1 1.0.1-2 1
1a 1000a -1
-0.6.5 0.9.1 -1
";

/// The older revision of the same table, before its versions were made to start with a
/// digit: still valid input for the comparison.
const DPKG_PERL_VECTORS_OLD: &str = "\
1:foo foo 1
0:foo foo 0
foo foo 0
foo- foo 0
foo- foo-0 0
foo fo 1
foo- foo+ -1
foo~1 foo -1
foo~foo+Bar foo~foo+bar -1
foo~~ foo~ -1
foo-0 foo-01 -1
foo.bar foobar 1
foo.bar foo1bar 1
foo.bar foo0bar 1
1foo-1 foo-1 -1
foo2.0 foo2 1
foo2.0.0 foo2.10.0 -1
foo2.0 foo2.0.0 -1
foo2.0 foo2.10 -1
foo2.1 foo2.10 -1
";

fn check_table(table: &str, cmp: fn(&str, &str) -> Ordering) {
    let mut n = 0;
    for line in table.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [a, b, want] = f.as_slice() else {
            panic!("bad vector line {line:?}");
        };
        let want = ord(want.parse().expect("expected result"));
        assert_eq!(cmp(a, b), want, "{a} vs {b}");
        assert_eq!(cmp(b, a), want.reverse(), "{b} vs {a} (reversed)");
        n += 1;
    }
    assert!(n > 0);
}

#[test]
fn dpkg_perl_vectors() {
    check_table(DPKG_PERL_VECTORS, compare_deb);
    check_table(DPKG_PERL_VECTORS_OLD, compare_deb);
    assert_eq!(DPKG_PERL_VECTORS.lines().count(), 44);
}

/// `lib/dpkg/t/t-version.c`, `test_version_compare`: (epoch, version, revision) triples.
#[test]
fn dpkg_c_compare_vectors() {
    let v = |e: u32, u: &str, r: &str| DebVersion {
        epoch: e,
        upstream: u.into(),
        revision: r.into(),
    };
    let cases = [
        (v(0, "", ""), v(0, "", ""), Ordering::Equal),
        (v(1, "", ""), v(2, "", ""), Ordering::Less),
        (v(0, "1", "1"), v(0, "2", "1"), Ordering::Less),
        (v(0, "1", "1"), v(0, "1", "2"), Ordering::Less),
        (v(0, "0", "0"), v(0, "0", "0"), Ordering::Equal),
        (v(0, "0", "00"), v(0, "00", "0"), Ordering::Equal),
        (v(1, "2", "3"), v(1, "2", "3"), Ordering::Equal),
        (v(0, "0", "0"), v(1, "0", "0"), Ordering::Less),
        (v(0, "a", "0"), v(0, "b", "0"), Ordering::Less),
        (v(0, "0", "a"), v(0, "0", "b"), Ordering::Less),
        (v(0, "2", "1"), v(0, "1", "1"), Ordering::Greater),
    ];
    for (a, b, want) in cases {
        assert_eq!(a.cmp(&b), want, "{a:?} vs {b:?}");
        assert_eq!(b.cmp(&a), want.reverse(), "{b:?} vs {a:?}");
        assert_eq!(a.partial_cmp(&b), Some(want));
    }
}

/// `lib/dpkg/t/t-version.c`, `test_version_parse`: strings that parse, and what to.
#[test]
fn dpkg_c_parse_vectors() {
    let ok = [
        ("0", 0, "0", ""),
        ("0:0", 0, "0", ""),
        ("0:0-", 0, "0", ""),
        ("0:0-0", 0, "0", "0"),
        ("0:0.0-0.0", 0, "0.0", "0.0"),
        ("1:0", 1, "0", ""),
        ("5:1", 5, "1", ""),
        ("0:0-0-0", 0, "0-0", "0"),
        ("0:0-0-0-0", 0, "0-0-0", "0"),
        ("0:0:0-0", 0, "0:0", "0"),
        ("0:0:0:0-0", 0, "0:0:0", "0"),
        ("0:0:0-0-0", 0, "0:0-0", "0"),
        ("0:0-0:0-0", 0, "0-0:0", "0"),
        ("0:09azAZ.-+~:-0", 0, "09azAZ.-+~:", "0"),
        ("0:0-azAZ09.+~", 0, "0", "azAZ09.+~"),
        ("  \t0:0-1", 0, "0", "1"),
        ("0:0-1\t  ", 0, "0", "1"),
        ("\t  0:0-1  \t", 0, "0", "1"),
    ];
    for (s, epoch, upstream, revision) in ok {
        let v = DebVersion::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        let want = DebVersion {
            epoch,
            upstream: upstream.into(),
            revision: revision.into(),
        };
        // dpkg's test compares with dpkg_version_compare, under which "" and "0" revisions
        // are equal; the split itself must match too.
        assert_eq!(v.cmp(&want), Ordering::Equal, "{s:?}");
        assert_eq!(v, want, "{s:?}");
    }
    let bad = [
        ("", DebVersionError::Empty),
        ("  ", DebVersionError::Empty),
        ("0:", DebVersionError::EmptyUpstream),
        ("0:0 0-1", DebVersionError::EmbeddedSpaces),
        ("-1:0-1", DebVersionError::BadEpoch),
        ("999999999999999999999999:0-1", DebVersionError::BadEpoch),
        ("a:0-0", DebVersionError::BadEpoch),
        ("A:0-0", DebVersionError::BadEpoch),
        ("-0", DebVersionError::EmptyUpstream),
        ("0:-0", DebVersionError::EmptyUpstream),
        ("0:abc3-0", DebVersionError::NoLeadingDigit),
        ("0:0-0:0", DebVersionError::BadRevisionChar),
    ];
    for (s, want) in bad {
        assert_eq!(DebVersion::parse(s), Err(want), "{s:?}");
    }
    for c in "!#@$%&/|\\<>()[]{};,_=*^'".chars() {
        let s = format!("0:0{c}-0");
        assert_eq!(
            DebVersion::parse(&s),
            Err(DebVersionError::BadUpstreamChar),
            "{s:?}"
        );
    }
    for c in "!#@$%&/|\\<>()[]{}:;,_=*^'".chars() {
        let s = format!("0:0-0{c}");
        assert_eq!(
            DebVersion::parse(&s),
            Err(DebVersionError::BadRevisionChar),
            "{s:?}"
        );
    }
    // The error wording is dpkg's.
    assert_eq!(
        DebVersionError::NoLeadingDigit.to_string(),
        "version number does not start with digit"
    );
}

/// rpm `tests/rpmvercmp.at`: every `RPMVERCMP(a, b, expected)` line, tilde and caret
/// cases included.
const RPMVERCMP_VECTORS: &str = "\
1.0, 1.0, 0
1.0, 2.0, -1
2.0, 1.0, 1
2.0.1, 2.0.1, 0
2.0, 2.0.1, -1
2.0.1, 2.0, 1
2.0.1a, 2.0.1a, 0
2.0.1a, 2.0.1, 1
2.0.1, 2.0.1a, -1
5.5p1, 5.5p1, 0
5.5p1, 5.5p2, -1
5.5p2, 5.5p1, 1
5.5p10, 5.5p10, 0
5.5p1, 5.5p10, -1
5.5p10, 5.5p1, 1
10xyz, 10.1xyz, -1
10.1xyz, 10xyz, 1
xyz10, xyz10, 0
xyz10, xyz10.1, -1
xyz10.1, xyz10, 1
xyz.4, xyz.4, 0
xyz.4, 8, -1
8, xyz.4, 1
xyz.4, 2, -1
2, xyz.4, 1
5.5p2, 5.6p1, -1
5.6p1, 5.5p2, 1
5.6p1, 6.5p1, -1
6.5p1, 5.6p1, 1
6.0.rc1, 6.0, 1
6.0, 6.0.rc1, -1
10b2, 10a1, 1
10a2, 10b2, -1
1.0aa, 1.0aa, 0
1.0a, 1.0aa, -1
1.0aa, 1.0a, 1
10.0001, 10.0001, 0
10.0001, 10.1, 0
10.1, 10.0001, 0
10.0001, 10.0039, -1
10.0039, 10.0001, 1
4.999.9, 5.0, -1
5.0, 4.999.9, 1
20101121, 20101121, 0
20101121, 20101122, -1
20101122, 20101121, 1
2_0, 2_0, 0
2.0, 2_0, 0
2_0, 2.0, 0
a, a, 0
a+, a+, 0
a+, a_, 0
a_, a+, 0
+a, +a, 0
+a, _a, 0
_a, +a, 0
+_, +_, 0
_+, +_, 0
_+, _+, 0
+, _, 0
_, +, 0
1.0~rc1, 1.0~rc1, 0
1.0~rc1, 1.0, -1
1.0, 1.0~rc1, 1
1.0~rc1, 1.0~rc2, -1
1.0~rc2, 1.0~rc1, 1
1.0~rc1~git123, 1.0~rc1~git123, 0
1.0~rc1~git123, 1.0~rc1, -1
1.0~rc1, 1.0~rc1~git123, 1
1.0^, 1.0^, 0
1.0^, 1.0, 1
1.0, 1.0^, -1
1.0^git1, 1.0^git1, 0
1.0^git1, 1.0, 1
1.0, 1.0^git1, -1
1.0^git1, 1.0^git2, -1
1.0^git2, 1.0^git1, 1
1.0^git1, 1.01, -1
1.01, 1.0^git1, 1
1.0^20160101, 1.0^20160101, 0
1.0^20160101, 1.0.1, -1
1.0.1, 1.0^20160101, 1
1.0^20160101^git1, 1.0^20160101^git1, 0
1.0^20160102, 1.0^20160101^git1, 1
1.0^20160101^git1, 1.0^20160102, -1
1.0~rc1^git1, 1.0~rc1^git1, 0
1.0~rc1^git1, 1.0~rc1, 1
1.0~rc1, 1.0~rc1^git1, -1
1.0^git1~pre, 1.0^git1~pre, 0
1.0^git1, 1.0^git1~pre, 1
1.0^git1~pre, 1.0^git1, -1
";

#[test]
fn rpmvercmp_vectors() {
    let mut n = 0;
    for line in RPMVERCMP_VECTORS.lines() {
        let f: Vec<&str> = line.split(", ").collect();
        let [a, b, want] = f.as_slice() else {
            panic!("bad vector line {line:?}");
        };
        let want = ord(want.parse().expect("expected result"));
        assert_eq!(rpmvercmp(a, b), want, "rpmvercmp({a}, {b})");
        n += 1;
    }
    assert_eq!(n, 91);
}

#[test]
fn rpm_evr() {
    let cases = [
        ("1:1.0-1", "2.0-1", Ordering::Greater),
        ("0:1.0-1", "1.0-1", Ordering::Equal),
        ("3.0.7-27.el9", "3.0.7-25.el9", Ordering::Greater),
        ("3.0.7-25.el9", "3.0.7-25.el9_2", Ordering::Less),
        ("1:3.0.7-27.el9", "1:3.0.7-27.el9", Ordering::Equal),
        // A missing release matches any release, as in rpm's dependency ranges.
        ("3.0.7", "3.0.7-27.el9", Ordering::Equal),
        ("3.0.8", "3.0.7-27.el9", Ordering::Greater),
    ];
    for (a, b, want) in cases {
        assert_eq!(compare_rpm(a, b), want, "{a} vs {b}");
        assert_eq!(VersionScheme::Rpm.compare(a, b), want, "{a} vs {b}");
    }
}

/// semver.org, item 11: `1.0.0-alpha < 1.0.0-alpha.1 < … < 1.0.0` and the core examples.
#[test]
fn semver_precedence() {
    let chain = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "2.0.0",
        "2.1.0",
        "2.1.1",
    ];
    for (i, a) in chain.iter().enumerate() {
        for (j, b) in chain.iter().enumerate() {
            assert_eq!(compare_semver(a, b), i.cmp(&j), "{a} vs {b}");
        }
    }
    for bad in [
        "1.2",
        "1.2.3.4",
        "01.2.3",
        "1.2.3-",
        "1.2.3-a..b",
        "1.2.3-01",
        "1.2.3+",
    ] {
        assert_eq!(sflow::verify::version::Semver::parse(bad), None, "{bad}");
    }
    let parsed = |v: &str| sflow::verify::version::Semver::parse(v).expect("semver");
    assert!(parsed("1.0.0-rc.1") < parsed("1.0.0"));
    // Build metadata has no precedence; a leading `v` is tolerated.
    assert_eq!(
        compare_semver("1.0.0+build.1", "v1.0.0+build.2"),
        Ordering::Equal
    );
    // Not semver on one side: numeric segments decide.
    assert_eq!(compare_semver("1.10", "1.9.9"), Ordering::Greater);
    assert_eq!(
        VersionScheme::Semver.compare("1.2.3", "1.2.3-rc.1"),
        Ordering::Greater
    );
}

#[test]
fn numeric_segments() {
    let cases = [
        ("1.10", "1.9", Ordering::Greater),
        ("1.2", "1.2.0", Ordering::Less),
        ("v2", "2", Ordering::Equal),
        ("1.2a", "1.2b", Ordering::Equal),
        ("007", "7", Ordering::Equal),
        ("99999999999999999999999999", "1", Ordering::Greater),
        ("", "0", Ordering::Less),
        ("release-12", "release-3", Ordering::Greater),
    ];
    for (a, b, want) in cases {
        assert_eq!(compare_numeric(a, b), want, "{a} vs {b}");
        assert_eq!(VersionScheme::Numeric.compare(a, b), want, "{a} vs {b}");
    }
}

#[test]
fn schemes_disagree_where_they_should() {
    // `~` is a pre-release to dpkg and rpm, a separator to the numeric fallback.
    assert_eq!(VersionScheme::Deb.compare("1.0~rc1", "1.0"), Ordering::Less);
    assert_eq!(VersionScheme::Rpm.compare("1.0~rc1", "1.0"), Ordering::Less);
    assert_eq!(
        VersionScheme::Numeric.compare("1.0~rc1", "1.0"),
        Ordering::Greater
    );
    // The security-update shape: `1~deb12u2` < `1`.
    assert_eq!(
        VersionScheme::Deb.compare("3.0.11-1", "3.0.11-1~deb12u2"),
        Ordering::Greater
    );
}

fn choose(declared: Option<VersionScheme>, facts: &[(&str, &str)]) -> VersionScheme {
    VersionScheme::choose(declared, &|name| {
        facts.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    })
}

#[test]
fn scheme_choice() {
    assert_eq!(choose(None, &[("os", "debian")]), VersionScheme::Deb);
    assert_eq!(choose(None, &[("os", "Ubuntu")]), VersionScheme::Deb);
    for os in ["rhel", "centos", "fedora", "rocky", "alma", "almalinux"] {
        assert_eq!(choose(None, &[("os", os)]), VersionScheme::Rpm, "{os}");
    }
    // The declared attribute wins over the facts.
    assert_eq!(
        choose(Some(VersionScheme::Semver), &[("os", "debian")]),
        VersionScheme::Semver
    );
    // A `versions` fact names the scheme directly; an unknown OS falls through to os_family.
    assert_eq!(
        choose(None, &[("versions", "rpm"), ("os", "debian")]),
        VersionScheme::Rpm
    );
    assert_eq!(
        choose(None, &[("os", "plan9"), ("os_family", "redhat")]),
        VersionScheme::Rpm
    );
    assert_eq!(choose(None, &[("os", "plan9")]), DEFAULT_SCHEME);
    assert_eq!(choose(None, &[]), VersionScheme::Semver);
}

#[test]
fn scheme_names_round_trip() {
    for s in [
        VersionScheme::Deb,
        VersionScheme::Rpm,
        VersionScheme::Semver,
        VersionScheme::Numeric,
    ] {
        assert_eq!(s.to_string().parse::<VersionScheme>(), Ok(s));
    }
    let err = "pacman".parse::<VersionScheme>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown version scheme `pacman`: expected deb, rpm, semver or numeric"
    );
}
