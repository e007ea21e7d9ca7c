//! Drift across hosts: one, two and many outliers, ties, missing values.

use sflow::verify::detect_drift;

fn values(spec: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    spec.iter()
        .map(|(h, v)| (h.to_string(), v.map(str::to_string)))
        .collect()
}

/// Baseline value, baseline hosts, outliers as (value, hosts), tied, missing.
type Summary = (
    Option<String>,
    Vec<String>,
    Vec<(String, Vec<String>)>,
    bool,
    Vec<String>,
);

fn summary(spec: &[(&str, Option<&str>)]) -> Summary {
    let d = detect_drift("conf", &values(spec));
    assert_eq!(d.capture, "conf");
    assert_eq!(d.has_drift(), !d.outliers.is_empty());
    let drifted: Vec<&str> = d.drifted_hosts().collect();
    let from_groups: Vec<&str> = d
        .outliers
        .iter()
        .flat_map(|o| o.hosts.iter().map(String::as_str))
        .collect();
    assert_eq!(drifted, from_groups);
    for o in &d.outliers {
        assert!(o.diff.is_some(), "every outlier has a diff");
    }
    (
        d.baseline.as_ref().map(|b| b.value.clone()),
        d.baseline
            .as_ref()
            .map(|b| b.hosts.clone())
            .unwrap_or_default(),
        d.outliers
            .iter()
            .map(|o| (o.value.clone(), o.hosts.clone()))
            .collect(),
        d.tied,
        d.missing.clone(),
    )
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn no_drift() {
    let (base, hosts, outliers, tied, missing) =
        summary(&[("a", Some("x")), ("b", Some("x")), ("c", Some("x"))]);
    assert_eq!(base.as_deref(), Some("x"));
    assert_eq!(hosts, s(&["a", "b", "c"]));
    assert!(outliers.is_empty() && !tied && missing.is_empty());
}

#[test]
fn one_outlier() {
    let (base, _, outliers, tied, _) =
        summary(&[("a", Some("x")), ("b", Some("y")), ("c", Some("x"))]);
    assert_eq!(base.as_deref(), Some("x"));
    assert_eq!(outliers, [("y".to_string(), s(&["b"]))]);
    assert!(!tied);
}

#[test]
fn two_outliers_in_one_group_and_apart() {
    let (_, _, outliers, _, _) = summary(&[
        ("a", Some("x")),
        ("b", Some("y")),
        ("c", Some("x")),
        ("d", Some("y")),
        ("e", Some("x")),
    ]);
    assert_eq!(outliers, [("y".to_string(), s(&["b", "d"]))]);
    let (_, _, outliers, tied, _) = summary(&[
        ("a", Some("x")),
        ("b", Some("y")),
        ("c", Some("x")),
        ("d", Some("z")),
    ]);
    assert_eq!(
        outliers,
        [("y".to_string(), s(&["b"])), ("z".to_string(), s(&["d"]))]
    );
    assert!(
        !tied,
        "the singletons tie with each other, not with the baseline"
    );
}

#[test]
fn many_outliers_largest_group_first() {
    let (base, hosts, outliers, tied, _) = summary(&[
        ("h1", Some("z")),
        ("h2", Some("y")),
        ("h3", Some("x")),
        ("h4", Some("x")),
        ("h5", Some("x")),
        ("h6", Some("y")),
        ("h7", Some("w")),
        ("h8", Some("x")),
    ]);
    assert_eq!(base.as_deref(), Some("x"));
    assert_eq!(hosts, s(&["h3", "h4", "h5", "h8"]));
    assert_eq!(
        outliers,
        [
            ("y".to_string(), s(&["h2", "h6"])),
            ("z".to_string(), s(&["h1"])),
            ("w".to_string(), s(&["h7"])),
        ]
    );
    assert!(!tied);
}

#[test]
fn ties_go_to_the_group_of_the_earliest_host() {
    let (base, _, outliers, tied, _) = summary(&[("a", Some("x")), ("b", Some("y"))]);
    assert_eq!(base.as_deref(), Some("x"));
    assert_eq!(outliers, [("y".to_string(), s(&["b"]))]);
    assert!(tied);
    // Order of the target decides, not the values.
    let (base, _, _, tied, _) = summary(&[
        ("c", Some("b-value")),
        ("a", Some("a-value")),
        ("d", Some("b-value")),
        ("b", Some("a-value")),
    ]);
    assert_eq!(base.as_deref(), Some("b-value"));
    assert!(tied);
    // A three-way tie.
    let (base, _, outliers, tied, _) =
        summary(&[("a", Some("1")), ("b", Some("2")), ("c", Some("3"))]);
    assert_eq!(base.as_deref(), Some("1"));
    assert_eq!(outliers.len(), 2);
    assert!(tied);
}

#[test]
fn missing_values_are_not_compared() {
    let (base, hosts, outliers, _, missing) =
        summary(&[("a", None), ("b", Some("x")), ("c", None)]);
    assert_eq!(base.as_deref(), Some("x"));
    assert_eq!(hosts, s(&["b"]));
    assert!(outliers.is_empty());
    assert_eq!(missing, s(&["a", "c"]));
    let (base, _, outliers, tied, missing) = summary(&[("a", None)]);
    assert_eq!(base, None);
    assert!(outliers.is_empty() && !tied);
    assert_eq!(missing, s(&["a"]));
    let (base, ..) = summary(&[]);
    assert_eq!(base, None);
}

#[test]
fn outlier_diff_is_against_the_baseline() {
    let d = detect_drift(
        "chrony",
        &values(&[
            ("web01", Some("pool pool.ntp.org iburst\nmakestep 1.0 3")),
            ("web02", Some("pool pool.ntp.org iburst\nmakestep 1.0 3")),
            ("web03", Some("server 10.0.0.1\nmakestep 1.0 3")),
            ("web04", Some("server 10.0.0.1\nmakestep 1.0 3")),
            ("web05", Some("pool pool.ntp.org iburst\nmakestep 1.0 3")),
        ]),
    );
    assert_eq!(
        d.outliers[0].diff.as_deref(),
        Some(
            "--- baseline (3 hosts)\n+++ web03 and 1 more\n@@ -1,2 +1,2 @@\n\
             -pool pool.ntp.org iburst\n+server 10.0.0.1\n makestep 1.0 3\n"
        )
    );
}
