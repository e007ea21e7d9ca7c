//! Plan snapshots and the `sflow plan` / `sflow windows` command lines. Each example's plan is
//! rendered as text, markdown and JSON (forecast from a fixed instant) and compared with the
//! expected files in `tests/plan/`; `SFLOW_BLESS=1 cargo test --test plan` rewrites them.

use sflow::check::{self, CheckOptions, Disk};
use sflow::plan::{self, forecast::forecast, render, Plan};
use sflow::span::SourceMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const AT: &str = "2026-11-28T12:00:00Z";
const EXAMPLES: [&str; 5] = [
    "os_patching",
    "emergency_openssl",
    "ntp_standard",
    "db_failover_maintenance",
    "web_triage",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn at() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(AT)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

fn plan_of(example: &str) -> Plan {
    let path = root().join("examples").join(format!("{example}.sflow"));
    let opts = CheckOptions {
        inventory: None,
        workflow: None,
        now: at(),
    };
    let mut sources = SourceMap::new();
    let outcome = check::check_file(&mut sources, &path, &Disk, &opts).unwrap();
    let program = outcome
        .program
        .unwrap_or_else(|| panic!("{example}: {:?}", outcome.diagnostics));
    plan::lower(&program, None, &[]).unwrap()
}

/// Compares `actual` with the file, or rewrites the file under `SFLOW_BLESS=1`.
fn snapshot(path: &Path, actual: &str) {
    if std::env::var_os("SFLOW_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run `SFLOW_BLESS=1 cargo test --test plan`",
            path.display()
        )
    });
    if expected != actual {
        let diff = similar::TextDiff::from_lines(expected.as_str(), actual);
        panic!(
            "{} differs (SFLOW_BLESS=1 to accept):\n{}",
            path.display(),
            diff.unified_diff().header("expected", "actual")
        );
    }
}

#[test]
fn example_plans_match_their_snapshots() {
    for example in EXAMPLES {
        let plan = plan_of(example);
        let f = forecast(&plan, at());
        let dir = root().join("tests").join("plan");
        snapshot(
            &dir.join(format!("{example}.txt")),
            &render::text(&plan, Some(&f)),
        );
        snapshot(
            &dir.join(format!("{example}.md")),
            &render::markdown(&plan, Some(&f)),
        );
        snapshot(
            &dir.join(format!("{example}.json")),
            &(plan.to_json() + "\n"),
        );
        // The JSON is the plan: it reads back to the same value with a valid hash.
        assert_eq!(Plan::from_json(&plan.to_json()).unwrap(), plan);
    }
}

#[test]
fn plan_hash_is_stable_across_runs() {
    for example in EXAMPLES {
        assert_eq!(plan_of(example).hash, plan_of(example).hash);
    }
}

#[test]
fn the_seed_scenario_has_four_sunday_waves_that_fit() {
    let plan = plan_of("os_patching");
    let names: Vec<&str> = plan.waves.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["canary", "web", "db", "cache"]);
    let f = forecast(&plan, at());
    for w in &f.waves {
        let next = w.windows[0].next.expect("a Sunday window");
        assert_eq!(
            next.start.format("%a %Y-%m-%d").to_string(),
            "Sun 2026-11-29"
        );
        assert!(w.fits, "{} does not fit", w.name);
    }
    assert!(f.finish.is_some() && f.warnings.is_empty());
}

fn sflow(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sflow"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn plan_command_writes_the_json_plan_and_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plan.json");
    let out_s = out.to_str().unwrap();
    let (code, stdout, stderr) = sflow(&[
        "plan",
        "examples/os_patching.sflow",
        "--at",
        AT,
        "-o",
        out_s,
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("wave 1 `canary`") && stdout.contains("forecast from"));
    let written = Plan::from_json(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(written, plan_of("os_patching"));
    let (code, json, _) = sflow(&["plan", "examples/os_patching.sflow", "--format", "json"]);
    assert_eq!(code, 0);
    assert_eq!(Plan::from_json(&json).unwrap(), written);
    let (code, dot, _) = sflow(&["plan", "examples/os_patching.sflow", "--format", "dot"]);
    assert_eq!(code, 0);
    assert!(dot.starts_with("digraph") && dot.contains("subgraph cluster_3"));
    let (code, md, _) = sflow(&[
        "plan",
        "examples/emergency_openssl.sflow",
        "--format",
        "markdown",
        "--param",
        "openssl_pin=3.0.16-1",
    ]);
    assert_eq!(code, 0);
    assert!(md.contains("openssl='3.0.16-1'") || md.contains("openssl=3.0.16-1"));
}

#[test]
fn plan_command_refuses_bad_params_and_dead_windows() {
    let (code, _, stderr) = sflow(&[
        "plan",
        "examples/emergency_openssl.sflow",
        "--param",
        "openssl_pni=1",
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("unknown param `openssl_pni`") && stderr.contains("openssl_pin"));
    let (code, _, _) = sflow(&["plan", "examples/os_patching.sflow", "--at", "yesterday"]);
    assert_eq!(code, 2);

    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("past.sflow");
    std::fs::write(
        &src,
        r#"inventory { host a.example.com { } }
workflow w {
  window a.example.com = "2026-01-10 01:00-03:00 UTC"
  task t on a.example.com { run = "true" }
}
"#,
    )
    .unwrap();
    let (code, _, stderr) = sflow(&["plan", src.to_str().unwrap(), "--at", AT]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("never opens again"), "{stderr}");
}

#[test]
fn windows_command_lists_occurrences_in_text_and_json() {
    let (code, stdout, stderr) = sflow(&[
        "windows",
        "examples/emergency_openssl.sflow",
        "--from",
        "2026-03-28",
        "--days",
        "2",
    ]);
    assert_eq!(code, 0, "{stderr}");
    // Midnight to 06:00 Berlin on the spring-forward night is 23:00Z to 04:00Z.
    assert!(
        stdout.contains("Sat 2026-03-28 23:00 – 2026-03-29 04:00 UTC"),
        "{stdout}"
    );
    let (code, json, _) = sflow(&[
        "windows",
        "examples/os_patching.sflow",
        "--from",
        "2026-11-28T00:00:00Z",
        "--days",
        "8",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let web = &doc["windows"][0];
    assert_eq!(web["target"], "web_servers");
    assert_eq!(web["spec"], "Sun 01:00-03:00 UTC");
    assert_eq!(
        web["occurrences"],
        serde_json::json!([{"start": "2026-11-29T01:00:00Z", "end": "2026-11-29T03:00:00Z"}])
    );
}
