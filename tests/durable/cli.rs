//! The durable-run commands as an operator uses them, on two hosts of the local transport:
//! `sflow runs`, `show`, `log`, `resume` (default run, refusing a changed workflow unless
//! `--replan`), `--audit`/`$SFLOW_AUDIT`, and sealed plans run against another inventory.

use super::bin::{sflow, sflow_env};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

const INVENTORY: &str = r#"inventory {
  host alpha {
    transport = "local"
    role = "one"
  }
  host beta {
    transport = "local"
    role = "two"
  }
  group pair = [alpha, beta]
}
"#;

/// `mark` appends the host's name to `marks.txt`; `gate` runs `gate_cmd`.
fn workflow(gate_cmd: &str) -> String {
    format!(
        r#"inventory "inv.sflow"

workflow demo {{
  change = "CHG-7"

  task mark on pair {{
    run = "echo ${{host.name}} >> marks.txt && echo marked ${{host.name}}"
  }}
  task gate on pair after mark {{
    run = "{gate_cmd}"
  }}
}}
"#
    )
}

fn scratch(gate_cmd: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let write = |name: &str, text: &str| {
        std::fs::write(dir.path().join(name), text).unwrap_or_else(|e| panic!("{e}"));
    };
    write("inv.sflow", INVENTORY);
    write("wf.sflow", &workflow(gate_cmd));
    dir
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A diagnostic as one line: miette wraps long messages behind `│` margins.
fn flat(text: &str) -> String {
    text.replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn marks(dir: &Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(dir.join("marks.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

#[test]
fn runs_show_log_and_resume_with_replan() {
    let dir = scratch("test -f flag");
    let d = dir.path();
    let run = sflow(d, &["run", "wf.sflow", "--yes"]);
    assert_eq!(run.code, 1, "the gate fails on both hosts: {}", run.stderr);

    let listed = json(&sflow(d, &["runs", "--format", "json"]).stdout);
    let id = listed[0]["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(listed[0]["status"], "failed", "{listed}");
    assert_eq!(listed[0]["change_ticket"], "CHG-7");
    let human = sflow(d, &["runs"]);
    assert_eq!(human.code, 0);
    assert!(human.stdout.starts_with("ID"), "{}", human.stdout);
    assert!(
        human.stdout.contains(&id) && human.stdout.contains("failed"),
        "{}",
        human.stdout
    );

    let show = sflow(d, &["show", &id[..12]]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(
        show.stdout.contains("alpha") && show.stdout.contains("beta"),
        "{}",
        show.stdout
    );
    let one = sflow(d, &["show", &id, "--host", "alpha"]).stdout;
    let table = one.split("\nhosts\n").nth(1).unwrap_or_default();
    assert!(table.contains("alpha") && !table.contains("beta"), "{one}");
    let detail = json(&sflow(d, &["show", &id, "--format", "json"]).stdout);
    assert_eq!(detail["status"], "failed", "{detail}");
    let recorded_hash = detail["plan_hash"].as_str().unwrap_or_default().to_owned();
    assert_eq!(recorded_hash.len(), 64, "{detail}");
    let md = sflow(d, &["show", &id, "--format", "markdown"]).stdout;
    assert!(md.starts_with("# Run "), "{md}");
    assert!(md.contains("| "), "a markdown table: {md}");

    let log = sflow(d, &["log", &id, "--host", "alpha", "--task", "mark"]);
    assert_eq!(log.code, 0, "{}", log.stderr);
    assert!(log.stdout.contains("marked alpha"), "{}", log.stdout);
    assert!(
        !log.stdout.contains("beta") && !log.stdout.contains("test -f flag"),
        "{}",
        log.stdout
    );
    let all = sflow(d, &["log", &id]).stdout;
    assert!(
        all.contains("marked beta") && all.contains("test -f flag"),
        "{all}"
    );
    assert_eq!(sflow(d, &["show", "nosuchrun"]).code, 2);

    // An inventory changed under the run is refused.
    let write = |name: &str, text: &str| {
        std::fs::write(d.join(name), text).unwrap_or_else(|e| panic!("{e}"));
    };
    write(
        "inv.sflow",
        &INVENTORY.replace("role = \"two\"", "role = \"2\""),
    );
    let refused = sflow(d, &["resume", "--yes"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    let said = flat(&refused.stderr);
    assert!(said.contains("host `beta` changed"), "{said}");
    write("inv.sflow", INVENTORY);

    // Fix the hosts, but change the workflow too: the recorded plan no longer matches.
    write("flag", "");
    write("wf.sflow", &workflow("test -f flag && echo gated"));
    let refused = sflow(d, &["resume", "--yes"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        flat(&refused.stderr).contains("task `gate` changed"),
        "{}",
        refused.stderr
    );
    let resumed = sflow(d, &["resume", "--yes", "--replan"]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert_eq!(marks(d), ["alpha", "beta"], "mark ran once per host");
    let detail = json(&sflow(d, &["show", &id, "--format", "json"]).stdout);
    assert_eq!(detail["status"], "succeeded", "{detail}");
    let new_hash = detail["plan_hash"].as_str().unwrap_or_default();
    assert_ne!(
        new_hash, recorded_hash,
        "--replan records the new plan's hash"
    );
    let plan = json(&sflow(d, &["plan", "wf.sflow", "--format", "json"]).stdout);
    assert_eq!(plan["hash"], new_hash);
    let gated = sflow(d, &["log", &id, "--task", "gate"]).stdout;
    assert!(gated.contains("gated"), "{gated}");

    let nothing = sflow(d, &["resume", "--yes"]);
    assert_eq!(nothing.code, 2);
    assert!(
        nothing.stderr.contains("no unfinished run"),
        "{}",
        nothing.stderr
    );
}

#[test]
fn reading_runs_where_none_was_recorded_says_where_to_look() {
    let dir = scratch("true");
    let d = dir.path();
    for args in [
        &["runs"][..],
        &["show", "last"],
        &["log", "x"],
        &["resume", "--yes"],
    ] {
        let out = sflow(d, args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        let text = flat(&out.stderr);
        assert!(text.contains("sflow::store::missing"), "{args:?}: {text}");
        assert!(text.contains("no state store at"), "{args:?}: {text}");
        assert!(
            text.contains("--state PATH or SFLOW_STATE"),
            "{args:?}: {text}"
        );
    }
    // Reading creates nothing.
    assert!(!d.join(".sflow").exists());
}

#[test]
fn the_audit_log_goes_where_the_flag_or_the_environment_says() {
    let dir = scratch("true");
    let d = dir.path();
    let run = sflow(d, &["run", "wf.sflow", "--yes", "--audit", "logs/a.jsonl"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let by_env = sflow_env(
        d,
        &["run", "wf.sflow", "--yes"],
        &[("SFLOW_AUDIT", "logs/b.jsonl")],
    );
    assert_eq!(by_env.code, 0, "{}", by_env.stderr);
    assert!(!d.join(".sflow/audit.jsonl").exists());
    for log in ["logs/a.jsonl", "logs/b.jsonl"] {
        let meta = std::fs::metadata(d.join(log)).unwrap_or_else(|e| panic!("{log}: {e}"));
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{log}");
        let text = std::fs::read_to_string(d.join(log)).unwrap_or_default();
        assert_eq!(
            text.matches("\"kind\":\"command_start\"").count(),
            4,
            "{text}"
        );
        assert_eq!(sflow(d, &["audit", "verify", log]).code, 0);
    }
}

#[test]
fn a_sealed_plan_refuses_an_inventory_that_differs() {
    let dir = scratch("true");
    let d = dir.path();
    let planned = sflow(
        d,
        &["plan", "wf.sflow", "-o", "plan.json", "--format", "json"],
    );
    assert_eq!(planned.code, 0, "{}", planned.stderr);
    let changed = INVENTORY
        .replace("role = \"two\"", "role = \"three\"")
        .replace(
            "  group pair = [alpha, beta]",
            "  host gamma {\n    transport = \"local\"\n  }\n  group pair = [alpha, beta, gamma]",
        );
    std::fs::write(d.join("inv2.sflow"), changed).unwrap_or_else(|e| panic!("{e}"));
    let refused = sflow(
        d,
        &["run", "plan.json", "--inventory", "inv2.sflow", "--yes"],
    );
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    let said = flat(&refused.stderr);
    for needle in [
        "sflow::seal::inventory",
        "host `beta`: attribute role `two` in the plan, `three` in the inventory",
        "host `gamma` added",
    ] {
        assert!(said.contains(needle), "{needle}: {said}");
    }
    assert!(marks(d).is_empty(), "nothing ran");
    let ran = sflow(
        d,
        &["run", "plan.json", "--inventory", "inv.sflow", "--yes"],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(marks(d), ["alpha", "beta"]);
}

#[test]
fn a_resumed_run_asks_its_approval_again_and_notifies() {
    let dir = scratch("test -f flag");
    let d = dir.path();
    let hooked = workflow("test -f flag").replace(
        "  change = \"CHG-7\"\n",
        "  change = \"CHG-7\"\n  approve { command = \"test -f approved\" }\n  \
         notify { on = [\"done\"]  command = \"cat >> notified.jsonl\" }\n",
    );
    std::fs::write(d.join("wf.sflow"), hooked).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(d.join("approved"), "").unwrap_or_else(|e| panic!("{e}"));
    let run = sflow(d, &["run", "wf.sflow", "--yes"]);
    assert_eq!(run.code, 1, "the gate fails on both hosts: {}", run.stderr);
    std::fs::write(d.join("flag"), "").unwrap_or_else(|e| panic!("{e}"));

    // The approval was withdrawn: the resume connects to nothing and runs nothing.
    std::fs::remove_file(d.join("approved")).unwrap_or_else(|e| panic!("{e}"));
    let refused = sflow(d, &["resume", "--yes"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    let audit = std::fs::read_to_string(d.join(".sflow/audit.jsonl")).unwrap_or_default();
    assert_eq!(audit.matches("\"kind\":\"hook\"").count(), 2, "{audit}");
    let runs = json(&sflow(d, &["runs", "--format", "json"]).stdout);
    assert_eq!(runs[0]["status"], "failed", "still unfinished: {runs}");

    std::fs::write(d.join("approved"), "").unwrap_or_else(|e| panic!("{e}"));
    let notified_before = std::fs::read_to_string(d.join("notified.jsonl")).unwrap_or_default();
    let resumed = sflow(d, &["resume", "--yes"]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert_eq!(marks(d), ["alpha", "beta"], "mark ran once per host");
    let notified = std::fs::read_to_string(d.join("notified.jsonl")).unwrap_or_default();
    let new_lines: Vec<serde_json::Value> = notified[notified_before.len()..]
        .lines()
        .map(json)
        .collect();
    assert_eq!(new_lines.len(), 1, "{notified}");
    assert_eq!(new_lines[0]["kind"], "run_finished", "{notified}");
    assert_eq!(sflow(d, &["audit", "verify"]).code, 0);
}

#[test]
fn a_resumed_run_ends_with_the_whole_runs_verification_report() {
    let dir = scratch("unused");
    let d = dir.path();
    let write = |name: &str, text: &str| {
        std::fs::write(d.join(name), text).unwrap_or_else(|e| panic!("{e}"));
    };
    write(
        "wf.sflow",
        r#"inventory "inv.sflow"

workflow demo {
  task bump on pair {
    run = "echo v2 > state-${host.name}"
  }
  task gate on pair after bump {
    run = "test -f flag"
  }
  verify state {
    before = bump
    after = gate
    capture state = "cat state-${host.name} 2>/dev/null || echo v1"
    expect state {
      change = "changed"
    }
  }
}
"#,
    );
    let first = sflow(d, &["run", "wf.sflow", "--yes"]);
    assert_eq!(first.code, 1, "the gate fails: {}", first.stderr);
    write("flag", "");
    let resumed = sflow(d, &["resume", "--yes"]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    // The before values were captured by the first session, the after values by this one.
    let out = &resumed.stdout;
    assert!(out.contains("v1") && out.contains("v2"), "{out}");
    assert!(
        out.to_lowercase().contains("as expected"),
        "both hosts changed as expected: {out}"
    );
}
