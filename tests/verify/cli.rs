//! `sflow verify`, and the verification report of `sflow run` and `sflow show`, end to end
//! on the local transport.

use std::path::Path;
use std::process::Command;

fn sflow(args: &[&str]) -> (i32, String, String) {
    let Ok(out) = Command::new(env!("CARGO_BIN_EXE_sflow"))
        .args(args)
        .output()
    else {
        panic!("cannot run sflow")
    };
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Three local hosts whose `listen` attribute is `80`, `80` and `third`; a task that would
/// leave a marker file; a verify block comparing `listen` across them.
fn workflow(dir: &Path, third: &str) -> String {
    let marker = dir.join("marker");
    let text = format!(
        r#"inventory {{
  host a {{ transport = "local"  listen = "80" }}
  host b {{ transport = "local"  listen = "80" }}
  host c {{ transport = "local"  listen = "{third}" }}
  group fleet = [a, b, c]
}}

workflow conf {{
  task change on fleet {{ run = "touch {marker}" }}
  verify conf {{
    before = change
    after = change
    capture listen = "echo listen ${{host.listen}}"
    across = fleet
    on_mismatch = "warn"
  }}
}}
"#,
        marker = marker.display()
    );
    let path = dir.join("conf.sflow");
    if let Err(e) = std::fs::write(&path, text) {
        panic!("cannot write the workflow: {e}");
    }
    path.display().to_string()
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
}

#[test]
fn verify_prints_values_and_drift_and_exits_with_the_drift_code() {
    let dir = tempdir();
    let file = workflow(dir.path(), "8080");
    let (code, out, err) = sflow(&["verify", &file]);
    assert_eq!(code, 5, "{out}{err}");
    assert!(out.contains("after:  `listen 8080`"), "{out}");
    assert!(out.contains("outlier on 1 host: c"), "{out}");
    assert!(out.contains("-listen 80\n"), "{out}");
    assert!(!dir.path().join("marker").exists(), "an audit runs no task");

    let (code, out, _) = sflow(&["verify", &file, "--format", "json"]);
    assert_eq!(code, 5);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    assert_eq!(json["summary"]["drifted"], 1, "{out}");
    assert_eq!(
        json["blocks"][0]["drift"][0]["outliers"][0]["hosts"][0],
        "c"
    );

    let (code, out, _) = sflow(&["verify", &file, "--format", "markdown"]);
    assert_eq!(code, 5);
    assert!(out.contains("### Drift of `listen`"), "{out}");
}

#[test]
fn verify_of_an_agreeing_fleet_exits_zero() {
    let dir = tempdir();
    let file = workflow(dir.path(), "80");
    let (code, out, err) = sflow(&["verify", &file]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("baseline on 3 hosts: a, b, c"), "{out}");
}

#[test]
fn run_and_show_print_the_verification_report() {
    let dir = tempdir();
    let file = workflow(dir.path(), "8080");
    let state = dir.path().join("state.db").display().to_string();
    let (code, out, err) = sflow(&["run", &file, "--yes", "--state", &state]);
    assert_eq!(code, 0, "warn does not fail the run: {out}{err}");
    assert!(dir.path().join("marker").exists());
    assert!(out.contains("verify conf:"), "{out}");
    assert!(out.contains("outlier on 1 host: c"), "{out}");

    let (_, runs, _) = sflow(&["runs", "--state", &state, "--format", "json"]);
    let runs: serde_json::Value = serde_json::from_str(&runs).unwrap_or_default();
    let id = runs[0]["id"].as_str().unwrap_or_default().to_string();
    assert!(!id.is_empty(), "{runs}");

    let (code, out, err) = sflow(&["show", &id, "--state", &state]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("verification_report"), "{out}");
    assert!(out.contains("outlier on 1 host: c"), "{out}");
    assert!(
        !out.contains("\"blocks\""),
        "the report JSON stays out of the timeline"
    );

    let (_, md, _) = sflow(&["show", &id, "--state", &state, "--format", "markdown"]);
    assert!(md.contains("## verify `conf`"), "{md}");

    let (_, one, _) = sflow(&["show", &id, "--state", &state, "--host", "a"]);
    assert!(one.contains("  a [ok]"), "{one}");
    assert!(!one.contains("  c [warn]"), "{one}");

    let (_, json, _) = sflow(&["show", &id, "--state", &state, "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    let events = json["events"].as_array().cloned().unwrap_or_default();
    let report = events
        .iter()
        .find(|e| e["kind"] == "verification_report")
        .map(|e| e["detail"]["report"]["summary"]["drifted"].clone());
    assert_eq!(report, Some(serde_json::json!(1)));
}

/// `equals`, `contains`, `matches` and `versions` written in a `.sflow` file reach the run:
/// a host whose after value breaks one of them is a mismatch, the others are as expected.
#[test]
fn value_expectations_written_in_a_file_decide_the_verdict() {
    let dir = tempdir();
    let text = r#"inventory {
  host good { transport = "local"  v = "1.2.10"  mode = "on" }
  host bad { transport = "local"  v = "1.2.9"  mode = "off" }
  group fleet = [good, bad]
}

workflow vals {
  task noop on fleet { run = "true" }
  verify vals {
    capture version = "echo ${host.v}"
    capture mode = "echo mode=${host.mode}"
    capture banner = "echo sflow-${host.mode}-ok"
    expect version {
      versions = "semver"
      matches = r"^1\.2\.1[0-9]$"
    }
    expect mode { equals = "mode=on" }
    expect banner { contains = "on-ok" }
    on_mismatch = "fail"
  }
}
"#;
    let path = dir.path().join("vals.sflow");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    let file = path.display().to_string();
    let (code, out, err) = sflow(&["check", &file]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = sflow(&["run", &file, "--yes", "--format", "json"]);
    assert_eq!(code, 1, "the bad host fails: {out}{err}");
    let report = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["kind"] == "verification_report")
        .unwrap_or_default();
    let verdicts: Vec<(String, String, String)> = report["report"]["blocks"][0]["hosts"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|h| {
            let host = h["host"].as_str().unwrap_or_default().to_owned();
            h["captures"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |c| {
                    (
                        host.clone(),
                        c["name"].as_str().unwrap_or_default().to_owned(),
                        c["verdict"].as_str().unwrap_or_default().to_owned(),
                    )
                })
        })
        .collect();
    assert_eq!(verdicts.len(), 6, "{report}");
    for (host, capture, verdict) in &verdicts {
        let expected = if host == "good" {
            "as_expected"
        } else {
            "mismatch"
        };
        assert_eq!(verdict, expected, "{host} {capture}: {report}");
    }
}
