//! Verification benchmarks: comparing and diffing a 10,000-line capture, and a 1,000-host
//! drift report. Run with `cargo bench --bench verify`; prints the median and the slowest
//! of several runs per workload, and the goal each must meet.

use std::hint::black_box;
use std::time::{Duration, Instant};

use sflow::verify::diff::unified_diff;
use sflow::verify::expect::extract;
use sflow::verify::{
    evaluate, verify, CaptureInput, CaptureSpec, ChangeKind, Expectation, FleetReport,
    HostCaptures, Sample, VerifySpec, VersionScheme,
};

const RUNS: usize = 15;

/// Runs `f` `RUNS` times after one warm-up; returns (median, max).
fn measure(mut f: impl FnMut()) -> (Duration, Duration) {
    f();
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    (times[RUNS / 2], times[RUNS - 1])
}

fn report(name: &str, goal_ms: u64, (median, max): (Duration, Duration)) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let verdict = if max <= Duration::from_millis(goal_ms) {
        "meets"
    } else {
        "MISSES"
    };
    println!(
        "{name:<58} median {:>8.2} ms  max {:>8.2} ms  goal <= {goal_ms} ms: {verdict}",
        ms(median),
        ms(max)
    );
}

/// A `dpkg -l`-shaped listing of `n` packages; every `every`-th one upgraded when `bumped`.
fn listing(n: usize, bumped: bool, every: usize) -> String {
    let mut s = String::with_capacity(n * 90);
    for i in 0..n {
        let patch = if bumped && i % every == 0 { 2 } else { 1 };
        s.push_str(&format!(
            "ii  package-{i:05}    {}.{}.{patch}-1~deb12u1    amd64    description of package {i}\n",
            i % 7,
            i % 13
        ));
    }
    s
}

fn main() {
    let before = Sample::Output(listing(10_000, false, 100));
    let after = Sample::Output(listing(10_000, true, 100));

    let plain = measure(|| {
        black_box(evaluate(
            "packages",
            &before,
            &after,
            None,
            VersionScheme::Deb,
        ));
    });
    report(
        "10,000-line capture, no expectation (compare + diff)",
        50,
        plain,
    );

    let expect = Expectation {
        match_regex: Some(r"(?m)^ii\s+\S+\s+(\S+)".into()),
        change: ChangeKind::Any,
        ..Expectation::default()
    }
    .compile()
    .expect("valid expectation");
    let listed = measure(|| {
        black_box(evaluate(
            "packages",
            &before,
            &after,
            Some(&expect),
            VersionScheme::Deb,
        ));
    });
    report(
        "10,000-line capture, 10,000 values paired + diff",
        50,
        listed,
    );

    // The parts of the paired workload, to see where its time goes.
    let re = regex::Regex::new(r"(?m)^ii\s+\S+\s+(\S+)").expect("valid regex");
    let before_text = before.text().unwrap_or_default();
    let after_text = after.text().unwrap_or_default();
    let extracting = measure(|| {
        black_box(extract(Some(&re), before_text));
    });
    report(
        "  of which: extracting 10,000 values (one side)",
        50,
        extracting,
    );
    let diffing = measure(|| {
        black_box(unified_diff(before_text, after_text, "before", "after"));
    });
    report(
        "  of which: the unified diff (1% of lines changed)",
        50,
        diffing,
    );

    let increase = Expectation {
        match_regex: Some(r"(?m)^ii\s+\S+\s+(\S+)".into()),
        change: ChangeKind::VersionIncrease,
        ..Expectation::default()
    }
    .compile()
    .expect("valid expectation");
    let all_up = Sample::Output(listing(10_000, true, 1));
    let versions = measure(|| {
        black_box(evaluate(
            "packages",
            &before,
            &all_up,
            Some(&increase),
            VersionScheme::Deb,
        ));
    });
    report(
        "10,000-line capture, 10,000 dpkg comparisons + full diff",
        50,
        versions,
    );

    // 1,000 hosts, a 40-line config each: 940 agree, 50 in one outlier group, 10 each unique.
    let config = |variant: usize| -> String {
        (0..40)
            .map(|l| {
                if l == 20 && variant > 0 {
                    format!("setting_{l} = variant {variant}\n")
                } else {
                    format!("setting_{l} = value {l}\n")
                }
            })
            .collect()
    };
    let hosts: Vec<HostCaptures> = (0..1000)
        .map(|i| {
            let variant = match i {
                0..=939 => 0,
                940..=989 => 1,
                _ => i,
            };
            HostCaptures::new(format!("host{i:04}.example.com"))
                .fact("os", "debian")
                .capture(CaptureInput::new(
                    "conf",
                    Sample::Output(config(0)),
                    Sample::Output(config(variant)),
                ))
        })
        .collect();
    let mut spec = VerifySpec::new("fleet_conf").capture(CaptureSpec::new("conf"));
    spec.across = Some(hosts.iter().map(|h| h.host.clone()).collect());
    let drift = measure(|| {
        black_box(verify(&spec, &hosts).expect("valid spec"));
    });
    report(
        "1,000-host drift report (verify: verdicts + drift)",
        200,
        drift,
    );

    let whole = measure(|| {
        let r = verify(&spec, &hosts).expect("valid spec");
        let fleet = FleetReport::new(vec![r]);
        black_box(fleet.render_human());
        black_box(fleet.render_markdown());
        black_box(fleet.to_json().expect("serializes"));
    });
    report(
        "1,000-host drift report + human, markdown and JSON",
        200,
        whole,
    );
}
