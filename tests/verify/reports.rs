//! Whole verify blocks through `verify()`: the seed's `package_versions` example with
//! scripted `dpkg -l` outputs, drift across a fleet, an audit with a tie, and the rendered
//! reports as snapshots.

use sflow::verify::{
    verify, CaptureInput, CaptureSpec, ChangeKind, Expectation, FleetReport, HostAction,
    HostCaptures, OnMismatch, Pairing, Sample, Summary, Verdict, VerifyReport, VerifySpec,
    VersionScheme,
};

use crate::snapshot;

const DPKG_BEFORE: &str = "\
ii  bash                          5.2.15-2+b2        amd64        GNU Bourne Again SHell
ii  bash-completion               1:2.11-6           all          programmable completion for the bash shell
ii  openssl                       3.0.11-1~deb12u2   amd64        Secure Sockets Layer toolkit - cryptographic utility
";

/// After `apt-get upgrade`: openssl's security update and a bash rebuild; the version
/// column is wider, as dpkg widens it for the longest version.
const DPKG_AFTER: &str = "\
ii  bash                          5.2.15-2+b7         amd64        GNU Bourne Again SHell
ii  bash-completion               1:2.11-6            all          programmable completion for the bash shell
ii  openssl                       3.0.15-1~deb12u1    amd64        Secure Sockets Layer toolkit - cryptographic utility
";

fn out(s: &str) -> Sample {
    Sample::Output(s.to_string())
}

/// The seed's block, as written in `examples.sflow` (workflow `os_patching`).
fn seed_spec() -> VerifySpec {
    VerifySpec::new("package_versions").capture(CaptureSpec::new("package_versions").expect(
        Expectation {
            match_regex: Some(r"ii\s+openssl\s+(\S+)".into()),
            change: ChangeKind::VersionIncrease,
            ..Expectation::default()
        },
    ))
}

fn debian_host(name: &str, before: &str, after: &str) -> HostCaptures {
    HostCaptures::new(name)
        .fact("os", "debian")
        .capture(CaptureInput::new(
            "package_versions",
            out(before),
            out(after),
        ))
}

fn seed_report() -> VerifyReport {
    let hosts = [
        debian_host("web01.example.com", DPKG_BEFORE, DPKG_AFTER),
        // The upgrade did nothing here.
        debian_host("web02.example.com", DPKG_BEFORE, DPKG_BEFORE),
        debian_host("web03.example.com", DPKG_BEFORE, DPKG_AFTER),
    ];
    verify(&seed_spec(), &hosts).expect("valid spec")
}

#[test]
fn seed_package_versions() {
    let r = seed_report();
    let verdicts: Vec<_> = r
        .hosts
        .iter()
        .map(|h| (h.host.as_str(), h.captures[0].verdict, h.action))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("web01.example.com", Verdict::AsExpected, HostAction::None),
            ("web02.example.com", Verdict::Mismatch, HostAction::Fail),
            ("web03.example.com", Verdict::AsExpected, HostAction::None),
        ]
    );
    let web01 = &r.hosts[0].captures[0];
    assert_eq!(web01.scheme, Some(VersionScheme::Deb));
    assert_eq!(web01.pairing, Some(Pairing::Single));
    assert_eq!(web01.pairs[0].key, "ii openssl");
    assert_eq!(web01.pairs[0].before.as_deref(), Some("3.0.11-1~deb12u2"));
    assert_eq!(web01.pairs[0].after.as_deref(), Some("3.0.15-1~deb12u1"));
    assert!(web01.diff.is_some(), "the whole output changed");
    assert_eq!(
        r.hosts[1].captures[0].reasons,
        ["expected a version increase (deb), still `3.0.11-1~deb12u2`"]
    );
    assert_eq!(
        r.summary,
        Summary {
            hosts: 3,
            as_expected: 2,
            unexpected_change: 0,
            mismatch: 1,
            drifted: 0,
            not_compared: 0,
        }
    );
    assert!(r.drift.is_empty());
    let fleet = FleetReport::new(vec![r]);
    snapshot("package_versions.txt", &fleet.render_human());
    snapshot("package_versions.md", &fleet.render_markdown());
    snapshot(
        "package_versions.json",
        &fleet.to_json().expect("serializes"),
    );
}

#[test]
fn seed_with_every_package_paired_by_name() {
    let spec = VerifySpec::new("package_versions").capture(
        CaptureSpec::new("package_versions").expect(Expectation {
            match_regex: Some(r"ii\s+(?:openssl|bash)\s+(\S+)".into()),
            change: ChangeKind::VersionIncrease,
            ..Expectation::default()
        }),
    );
    let r = verify(&spec, &[debian_host("web01", DPKG_BEFORE, DPKG_AFTER)]).expect("valid");
    let c = &r.hosts[0].captures[0];
    assert_eq!(c.pairing, Some(Pairing::ByPrefix));
    assert_eq!(c.verdict, Verdict::AsExpected, "{:?}", c.reasons);
    let keys: Vec<_> = c.pairs.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["ii bash", "ii openssl"]);
    // Under semver-then-numeric rules `+b2` → `+b7` is no increase: the scheme matters.
    let other = verify(
        &spec,
        &[HostCaptures::new("x").capture(CaptureInput::new(
            "package_versions",
            out(DPKG_BEFORE),
            out(DPKG_AFTER),
        ))],
    )
    .expect("valid");
    assert_eq!(
        other.hosts[0].captures[0].scheme,
        Some(VersionScheme::Semver)
    );
}

/// `ntp_standard`'s block with a capture added that has no expectation.
fn fleet_spec() -> VerifySpec {
    let mut spec = VerifySpec::new("chrony_config")
        .capture(CaptureSpec::new("conf").expect(Expectation::change(ChangeKind::Any)))
        .capture(CaptureSpec::new("motd"));
    spec.on_mismatch = OnMismatch::Warn;
    spec.across = Some(
        ["web01", "web02", "web03", "db01", "db02", "cache01"]
            .map(String::from)
            .to_vec(),
    );
    spec
}

fn fleet_report() -> VerifyReport {
    let good = "3f1c2a9e  /etc/chrony/chrony.conf\n";
    let host = |name: &str, os: &str, conf_after: Sample, motd_after: &str| {
        HostCaptures::new(name)
            .fact("os", os)
            .capture(CaptureInput::new("conf", out("0000aaaa\n"), conf_after))
            .capture(CaptureInput::new(
                "motd",
                out("Welcome\nManaged by ops\n"),
                out(motd_after),
            ))
    };
    let motd = "Welcome\nManaged by ops\n";
    let hosts = [
        host("web01", "debian", out(good), motd),
        host(
            "web02",
            "debian",
            out(good),
            "Welcome\nManaged by ops | CHG-2291\n",
        ),
        host("web03", "debian", out(good), motd),
        host("db01", "rhel", out(good), motd),
        host("db02", "rhel", out("9b7d0c11  /etc/chrony.conf\n"), motd),
        host(
            "cache01",
            "debian",
            Sample::Failed("sha256sum: /etc/chrony/chrony.conf: No such file".into()),
            motd,
        ),
    ];
    verify(&fleet_spec(), &hosts).expect("valid spec")
}

#[test]
fn fleet_drift_unexpected_change_and_failure() {
    let r = fleet_report();
    let by_host = |h: &str| r.host(h).expect("host present");
    assert_eq!(by_host("web01").action, HostAction::None);
    assert!(by_host("web01").as_expected());
    assert!(!by_host("web02").as_expected());
    assert!(!by_host("db02").as_expected(), "drifted");
    assert!(!by_host("cache01").as_expected(), "capture failed");
    // An unexpected change alone is a warning, whatever on_mismatch says.
    assert_eq!(
        by_host("web02").captures[1].verdict,
        Verdict::UnexpectedChange
    );
    assert_eq!(by_host("web02").action, HostAction::Warn);
    assert_eq!(by_host("db02").drifted, ["conf"]);
    assert_eq!(by_host("db02").action, HostAction::Warn);
    assert_eq!(by_host("cache01").captures[0].verdict, Verdict::Mismatch);
    assert_eq!(r.host("nope"), None);
    let conf = &r.drift[0];
    assert_eq!(conf.capture, "conf");
    assert_eq!(conf.missing, ["cache01"]);
    assert!(!conf.tied);
    // motd differs on web02 only: drift too.
    assert_eq!(r.drift[1].drifted_hosts().collect::<Vec<_>>(), ["web02"]);
    assert_eq!(
        r.summary,
        Summary {
            hosts: 6,
            as_expected: 3,
            unexpected_change: 1,
            mismatch: 1,
            drifted: 2,
            not_compared: 0,
        }
    );
    let fleet = FleetReport::new(vec![seed_report(), r]);
    assert_eq!(fleet.summary.hosts, 9);
    assert_eq!(fleet.action("web02"), HostAction::Warn);
    assert_eq!(fleet.action("web02.example.com"), HostAction::Fail);
    assert_eq!(fleet.action("unknown"), HostAction::None);
    snapshot("fleet.txt", &fleet.render_human());
    snapshot("fleet.md", &fleet.render_markdown());
}

#[test]
fn unexpected_change_alone_warns() {
    let spec = VerifySpec::new("b").capture(CaptureSpec::new("sshd_config"));
    let host = HostCaptures::new("h").capture(CaptureInput::new(
        "sshd_config",
        out("aaaa  /etc/ssh/sshd_config\n"),
        out("bbbb  /etc/ssh/sshd_config\n"),
    ));
    let r = verify(&spec, &[host]).expect("valid");
    assert_eq!(r.hosts[0].captures[0].verdict, Verdict::UnexpectedChange);
    assert!(r.hosts[0].drifted.is_empty());
    assert_eq!(r.hosts[0].action, HostAction::Warn);
}

#[test]
fn on_mismatch_picks_the_action() {
    for (on, want) in [
        (OnMismatch::Fail, HostAction::Fail),
        (OnMismatch::Warn, HostAction::Warn),
        (OnMismatch::Rollback, HostAction::Rollback),
    ] {
        let mut spec = seed_spec();
        spec.on_mismatch = on;
        let r = verify(&spec, &[debian_host("h", DPKG_BEFORE, DPKG_BEFORE)]).expect("valid");
        assert_eq!(r.hosts[0].action, want);
        assert_eq!(r.on_mismatch, on);
        let word = format!("{on:?}").to_lowercase();
        let human = FleetReport::new(vec![r.clone()]).render_human();
        assert!(human.contains(&format!("  h [{word}]\n")), "{human}");
        let md = FleetReport::new(vec![r]).render_markdown();
        assert!(md.contains(&format!("### h ({word})\n")), "{md}");
    }
}

#[test]
fn audit_with_a_tie() {
    // `sflow verify` takes no before sample: only drift is judged.
    let mut spec = VerifySpec::new("audit").capture(CaptureSpec::new("kernel"));
    spec.across = Some(["a", "b", "c", "d", "e"].map(String::from).to_vec());
    let host = |name: &str, v: &str| {
        HostCaptures::new(name).capture(CaptureInput::new("kernel", Sample::Missing, out(v)))
    };
    let hosts = [
        host("a", "6.1.0-18-amd64\n"),
        host("b", "6.1.0-21-amd64\n"),
        host("c", "6.1.0-21-amd64\n"),
        host("d", "6.1.0-18-amd64\n"),
        // e took no sample at all.
        HostCaptures::new("e"),
    ];
    let r = verify(&spec, &hosts).expect("valid");
    let d = &r.drift[0];
    assert!(d.tied);
    assert_eq!(
        d.baseline.as_ref().map(|b| b.value.as_str()),
        Some("6.1.0-18-amd64")
    );
    assert_eq!(d.drifted_hosts().collect::<Vec<_>>(), ["b", "c"]);
    assert_eq!(d.missing, ["e"]);
    assert_eq!(r.hosts[4].captures[0].reasons, ["no before capture"]);
    assert_eq!(
        r.summary,
        Summary {
            hosts: 5,
            as_expected: 3,
            unexpected_change: 0,
            mismatch: 0,
            drifted: 2,
            not_compared: 5,
        }
    );
    let fleet = FleetReport::new(vec![r]);
    snapshot("audit_tie.txt", &fleet.render_human());
    snapshot("audit_tie.md", &fleet.render_markdown());
}

#[test]
fn no_host_has_a_value() {
    let mut spec = VerifySpec::new("empty").capture(CaptureSpec::new("x"));
    spec.across = Some(vec!["ghost".into()]);
    let fleet = FleetReport::new(vec![verify(&spec, &[]).expect("valid")]);
    let human = fleet.render_human();
    assert!(human.contains("drift of x: no host has a value"), "{human}");
    let md = fleet.render_markdown();
    assert!(md.contains("No host has a value."), "{md}");
}

#[test]
fn markdown_escapes_host_output() {
    let spec = VerifySpec::new("b").capture(CaptureSpec::new("c").expect(Expectation {
        match_regex: Some(r"v=(.*)".into()),
        change: ChangeKind::Unchanged,
        ..Expectation::default()
    }));
    let hosts = [HostCaptures::new("h").capture(CaptureInput::new(
        "c",
        out("v=a|b\n```\nmore\n"),
        out("v=a|c\r\n```\nmore\n"),
    ))];
    let md = FleetReport::new(vec![verify(&spec, &hosts).expect("valid")]).render_markdown();
    assert!(
        md.contains("| v= | a\\|b | a\\|c | **no** |"),
        "pipes are escaped in cells: {md}"
    );
    assert!(
        md.contains("\n````text\n"),
        "fence longer than the output's: {md}"
    );
    // A failure message with a newline stays in its list item; a final newline is added
    // before the closing fence when the output lacks one.
    let odd = [HostCaptures::new("h").capture(CaptureInput::new(
        "c",
        out("v=1\nlast line without newline"),
        Sample::Failed("timed out\nafter 5s".into()),
    ))];
    let md = FleetReport::new(vec![verify(&spec, &odd).expect("valid")]).render_markdown();
    assert!(
        md.contains("- after: failed: timed out<br>after 5s\n"),
        "{md}"
    );
    assert!(md.contains("last line without newline\n```\n"), "{md}");
    let empty = [HostCaptures::new("h").capture(CaptureInput::new("c", out(""), out("")))];
    let human = FleetReport::new(vec![verify(&spec, &empty).expect("valid")]).render_human();
    assert!(human.contains("before: (empty)"), "{human}");
}

#[test]
fn invalid_expectation_names_block_and_capture() {
    let spec = VerifySpec::new("blk").capture(CaptureSpec::new("cap").expect(Expectation {
        match_regex: Some("no group".into()),
        ..Expectation::default()
    }));
    let err = verify(&spec, &[]).unwrap_err();
    assert_eq!(err.block, "blk");
    assert_eq!(err.capture, "cap");
    assert_eq!(err.to_string(), "verify `blk`, expectation on `cap`");
}

#[test]
fn json_round_trips() {
    let fleet = FleetReport::new(vec![seed_report(), fleet_report()]);
    let json = fleet.to_json().expect("serializes");
    let back: FleetReport = serde_json::from_str(&json).expect("parses");
    // `after_value` is internal to drift detection and not serialized.
    let strip = |mut f: FleetReport| {
        for b in &mut f.blocks {
            for h in &mut b.hosts {
                for c in &mut h.captures {
                    c.after_value = None;
                }
            }
        }
        f
    };
    assert_eq!(back, strip(fleet));
}
