//! Durable runs end to end: the engine journaled into the store and audit log, secrets kept out
//! of every file and event, a run deferred by its window resumed in the next one (virtual
//! time), crash recovery through the binary over SSH (`crash`), and the operator's commands
//! (`cli`).

#[path = "durable/bin.rs"]
mod bin;
#[path = "durable/cli.rs"]
mod cli;
#[path = "durable/crash.rs"]
mod crash;

use sflow::audit;
use sflow::engine::runner::{CommandOutput, CommandRequest, RunFuture, Runner};
use sflow::engine::spec::WindowCheck;
use sflow::engine::{
    execute, EventKind, EventSink, HostSpec, Recorder, RunOptions, RunSpec, RunStatus, TaskSpec,
    VirtualClock, WaveSpec,
};
use sflow::journal::{self, SessionConfig};
use sflow::resume::{self, UnknownPolicy};
use sflow::secret::{Redactor, Secret};
use sflow::store::{self, NewRun, RunStore as _, SqliteStore, StoreOptions};
use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CANARY: &str = "canary-e2e-3b8f0d";

/// A fleet where every command appends its task name to a per-host marker file, then prints
/// a line holding the run's secret (which must be masked before it is stored anywhere).
struct MarkerRunner {
    dir: PathBuf,
    delay: Duration,
}

impl Runner for MarkerRunner {
    fn run(&self, req: CommandRequest) -> RunFuture {
        let path = self.dir.join(&req.host);
        let delay = self.delay;
        Box::pin(async move {
            let line = format!("{}\n", req.task);
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut f| f.write_all(line.as_bytes()));
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok(CommandOutput {
                exit: Some(if written.is_ok() { 0 } else { 1 }),
                stdout: format!("{} done; token={CANARY}\n", req.task),
                stderr: String::new(),
            })
        })
    }
}

/// `hosts` hosts × `tasks` chained tasks in one wave, at most `limit` hosts at once.
fn fleet_spec(hosts: usize, tasks: usize, limit: usize) -> RunSpec {
    let all: Vec<usize> = (0..hosts).collect();
    let tasks = (0..tasks)
        .map(|k| {
            let mut t = TaskSpec::new(format!("t{k}"), all.clone(), format!("step {k}"));
            if k > 0 {
                t.after = vec![k - 1];
            }
            if k == 0 {
                t.capture = Some("first".into());
            }
            t
        })
        .collect();
    let hosts = (0..hosts)
        .map(|i| HostSpec::named(format!("h{i:02}")))
        .collect();
    let mut spec = one_wave("crash", hosts, tasks);
    spec.limits.max_servers = Some(limit);
    spec.secrets = BTreeMap::from([("token".to_owned(), CANARY.to_owned())]);
    spec
}

/// A run of `tasks` on `hosts`, all in one wave.
fn one_wave(workflow: &str, hosts: Vec<HostSpec>, tasks: Vec<TaskSpec>) -> RunSpec {
    let all = (0..hosts.len()).collect();
    RunSpec {
        workflow: workflow.into(),
        hosts,
        tasks,
        waves: vec![WaveSpec {
            name: "all".into(),
            hosts: all,
        }],
        ..RunSpec::default()
    }
}

fn config(dir: &Path) -> SessionConfig {
    SessionConfig {
        state: dir.join(".sflow/state.db"),
        audit: Some(dir.join(".sflow/audit.jsonl")),
        redactor: Redactor::new([&Secret::new("token", CANARY)]),
        operator: "tester@ctl".into(),
    }
}

fn new_run() -> NewRun {
    NewRun {
        workflow: "crash".into(),
        workflow_path: "crash.sflow".into(),
        plan_json: "{}".into(),
        plan_hash: "0".repeat(64),
        params: BTreeMap::new(),
        operator: "tester@ctl".into(),
        change_ticket: Some("CHG-1".into()),
        started_at: chrono::Utc::now(),
        controller_pid: std::process::id(),
        controller_host: store::host_name(),
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_run_is_journaled_audited_and_free_of_secrets() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let marks = dir.path().join("hosts");
    std::fs::create_dir_all(&marks).unwrap_or_else(|e| panic!("{e}"));
    let spec = fleet_spec(12, 3, 4);
    let cfg = config(dir.path());
    let runner: Arc<dyn Runner> = Arc::new(MarkerRunner {
        dir: marks.clone(),
        delay: Duration::ZERO,
    });
    let session = journal::start(&cfg, &new_run(), &spec, runner).unwrap_or_else(|e| panic!("{e}"));
    let recorder = Recorder::default();
    let sinks: Vec<Box<dyn EventSink>> = vec![Box::new(session.sink), Box::new(recorder.clone())];
    let options = RunOptions {
        sinks,
        ..RunOptions::default()
    };
    let result = execute(spec, session.runner, options).await;
    assert_eq!(result.status, RunStatus::Succeeded);
    assert_eq!(session.status.failure(), None);

    let s =
        SqliteStore::open(&cfg.state, &StoreOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let detail = s.show(&session.run).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(detail.summary.status, store::RunStatus::Succeeded);
    assert_eq!(detail.hosts.len(), 12);
    assert!(detail
        .hosts
        .iter()
        .all(|h| h.state == "ok" && h.tasks.len() == 3));
    let first = detail.hosts[0].tasks[0].captures.get("first").cloned();
    assert_eq!(first.as_deref(), Some("t0 done; token=***"));
    let states = s
        .task_states(&session.run)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(states.len(), 36);
    assert!(states.iter().all(|t| t.is_done() && t.attempts == 1));

    let report = audit::verify(cfg.audit.as_deref().unwrap_or(Path::new("")))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_ok(), "{report:?}");
    let text =
        std::fs::read_to_string(cfg.audit.as_deref().unwrap_or(Path::new(""))).unwrap_or_default();
    let count = |kind: &str| text.matches(&format!("\"kind\":\"{kind}\"")).count();
    assert_eq!((count("command_start"), count("command_end")), (36, 36));
    assert_eq!(count("gate"), 1, "the wave's gate decision");
    assert_eq!(report.records, 73);

    let needle = CANARY.as_bytes();
    for f in files_under(&dir.path().join(".sflow")) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "canary in {}",
            f.display()
        );
    }
    for e in recorder.events() {
        assert!(!e.to_json_line().contains(CANARY), "canary in an event");
    }
}

/// Open the first ten minutes of every hour (UTC).
struct FirstTenMinutes;

impl WindowCheck for FirstTenMinutes {
    fn remaining(&self, at: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
        let into = at.timestamp().rem_euclid(3600);
        (into < 600).then(|| Duration::from_secs(u64::try_from(600 - into).unwrap_or(0)))
    }

    fn next_open(
        &self,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        if self.remaining(at).is_some() {
            return Some(at);
        }
        let into = at.timestamp().rem_euclid(3600);
        chrono::DateTime::from_timestamp(at.timestamp() - into + 3600, 0)
    }
}

/// Hosts whose every command takes four minutes (of tokio's paused time), recorded.
#[derive(Clone, Default)]
struct SlowHosts {
    sent: Arc<Mutex<Vec<(String, String, String)>>>,
}

impl Runner for SlowHosts {
    fn run(&self, req: CommandRequest) -> RunFuture {
        if let Ok(mut sent) = self.sent.lock() {
            sent.push((req.host.clone(), req.task.clone(), req.command.clone()));
        }
        Box::pin(async move {
            tokio::time::sleep(Duration::from_secs(240)).await;
            Ok(CommandOutput {
                exit: Some(0),
                stdout: format!("{} out\n", req.task),
                stderr: String::new(),
            })
        })
    }
}

/// Three hosts in the window above, three chained four-minute tasks: `t2` uses `t0`'s capture
/// and runs only when `t1` succeeded.
fn windowed_spec() -> RunSpec {
    let all = vec![0, 1, 2];
    let window: Arc<dyn WindowCheck> = Arc::new(FirstTenMinutes);
    let mut tasks = Vec::new();
    for k in 0..3 {
        let run = if k == 2 { "use ${ver}" } else { "step" };
        let mut t = TaskSpec::new(format!("t{k}"), all.clone(), run);
        t.estimate = Duration::from_secs(240);
        if k > 0 {
            t.after = vec![k - 1];
        }
        tasks.push(t);
    }
    tasks[0].capture = Some("ver".into());
    tasks[2].when = Some(Arc::new(|f: &sflow::engine::spec::HostFacts<'_>| {
        Ok(f.value("t1.ok").as_deref() == Some("true"))
    }));
    let hosts = (0..3)
        .map(|i| HostSpec {
            windows: vec![window.clone()],
            ..HostSpec::named(format!("w{i}"))
        })
        .collect();
    one_wave("windowed", hosts, tasks)
}

#[tokio::test(start_paused = true)]
async fn a_run_deferred_by_its_window_resumes_in_the_next_one_without_repeating_work() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cfg = config(dir.path());
    let hosts = SlowHosts::default();
    let two_am = chrono::DateTime::from_timestamp(1_796_608_800, 0).unwrap_or_default();
    let session = journal::start(&cfg, &new_run(), &windowed_spec(), Arc::new(hosts.clone()))
        .unwrap_or_else(|e| panic!("{e}"));
    // The runner is used bare and the sink without its launch gate: waiting on the journal
    // thread would let paused time jump ahead.
    let options = RunOptions {
        clock: Arc::new(VirtualClock::starting_at(two_am)),
        sinks: vec![Box::new(session.sink.without_launch_gate())],
        ..RunOptions::default()
    };
    let first = execute(windowed_spec(), Arc::new(hosts.clone()), options).await;
    assert_eq!(first.status, RunStatus::Deferred);
    let sent_first = hosts.sent.lock().map(|s| s.len()).unwrap_or(0);
    assert_eq!(
        sent_first, 6,
        "t0 and t1 fit the window on each host, t2 does not"
    );

    let st =
        SqliteStore::open(&cfg.state, &StoreOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let run = session.run.clone();
    assert_eq!(
        st.show(&run).map(|d| d.summary.status).ok(),
        Some(store::RunStatus::Deferred)
    );
    let state = resume::prepare(&st, &run, UnknownPolicy::Ask).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(state.done.len(), 6);
    let session = journal::resume(
        &cfg,
        &state,
        UnknownPolicy::Ask,
        None,
        &windowed_spec(),
        Arc::new(hosts.clone()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let recorder = Recorder::default();
    let three_am = two_am + chrono::Duration::hours(1);
    let options = RunOptions {
        clock: Arc::new(VirtualClock::starting_at(three_am)),
        sinks: vec![
            Box::new(session.sink.without_launch_gate()),
            Box::new(recorder.clone()),
        ],
        done: session.done,
        ..RunOptions::default()
    };
    let second = execute(windowed_spec(), Arc::new(hosts.clone()), options).await;
    assert_eq!(second.status, RunStatus::Succeeded);

    let sent = hosts.sent.lock().map(|s| s.clone()).unwrap_or_default();
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for (h, t, _) in &sent {
        *seen.entry((h.clone(), t.clone())).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 9);
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
    // t2 saw t0's capture and t1's success from the first session.
    let t2: Vec<_> = sent.iter().filter(|(_, t, _)| t == "t2").collect();
    assert_eq!(t2.len(), 3);
    assert!(t2.iter().all(|(_, _, c)| c.contains("t0 out")), "{t2:?}");
    let started_again = recorder
        .events()
        .into_iter()
        .any(|e| matches!(&e.kind, EventKind::TaskStarted { task, .. } if task != "t2"));
    assert!(!started_again, "nothing finished was started again");

    let states = st.task_states(&run).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(states.len(), 9);
    assert!(
        states.iter().all(|t| t.is_done() && t.attempts == 1),
        "{states:?}"
    );
    assert_eq!(
        st.show(&run).map(|d| d.summary.status).ok(),
        Some(store::RunStatus::Succeeded)
    );
    let report = audit::verify(cfg.audit.as_deref().unwrap_or(Path::new("")))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_ok(), "{report:?}");
}

#[tokio::test(start_paused = true)]
async fn the_done_set_settles_tasks_with_their_earlier_outcome_without_sending_them() {
    use sflow::engine::spec::{HostFacts, TaskOutcome};
    use sflow::engine::TaskState;
    let mut tasks = vec![
        TaskSpec::new("t0", vec![0], "first"),
        TaskSpec::new("t1", vec![0], "second"),
        TaskSpec::new("t2", vec![0], "third ${t1.stdout}"),
    ];
    tasks[1].after = vec![0];
    tasks[1].allow_failure = true;
    tasks[2].after = vec![1];
    tasks[2].when = Some(Arc::new(|f: &HostFacts<'_>| {
        Ok(f.value("t0.skipped").as_deref() == Some("true")
            && f.value("t1.failed").as_deref() == Some("true"))
    }));
    let spec = one_wave("settle", vec![HostSpec::named("h0")], tasks);
    let outcome = |state, exit: i32, stdout: &str| TaskOutcome {
        state: Some(state),
        exit: Some(exit),
        stdout: stdout.into(),
        stderr: String::new(),
    };
    let key = |h: &str, t: &str| (h.to_owned(), t.to_owned());
    let done = HashMap::from([
        (key("h0", "t0"), outcome(TaskState::Skipped, 0, "")),
        (
            key("h0", "t1"),
            outcome(TaskState::FailedAllowed, 3, "partial"),
        ),
        // Names the spec does not know are ignored.
        (key("ghost", "t0"), outcome(TaskState::Ok, 0, "")),
    ]);
    let hosts = SlowHosts::default();
    let recorder = Recorder::default();
    let options = RunOptions {
        sinks: vec![Box::new(recorder.clone())],
        done,
        ..RunOptions::default()
    };
    let result = execute(spec, Arc::new(hosts.clone()), options).await;
    assert_eq!(result.status, RunStatus::Succeeded);
    let sent = hosts.sent.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].1, "t2");
    assert!(sent[0].2.contains("partial"), "{sent:?}");
    let settled: Vec<(String, TaskState, u32)> = recorder
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::TaskFinished {
                task,
                state,
                attempts,
                ..
            } => Some((task, state, attempts)),
            _ => None,
        })
        .collect();
    assert_eq!(
        settled,
        vec![
            ("t0".to_owned(), TaskState::Skipped, 0),
            ("t1".to_owned(), TaskState::FailedAllowed, 0),
            ("t2".to_owned(), TaskState::Ok, 1),
        ]
    );
}
