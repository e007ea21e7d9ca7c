//! `sflow run` against the in-process SSH fleet: the approval hook, the sudo password and the
//! notify hook as an operator meets them.

use sflow::testing::{Fleet, Reply};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PASSWORD: &str = "canary-sudo-7f3a9c";

async fn fleet() -> Fleet {
    let fleet = Fleet::builder()
        .hosts(2)
        .respond(|req| {
            if req.command.contains("cat") {
                // Echo stdin back: what reaches the task's output must be masked.
                Reply::ok(req.stdin.clone())
            } else {
                Reply::ok("done\n")
            }
        })
        .start()
        .await;
    fleet.unwrap_or_else(|e| panic!("fleet: {e}"))
}

fn workflow(fleet: &Fleet, dir: &Path) -> PathBuf {
    let mut src = String::from("inventory {\n");
    for h in fleet.hosts() {
        src.push_str(&format!(
            "  host {} {{ address = \"{}\"  port = {}  user = \"sflow\" }}\n",
            h.name,
            h.addr.ip(),
            h.addr.port()
        ));
    }
    src.push_str("  group fleet = [host-000, host-001]\n}\n");
    src.push_str(
        r#"
workflow patch {
  secret data = command("printf payload-41")
  sudo_password = pw
  secret pw = env("SFLOW_TEST_SUDO_PW")
  task upgrade on fleet { run = "apt-get -y upgrade"  sudo = true }
  task feed on fleet after upgrade { run = "cat"  sudo = true  stdin = data }
  task plain on fleet after feed { run = "uptime" }
}
"#,
    );
    let path = dir.join("patch.sflow");
    std::fs::write(&path, src).unwrap_or_else(|e| panic!("{e}"));
    path
}

/// Runs the binary with a private HOME (no agent, no user ssh config) trusting the fleet.
async fn sflow(fleet: &Fleet, dir: &Path, file: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_sflow"));
    cmd.arg("run")
        .arg(file)
        .args(["--yes", "--format", "json", "--identity"])
        .arg(fleet.client_key_path())
        .arg("--known-hosts")
        .arg(fleet.known_hosts_path())
        .args(extra)
        .env("HOME", dir)
        .env("SFLOW_TEST_SUDO_PW", PASSWORD)
        .env_remove("SSH_AUTH_SOCK")
        .stdin(std::process::Stdio::null());
    let out = cmd
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run sflow: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_approval_connects_to_nothing_and_is_audited() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let fleet = fleet().await;
    let file = workflow(&fleet, dir.path());
    let approve = "echo looking up CHG-1; echo change not approved >&2; exit 3";
    let (code, _, stderr) = sflow(&fleet, dir.path(), &file, &["--approve", approve]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("exited with 3"), "{stderr}");
    assert!(stderr.contains("change not approved"), "{stderr}");
    assert_eq!((fleet.connections(0), fleet.connections(1)), (0, 0));
    assert!(fleet.commands().is_empty());
    let audit = std::fs::read_to_string(dir.path().join(".sflow/audit.jsonl")).unwrap_or_default();
    let hook: serde_json::Value = audit
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|v: &serde_json::Value| v["kind"] == "hook")
        .unwrap_or_else(|| panic!("no hook record in {audit}"));
    assert_eq!(hook["hook"], "approve");
    assert_eq!(hook["exit_code"], 3);
    assert_eq!(hook["stdout"], "looking up CHG-1\n");
    assert_eq!(hook["stderr"], "change not approved\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sudo_reads_its_password_from_stdin_and_notify_gets_the_events_in_order() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let fleet = fleet().await;
    let file = workflow(&fleet, dir.path());
    let events = dir.path().join("events.jsonl");
    let notify = format!("cat >> '{}'", events.display());
    let (code, stdout, stderr) = sflow(
        &fleet,
        dir.path(),
        &file,
        &[
            "--approve",
            "true",
            "--notify",
            &notify,
            "--notify-on",
            "started,wave_done,done",
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let log = fleet.commands();
    assert_eq!(log.len(), 6);
    for r in &log {
        let (cmd, stdin) = (&r.request.command, &r.request.stdin);
        assert!(!cmd.contains(PASSWORD), "password on a command line: {cmd}");
        if cmd.contains("apt-get") {
            assert_eq!(cmd, "sudo -S -p '' -- sh -c 'apt-get -y upgrade'");
            assert_eq!(stdin, format!("{PASSWORD}\n").as_bytes());
        } else if cmd.contains("cat") {
            // The password first, then the task's own stdin.
            assert_eq!(stdin, format!("{PASSWORD}\npayload-41").as_bytes());
        } else {
            assert_eq!(cmd, "uptime");
            assert!(stdin.is_empty(), "no password without sudo");
        }
    }
    for text in [&stdout, &stderr] {
        assert!(!text.contains(PASSWORD), "the password leaked: {text}");
        assert!(!text.contains("payload-41"), "a secret leaked: {text}");
    }
    let kinds: Vec<String> = std::fs::read_to_string(&events)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            v["kind"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(kinds, ["run_started", "wave_finished", "run_finished"]);
    // The hook got exactly the lines `--format json` printed for those events.
    let json: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("\"kind\":\"run_finished\""))
        .collect();
    let hooked = std::fs::read_to_string(&events).unwrap_or_default();
    assert_eq!(json.len(), 1);
    assert!(hooked.lines().last() == json.first().copied(), "{hooked}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_that_hangs_is_cut_off_and_the_run_still_finishes() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let fleet = fleet().await;
    let file = workflow(&fleet, dir.path());
    let start = Instant::now();
    let (code, _, stderr) = sflow(
        &fleet,
        dir.path(),
        &file,
        &[
            "--notify",
            "sleep 60",
            "--notify-on",
            "started,done",
            "--hook-timeout",
            "500ms",
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert!(
        stderr.contains("warning: notify hook timed out"),
        "{stderr}"
    );
    assert_eq!(fleet.commands().len(), 6, "the hook held nothing up");
}
