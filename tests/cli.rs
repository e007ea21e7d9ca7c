//! CLI tests: run the built `sflow` binary through a small builder and check exit codes and
//! output (`Sflow::new().args(..).run().status(..).stderr_has(..)`).

use std::path::{Path, PathBuf};
use std::process::Command;

struct Sflow {
    args: Vec<String>,
    dir: PathBuf,
}

struct Out {
    status: i32,
    stdout: String,
    stderr: String,
}

impl Sflow {
    fn new() -> Self {
        Sflow {
            args: Vec::new(),
            dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        }
    }

    fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    fn dir(mut self, dir: &Path) -> Self {
        self.dir = dir.to_path_buf();
        self
    }

    fn run(self) -> Out {
        let out = Command::new(env!("CARGO_BIN_EXE_sflow"))
            .args(&self.args)
            .current_dir(&self.dir)
            .env("NO_COLOR", "1")
            .output()
            .unwrap_or_else(|e| panic!("cannot run sflow: {e}"));
        Out {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Out {
    fn status(self, code: i32) -> Self {
        assert_eq!(
            self.status, code,
            "exit status\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    fn stderr_has(self, s: &str) -> Self {
        assert!(
            self.stderr.contains(s),
            "stderr lacks {s:?}:\n{}",
            self.stderr
        );
        self
    }

    fn stdout_has(self, s: &str) -> Self {
        assert!(
            self.stdout.contains(s),
            "stdout lacks {s:?}:\n{}",
            self.stdout
        );
        self
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("{e}"));
}

const INV: &str =
    "inventory {\n  host web01 {}\n  host web02 {}\n  group web = [web01, web02]\n}\n";

#[test]
fn examples_check_clean() {
    let mut args = vec!["check"];
    let files = [
        "examples/inventory.sflow",
        "examples/os_patching.sflow",
        "examples/emergency_openssl.sflow",
        "examples/ntp_standard.sflow",
        "examples/db_failover_maintenance.sflow",
        "examples/web_triage.sflow",
    ];
    args.extend(files);
    args.push("--deny-warnings");
    Sflow::new()
        .args(&args)
        .run()
        .status(0)
        .stderr_has("checked 6 files: 0 errors, 0 warnings");
}

#[test]
fn errors_exit_1_with_the_code() {
    let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(
        d.path(),
        "bad.sflow",
        &format!("{INV}workflow w {{\n  task a on wbe {{ run = \"x\" }}\n}}\n"),
    );
    Sflow::new()
        .dir(d.path())
        .args(&["check", "bad.sflow"])
        .run()
        .status(1)
        .stderr_has("E0009")
        .stderr_has("did you mean `web`?");
}

#[test]
fn json_output_has_the_documented_shape() {
    let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(
        d.path(),
        "bad.sflow",
        &format!("{INV}workflow w {{\n  task a on wbe {{ run = \"x\" }}\n}}\n"),
    );
    let out = Sflow::new()
        .dir(d.path())
        .args(&["check", "bad.sflow", "--format", "json"])
        .run()
        .status(1);
    let j = out.json();
    assert_eq!(j["files"], serde_json::json!(["bad.sflow"]));
    assert_eq!(j["errors"], 1);
    assert_eq!(j["warnings"], 1);
    let d0 = &j["diagnostics"][0];
    assert_eq!(d0["severity"], "error");
    assert_eq!(d0["code"], "E0009");
    assert_eq!(d0["file"], "bad.sflow");
    assert_eq!(
        (d0["line"].as_u64(), d0["column"].as_u64()),
        (Some(7), Some(13))
    );
    assert_eq!(
        (d0["end_line"].as_u64(), d0["end_column"].as_u64()),
        (Some(7), Some(16))
    );
    assert_eq!(d0["help"], "did you mean `web`?");
    assert!(d0["labels"].as_array().is_some_and(|l| !l.is_empty()));
    assert_eq!(j["diagnostics"][1]["severity"], "warning");
}

#[test]
fn warnings_fail_only_when_denied() {
    let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(
        d.path(),
        "warn.sflow",
        &format!("{INV}workflow w {{\n  task a on web {{ run = \"x\"  capture = out }}\n}}\n"),
    );
    Sflow::new()
        .dir(d.path())
        .args(&["check", "warn.sflow"])
        .run()
        .status(0)
        .stderr_has("W0003");
    Sflow::new()
        .dir(d.path())
        .args(&["check", "warn.sflow", "--deny-warnings"])
        .run()
        .status(1);
}

#[test]
fn unreadable_files_are_usage_errors() {
    Sflow::new()
        .args(&["check", "no/such/file.sflow"])
        .run()
        .status(2)
        .stderr_has("cannot read");
    Sflow::new()
        .args(&[
            "check",
            "examples/os_patching.sflow",
            "--inventory",
            "nope.sflow",
        ])
        .run()
        .status(2);
    Sflow::new().args(&["check"]).run().status(2);
}

#[test]
fn inventory_override_and_workflow_pick() {
    let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(d.path(), "hosts.sflow", INV);
    write(d.path(), "w.sflow", "workflow one {\n  task a on web { run = \"x\" }\n}\nworkflow two {\n  task b on web { run = \"y\" }\n}\n");
    Sflow::new()
        .dir(d.path())
        .args(&["check", "w.sflow"])
        .run()
        .status(1)
        .stderr_has("E0008");
    Sflow::new()
        .dir(d.path())
        .args(&["check", "w.sflow", "--inventory", "hosts.sflow"])
        .run()
        .status(0);
    Sflow::new()
        .dir(d.path())
        .args(&[
            "check",
            "w.sflow",
            "--inventory",
            "hosts.sflow",
            "--workflow",
            "too",
        ])
        .run()
        .status(1)
        .stderr_has("E0031")
        .stderr_has("did you mean `two`?");
}

#[test]
fn relative_imports_and_inventory_files() {
    let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir(d.path().join("lib")).unwrap_or_else(|e| panic!("{e}"));
    write(
        d.path(),
        "lib/common.sflow",
        "template hello(who: string = \"world\") {\n  run = \"echo hello ${who}\"\n}\n",
    );
    write(d.path(), "lib/hosts.sflow", INV);
    write(
        d.path(),
        "w.sflow",
        "import \"./lib/common.sflow\"\nimport \"std/systemd\"\ninventory \"lib/hosts.sflow\"\nworkflow w {\n  task a on web { use = hello() }\n  task b on web after a { use = restart(\"nginx\") }\n}\n",
    );
    Sflow::new()
        .args(&["check", &d.path().join("w.sflow").display().to_string()])
        .run()
        .status(0);
}

#[test]
fn explain_prints_codes() {
    Sflow::new()
        .args(&["explain", "E0011"])
        .run()
        .status(0)
        .stdout_has("dependency cycle");
    Sflow::new()
        .args(&["explain", "e0009"])
        .run()
        .status(0)
        .stdout_has("did you mean");
    Sflow::new()
        .args(&["explain"])
        .run()
        .status(0)
        .stdout_has("W0003");
    Sflow::new()
        .args(&["explain", "E9999"])
        .run()
        .status(2)
        .stderr_has("no diagnostic code");
}
