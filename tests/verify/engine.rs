//! Verification through the engine over the in-process SSH fleet: `on_mismatch` each way,
//! drift `across` hosts at the end of a run, the seed's `package_versions` block with
//! scripted `dpkg -l` outputs, and the read-only audit of `sflow verify`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use sflow::check::{check_file, CheckOptions, MemoryFs};
use sflow::cli::verify::{audit, audit_exit_code, DRIFT};
use sflow::engine::from_plan::RunChoices;
use sflow::engine::transport_runner::TransportRunner;
use sflow::engine::{execute, EventKind, Recorder, RunOptions, RunResult, RunSpec, RunStatus};
use sflow::span::SourceMap;
use sflow::testing::{Fleet, Reply, Request};
use sflow::transport::ssh::SshTransport;
use sflow::transport::Transport;
use sflow::verify::{HostAction, Verdict, VersionScheme};

/// An inventory of the fleet's hosts (with `os = "debian"`) followed by `workflow`.
fn source(fleet: &Fleet, workflow: &str) -> String {
    let mut inv = String::from("inventory {\n");
    for h in fleet.hosts() {
        inv.push_str(&format!(
            "  host {} {{ address = \"{}\"  port = {}  user = \"sflow\"  os = \"debian\" }}\n",
            h.name,
            h.addr.ip(),
            h.addr.port()
        ));
    }
    let names: Vec<_> = fleet.hosts().iter().map(|h| h.name.clone()).collect();
    inv.push_str(&format!("  group fleet = [{}]\n}}\n", names.join(", ")));
    inv + workflow
}

/// Compiles `workflow` against the fleet and returns its run spec and a runner over SSH.
fn compile(fleet: &Fleet, workflow: &str) -> (RunSpec, Arc<TransportRunner>, Arc<dyn Transport>) {
    let path = PathBuf::from("verify.sflow");
    let fs = MemoryFs(
        [(path.clone(), source(fleet, workflow))]
            .into_iter()
            .collect(),
    );
    let mut sources = SourceMap::new();
    let program = match check_file(&mut sources, &path, &fs, &CheckOptions::default())
        .map(|o| (o.program, o.diagnostics))
    {
        Ok((Some(p), _)) => p,
        Ok((None, d)) => panic!("does not check: {d:?}"),
        Err(e) => panic!("{e}"),
    };
    let plan = match sflow::plan::lower(&program, None, &[]) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    let transport: Arc<dyn Transport> = match SshTransport::new(fleet.ssh_options()) {
        Ok(t) => Arc::new(t),
        Err(e) => panic!("{e}"),
    };
    let runner = Arc::new(TransportRunner::new(&plan, transport.clone()));
    (
        RunSpec::from_plan(&plan, RunChoices::default()),
        runner,
        transport,
    )
}

async fn start(n: usize, answer: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Fleet {
    match Fleet::builder().hosts(n).respond(answer).start().await {
        Ok(f) => f,
        Err(e) => panic!("fleet: {e}"),
    }
}

/// Runs `workflow` on the fleet; returns the result and the event kinds.
async fn run(fleet: &Fleet, workflow: &str) -> (RunResult, Vec<EventKind>) {
    let (spec, runner, transport) = compile(fleet, workflow);
    let recorder = Recorder::default();
    let options = RunOptions {
        sinks: vec![Box::new(recorder.clone())],
        ..RunOptions::default()
    };
    let result = execute(spec, runner, options).await;
    transport.close().await;
    let events = recorder
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|e| e.kind.clone())
        .collect();
    (result, events)
}

/// `apply-conf` changes the configuration of `host-001` only; everything else succeeds.
fn conf_answer() -> impl Fn(&Request) -> Reply + Send + Sync + 'static {
    let applied = Mutex::new(HashSet::new());
    move |req| {
        let mut applied = applied.lock().unwrap_or_else(PoisonError::into_inner);
        match req.command.as_str() {
            "apply-conf" => {
                applied.insert(req.host.clone());
                Reply::ok("")
            }
            "cat /etc/app.conf" if req.host == "host-001" && applied.contains(&req.host) => {
                Reply::ok("listen 8080\nworkers 8\n")
            }
            "cat /etc/app.conf" => Reply::ok("listen 8080\nworkers 4\n"),
            _ => Reply::ok(""),
        }
    }
}

/// Two tasks with rollbacks, waves of 2 then 1 host, and a verify block that wants the
/// configuration unchanged.
fn conf_workflow(on_mismatch: &str, max_failures: usize) -> String {
    format!(
        r#"
workflow conf_change {{
  task backup on fleet {{ run = "backup-conf"  rollback = "restore-conf" }}
  task apply on fleet after backup {{ run = "apply-conf"  rollback = "unapply-conf" }}
  rollout {{
    wave first = [host-000, host-001]
    wave rest = [host-002]
    max_failures = {max_failures}
  }}
  verify conf {{
    before = backup
    after = apply
    capture conf = "cat /etc/app.conf"
    expect conf {{ change = "unchanged" }}
    on_mismatch = "{on_mismatch}"
  }}
}}
"#
    )
}

fn commands_on(fleet: &Fleet, i: usize) -> Vec<String> {
    fleet
        .commands_on(i)
        .into_iter()
        .map(|r| r.command)
        .collect()
}

fn verdicts(result: &RunResult) -> Vec<(String, bool)> {
    let mut v: Vec<_> = result
        .verification_results
        .iter()
        .map(|r| (r.host.clone(), r.passed))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_mismatch_fail_fails_the_host_against_the_wave_budget() {
    let fleet = start(3, conf_answer()).await;
    let (result, _) = run(&fleet, &conf_workflow("fail", 0)).await;
    assert_eq!(result.status, RunStatus::Halted, "{result:#?}");
    assert_eq!(result.failed_servers, vec!["host-001"]);
    assert!(
        commands_on(&fleet, 2).is_empty(),
        "the next wave never started"
    );
    assert!(
        !commands_on(&fleet, 1).iter().any(|c| c.contains("unapply")),
        "fail does not roll back"
    );
    // host-000 may have been stopped by the halt before its verdict; host-002 never ran.
    let v = verdicts(&result);
    assert!(v.contains(&("host-001".into(), false)), "{v:?}");
    assert!(!v.iter().any(|(h, _)| h == "host-002"), "{v:?}");
    let report = result.verification.as_ref().map(|r| r.summary.mismatch);
    assert_eq!(report, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_mismatch_fail_within_the_budget_lets_the_rollout_go_on() {
    let fleet = start(3, conf_answer()).await;
    let (result, _) = run(&fleet, &conf_workflow("fail", 1)).await;
    assert_eq!(result.status, RunStatus::Failed, "{result:#?}");
    assert_eq!(result.failed_servers, vec!["host-001"]);
    assert_eq!(result.successful_servers, vec!["host-000", "host-002"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_mismatch_warn_reports_and_the_run_succeeds() {
    let fleet = start(3, conf_answer()).await;
    let (result, _) = run(&fleet, &conf_workflow("warn", 0)).await;
    assert_eq!(result.status, RunStatus::Succeeded, "{result:#?}");
    assert_eq!(result.successful_servers.len(), 3);
    assert_eq!(
        verdicts(&result),
        vec![
            ("host-000".into(), true),
            ("host-001".into(), false),
            ("host-002".into(), true)
        ]
    );
    let Some(report) = &result.verification else {
        panic!("no verification report")
    };
    assert_eq!(report.action("host-001"), HostAction::Warn);
    let outcome = report.blocks[0].host("host-001").map(|h| &h.captures[0]);
    assert_eq!(outcome.map(|c| c.verdict), Some(Verdict::Mismatch));
    let diff = outcome.and_then(|c| c.diff.clone()).unwrap_or_default();
    assert!(diff.contains("-workers 4\n+workers 8\n"), "{diff}");
    let human = report.render_human();
    assert!(human.contains("host-001 [warn]"), "{human}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_mismatch_rollback_runs_the_hosts_rollbacks_newest_first() {
    let fleet = start(3, conf_answer()).await;
    let (result, _) = run(&fleet, &conf_workflow("rollback", 1)).await;
    assert_eq!(result.rolled_back_servers, vec!["host-001"], "{result:#?}");
    let on_1 = commands_on(&fleet, 1);
    let tail: Vec<&str> = on_1
        .iter()
        .rev()
        .take(2)
        .rev()
        .map(String::as_str)
        .collect();
    assert_eq!(tail, vec!["unapply-conf", "restore-conf"], "{on_1:?}");
    assert_eq!(
        result.hosts["host-001"].rollbacks,
        vec![("apply".to_string(), true), ("backup".to_string(), true)]
    );
    for i in [0, 2] {
        assert!(
            !commands_on(&fleet, i).iter().any(|c| c.contains("restore")),
            "host {i} was not rolled back"
        );
    }
    assert_eq!(result.successful_servers, vec!["host-000", "host-002"]);
}

/// `host-002` has another configuration from the start: no host changes, but it drifts.
fn drift_answer(req: &Request) -> Reply {
    match (req.command.as_str(), req.host.as_str()) {
        ("cat /etc/app.conf", "host-002") => Reply::ok("listen 9090\nworkers 4\n"),
        ("cat /etc/app.conf", _) => Reply::ok("listen 8080\nworkers 4\n"),
        ("apply-conf", _) => Reply::ok(""),
        _ => Reply::fail(127, "unexpected command"),
    }
}

const DRIFT_WORKFLOW: &str = r#"
workflow conf_drift {
  task apply on fleet { run = "apply-conf"  rollback = "unapply-conf" }
  verify conf {
    before = apply
    after = apply
    capture conf = "cat /etc/app.conf"
    expect conf { change = "unchanged" }
    across = fleet
  }
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_across_hosts_is_in_the_run_result_and_the_events() {
    let fleet = start(3, drift_answer).await;
    let (result, events) = run(&fleet, DRIFT_WORKFLOW).await;
    let Some(report) = &result.verification else {
        panic!("no verification report: {result:#?}")
    };
    let drift = &report.blocks[0].drift[0];
    assert_eq!(
        drift.baseline.as_ref().map(|b| b.hosts.clone()),
        Some(vec!["host-000".to_string(), "host-001".to_string()])
    );
    assert_eq!(drift.drifted_hosts().collect::<Vec<_>>(), vec!["host-002"]);
    let diff = drift.outliers[0].diff.clone().unwrap_or_default();
    assert!(diff.contains("-listen 8080\n+listen 9090\n"), "{diff}");
    assert_eq!(report.summary.drifted, 1);
    // The drifted host gets a failed verdict; the report is the run's last word on it.
    assert!(result
        .verification_results
        .iter()
        .any(|v| v.host == "host-002" && !v.passed && v.detail == "drift on conf"));
    let last_two: Vec<_> = events.iter().rev().take(2).collect();
    assert!(matches!(last_two[0], EventKind::RunFinished { .. }));
    assert!(matches!(last_two[1], EventKind::VerificationReport { .. }));
    // The event round-trips through JSON, as the journal stores it (the working value drift
    // compares is not part of it).
    let json = serde_json::to_string(last_two[1]).unwrap_or_default();
    let back: Option<EventKind> = serde_json::from_str(&json).ok();
    let again = back.and_then(|k| serde_json::to_string(&k).ok());
    assert_eq!(again.as_deref(), Some(json.as_str()));
    assert!(json.contains("\"kind\":\"verification_report\""), "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_sends_only_the_after_captures_and_reports_drift() {
    let fleet = start(3, drift_answer).await;
    let (spec, runner, transport) = compile(&fleet, DRIFT_WORKFLOW);
    let result = audit(&spec, runner).await;
    transport.close().await;
    let sent: Vec<String> = fleet
        .commands()
        .into_iter()
        .map(|r| r.request.command)
        .collect();
    assert_eq!(
        sent,
        vec!["cat /etc/app.conf"; 3],
        "nothing but one capture per host"
    );
    assert_eq!(audit_exit_code(&result), DRIFT);
    let report = result.verification.unwrap_or_default();
    assert_eq!(report.summary.drifted, 1);
    assert_eq!(report.summary.not_compared, 3, "an audit has no before");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_of_an_agreeing_fleet_exits_zero() {
    let fleet = start(2, drift_answer).await;
    let (spec, runner, transport) = compile(&fleet, DRIFT_WORKFLOW);
    let result = audit(&spec, runner).await;
    transport.close().await;
    assert_eq!(audit_exit_code(&result), 0, "{result:#?}");
}

/// The seed's `package_versions` block: `dpkg -l` before and after `apt-get -y upgrade`;
/// `host-002`'s upgrade leaves openssl where it was.
fn dpkg_answer() -> impl Fn(&Request) -> Reply + Send + Sync + 'static {
    let upgraded = Mutex::new(HashSet::new());
    move |req| {
        let mut upgraded = upgraded.lock().unwrap_or_else(PoisonError::into_inner);
        let c = &req.command;
        if c.contains("dpkg -l") {
            let openssl = if upgraded.contains(&req.host) && req.host != "host-002" {
                "3.0.15-1~deb12u1"
            } else {
                "3.0.11-1~deb12u1"
            };
            Reply::ok(format!(
                "ii  bash           5.2.15-2+b7       amd64  GNU Bourne Again SHell\n\
                 ii  linux-image-amd64 6.1.119-1     amd64  Linux for 64-bit PCs\n\
                 ii  openssl        {openssl}  amd64  Secure Sockets Layer toolkit\n"
            ))
        } else if c.contains("apt-get -y upgrade") {
            upgraded.insert(req.host.clone());
            Reply::ok("1 upgraded, 0 newly installed\n")
        } else {
            Reply::ok("")
        }
    }
}

const PACKAGES_WORKFLOW: &str = r#"
workflow os_patching {
  task backup on fleet { run = "tar -czf /backup/etc.tar.gz /etc" }
  task upgrade_packages on fleet after backup { run = "apt-get -y upgrade"  sudo = true }
  rollout { max_failures = 1 }
  verify package_versions {
    before = backup
    after = upgrade_packages
    capture package_versions = "dpkg -l | grep -E 'openssl|bash|kernel'"
    expect package_versions {
      match = r"ii\s+openssl\s+(\S+)"
      change = "version_increase"
    }
  }
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn package_versions_must_increase_by_debian_ordering() {
    let fleet = start(3, dpkg_answer()).await;
    let (result, _) = run(&fleet, PACKAGES_WORKFLOW).await;
    assert_eq!(result.failed_servers, vec!["host-002"], "{result:#?}");
    assert_eq!(result.successful_servers, vec!["host-000", "host-001"]);
    let Some(report) = &result.verification else {
        panic!("no verification report")
    };
    let outcome = |host: &str| {
        report.blocks[0]
            .host(host)
            .map(|h| h.captures[0].clone())
            .unwrap_or_else(|| panic!("no report for {host}"))
    };
    let good = outcome("host-000");
    assert_eq!(good.verdict, Verdict::AsExpected);
    assert_eq!(
        good.scheme,
        Some(VersionScheme::Deb),
        "chosen by the os fact"
    );
    assert_eq!(good.pairs.len(), 1);
    assert_eq!(good.pairs[0].before.as_deref(), Some("3.0.11-1~deb12u1"));
    assert_eq!(good.pairs[0].after.as_deref(), Some("3.0.15-1~deb12u1"));
    let diff = good.diff.unwrap_or_default();
    assert!(
        diff.contains("+ii  openssl        3.0.15-1~deb12u1"),
        "{diff}"
    );
    let bad = outcome("host-002");
    assert_eq!(bad.verdict, Verdict::Mismatch);
    assert!(
        bad.reasons[0].contains("still `3.0.11-1~deb12u1`"),
        "{:?}",
        bad.reasons
    );
    assert_eq!(report.summary.as_expected, 2);
    assert_eq!(report.summary.mismatch, 1);
    let md = report.render_markdown();
    assert!(md.contains("### host-002 (fail)"), "{md}");
}
